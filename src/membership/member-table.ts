/**
 * The membership table of gossip-style failure detection (van Renesse, Minsky, Hayden, "A
 * Gossip-Style Failure Detection Service", 1998). Each node increments its own heartbeat and
 * gossips its table; a receiver keeps, per member, the entry with the higher (generation,
 * heartbeat) and notes when it last saw that member's heartbeat advance. A member not heard from
 * for `suspectAfterMs` is suspect, for `downAfterMs` down: each node judges locally, so there is
 * no single point of failure. A restarted node comes back with a higher generation.
 *
 * What a member says of itself (status up/leaving/left, weight, address, counters) travels with its
 * heartbeat; health (alive/suspect/down) is never gossiped. Pure: time is passed in.
 */

export type MemberStatus = 'up' | 'leaving' | 'left';
export type Health = 'alive' | 'suspect' | 'down' | 'left';

/** What a member says of itself; gossiped as is. */
export interface MemberInfo {
  name: string;
  addr: string;
  /** The data dir's incarnation id (changes when the data dir is wiped). */
  incarnation: string;
  /** Process start time in ms: a restarted process has a higher one. */
  generation: number;
  heartbeat: number;
  weight: number;
  status: MemberStatus;
  /** Keys this node holds, and keys it still has to hand off (informational). */
  keys: number;
  handoffPending: number;
  hintBacklog: number;
  /** Fingerprint of the last ring this node finished handing off for. */
  handoffRing: string | undefined;
}

/** A member as it announces itself on start: up, heartbeat 0, nothing held yet. */
export function newMember(fields: Pick<MemberInfo, 'name' | 'addr' | 'incarnation' | 'generation' | 'weight'>): MemberInfo {
  return { ...fields, heartbeat: 0, status: 'up', keys: 0, handoffPending: 0, hintBacklog: 0, handoffRing: undefined };
}

export interface MemberView extends MemberInfo {
  health: Health;
  /** Ms since this node last saw the member's heartbeat advance (0 for itself). */
  heartbeatAgeMs: number;
}

export interface FailureDetectorSettings {
  suspectAfterMs: number;
  downAfterMs: number;
}

export interface MergeResult {
  /** Members whose entry changed in a way that can move the ring (new, status or weight). */
  ringChanged: boolean;
  /** Members heard from for the first time, or again after being down. */
  recovered: string[];
}

function newer(a: MemberInfo, b: MemberInfo): boolean {
  return a.generation > b.generation || (a.generation === b.generation && a.heartbeat > b.heartbeat);
}

export class MemberTable {
  private readonly entries = new Map<string, { info: MemberInfo; heardAt: number }>();

  constructor(
    private self: MemberInfo,
    private readonly settings: FailureDetectorSettings,
    now: number,
  ) {
    this.entries.set(self.name, { info: self, heardAt: now });
  }

  get selfName(): string {
    return this.self.name;
  }

  get me(): MemberInfo {
    return this.self;
  }

  /** Starts a new gossip round: bumps our heartbeat, applying any change to what we say of ourselves. */
  tick(now: number, update: Partial<Pick<MemberInfo, 'status' | 'keys' | 'handoffPending' | 'hintBacklog' | 'weight' | 'handoffRing'>> = {}): MemberInfo {
    this.self = { ...this.self, ...update, heartbeat: this.self.heartbeat + 1 };
    this.entries.set(this.self.name, { info: this.self, heardAt: now });
    return this.self;
  }

  /** Merges a gossiped table. Entries about ourselves are ignored: only we speak for us. */
  merge(remote: readonly MemberInfo[], now: number): MergeResult {
    const result: MergeResult = { ringChanged: false, recovered: [] };
    for (const info of remote) {
      if (info.name === this.self.name) continue;
      const local = this.entries.get(info.name);
      if (local && !newer(info, local.info)) continue;
      if (!local) {
        result.ringChanged = true;
        result.recovered.push(info.name);
      } else {
        if (local.info.status !== info.status || local.info.weight !== info.weight || local.info.addr !== info.addr) result.ringChanged = true;
        if (this.healthOf(local, now) === 'down') result.recovered.push(info.name);
      }
      this.entries.set(info.name, { info, heardAt: now });
    }
    return result;
  }

  /**
   * Brings back the members a restarted node knew (persisted), as not heard from: down until their
   * gossip arrives. Without them a restarted node would see a ring of itself alone until gossip
   * reached it, and cap every quorum at one copy.
   */
  restore(known: readonly MemberInfo[], now: number): void {
    for (const info of known) {
      if (info.name === this.self.name || this.entries.has(info.name)) continue;
      this.entries.set(info.name, { info, heardAt: now - this.settings.downAfterMs });
    }
  }

  private healthOf(entry: { info: MemberInfo; heardAt: number }, now: number): Health {
    if (entry.info.status === 'left') return 'left';
    if (entry.info.name === this.self.name) return 'alive';
    const age = now - entry.heardAt;
    if (age >= this.settings.downAfterMs) return 'down';
    if (age >= this.settings.suspectAfterMs) return 'suspect';
    return 'alive';
  }

  health(name: string, now: number): Health | undefined {
    const entry = this.entries.get(name);
    return entry ? this.healthOf(entry, now) : undefined;
  }

  /** True when the member is believed reachable (alive or merely suspect). */
  isUp(name: string, now: number): boolean {
    const h = this.health(name, now);
    return h === 'alive' || h === 'suspect';
  }

  get(name: string): MemberInfo | undefined {
    return this.entries.get(name)?.info;
  }

  /** Every entry as gossiped. */
  infos(): MemberInfo[] {
    return [...this.entries.values()].map((e) => e.info);
  }

  /** The table as this node sees it, sorted by name. */
  view(now: number): MemberView[] {
    return [...this.entries.values()]
      .map((e) => ({ ...e.info, health: this.healthOf(e, now), heartbeatAgeMs: e.info.name === this.self.name ? 0 : now - e.heardAt }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Members that place tokens on the ring: status up, whatever their health (Dynamo §4.8: failure is not departure). */
  ringMembers(): { name: string; weight: number }[] {
    return this.infos()
      .filter((m) => m.status === 'up')
      .map((m) => ({ name: m.name, weight: m.weight }));
  }

  /** Peers worth gossiping to: everyone but us and those who left. */
  gossipTargets(): MemberInfo[] {
    return this.infos().filter((m) => m.name !== this.self.name && m.status !== 'left');
  }
}
