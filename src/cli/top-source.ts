/**
 * Where `kvctl top` gets its samples: the member list from one node (moving to another member when
 * it goes away, as every watch does: watch-source.ts), then every member's own `stats`, all at
 * once, over kept connections. A node that does not answer is stale: its row keeps its last
 * gauges, says since when and why (watch-status.ts), and shows no rates until it answers again.
 * Nothing is cached across a failure as if it were current.
 */
import { toKvError } from '../errors.js';
import { type TopGauges, type TopRates, type TopReading, topGauges, topRates } from '../metrics/top-sample.js';
import type { ClientOptions } from '../net/line-connection.js';
import type { MembersSnapshot } from '../views/tables.js';
import { answers, memberState } from '../views/tables.js';
import { initialStatus, type PollError, pollFailed, pollStarted, pollSucceeded, type WatchStatus } from '../views/watch-status.js';
import { WatchSource } from './watch-source.js';

export interface TopNode {
  name: string;
  addr: string;
  /** As the member list says (up, suspect, down, leaving...), or degraded by the node's own word. */
  state: string;
  /** Its latest poll failed: the gauges are its last ones, and there are no rates. */
  stale: boolean;
  status: WatchStatus;
  gauges?: TopGauges;
  /** Over the interval before the latest poll; absent on the first poll and while stale. */
  rates?: TopRates;
}

export interface TopSample {
  at: number;
  /** Where the member list came from, and whether it is current. */
  members: WatchStatus;
  nodes: TopNode[];
}

interface NodeTrack {
  addr: string;
  source: WatchSource<Record<string, unknown>>;
  status: WatchStatus;
  last?: TopReading;
  gauges?: TopGauges;
}

export class TopSource {
  private readonly membersSource: WatchSource<MembersSnapshot>;
  private membersStatus: WatchStatus;
  private members: MembersSnapshot['members'] = [];
  private readonly tracks = new Map<string, NodeTrack>();

  constructor(
    addr: string,
    private readonly access: ClientOptions,
    private readonly intervalMs: number,
  ) {
    this.membersSource = new WatchSource<MembersSnapshot>({
      addr,
      access,
      body: { op: 'members' },
      nodes: (s) => s.members.map((m) => ({ name: m.name, addr: m.addr, up: answers(m) })),
      self: (s) => s.self,
    });
    this.membersStatus = initialStatus(addr, intervalMs);
  }

  /** The member list, then every member's stats (left and removed members are not asked). */
  async poll(): Promise<TopSample> {
    const started = Date.now();
    this.membersStatus = pollStarted(this.membersStatus, started);
    const listed = await this.membersSource.poll();
    if (listed.ok) {
      const movedFrom = listed.movedFrom && { addr: listed.movedFrom.addr, at: listed.movedFrom.at, error: pollError(listed.movedFrom.error) };
      this.membersStatus = pollSucceeded(this.membersStatus, { at: listed.at, addr: listed.addr, node: listed.node, movedFrom });
      this.members = listed.snapshot.members;
    } else {
      this.membersStatus = pollFailed(this.membersStatus, { at: listed.at, addr: listed.addr, error: pollError(listed.error), tried: listed.tried });
    }
    const shown = this.members.filter((m) => m.status !== 'left' && m.status !== 'removed');
    for (const [name, track] of this.tracks) {
      if (!shown.some((m) => m.name === name && m.addr === track.addr)) {
        track.source.close();
        this.tracks.delete(name);
      }
    }
    const nodes = await Promise.all(shown.map((m) => this.pollNode(m)));
    nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { at: Date.now(), members: this.membersStatus, nodes };
  }

  close(): void {
    this.membersSource.close();
    for (const track of this.tracks.values()) track.source.close();
    this.tracks.clear();
  }

  private async pollNode(m: MembersSnapshot['members'][number]): Promise<TopNode> {
    let track = this.tracks.get(m.name);
    if (!track) {
      // Each node's own stats: no moving to another node (nodes: none), a dead node is shown dead.
      const source = new WatchSource<Record<string, unknown>>({ addr: m.addr, access: this.access, body: { op: 'stats' }, nodes: () => [] });
      track = { addr: m.addr, source, status: initialStatus(m.addr, this.intervalMs) };
      this.tracks.set(m.name, track);
    }
    track.status = pollStarted(track.status, Date.now());
    const result = await track.source.poll();
    let rates: TopRates | undefined;
    if (result.ok) {
      const reading = { at: result.at, stats: result.snapshot };
      // Rates only between two answers in a row: after a failure the interval would hide the gap.
      if (track.last && track.status.failing === undefined) rates = topRates(track.last, reading);
      track.status = pollSucceeded(track.status, { at: result.at, addr: result.addr, node: m.name });
      track.last = reading;
      track.gauges = topGauges(result.snapshot);
    } else {
      track.status = pollFailed(track.status, { at: result.at, addr: result.addr, error: pollError(toKvError(result.error)), tried: [] });
    }
    const stale = !result.ok;
    const listedState = memberState(m);
    const state = !stale && listedState === 'up' && track.gauges?.health === 'degraded' ? 'degraded' : listedState;
    return {
      name: m.name,
      addr: m.addr,
      state,
      stale,
      status: track.status,
      ...(track.gauges ? { gauges: track.gauges } : {}),
      ...(rates ? { rates } : {}),
    };
  }
}

function pollError(err: { code: string; message: string }): PollError {
  return { code: err.code, message: err.message };
}
