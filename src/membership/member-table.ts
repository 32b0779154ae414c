/**
 * The membership table of gossip-style failure detection (van Renesse, Minsky, Hayden, "A
 * Gossip-Style Failure Detection Service", 1998). Each node increments its own heartbeat and
 * gossips its table; a receiver keeps, per member, the entry with the higher (generation,
 * heartbeat) and notes when it last saw that member's heartbeat advance. A member not heard from
 * for `suspectAfterMs` is suspect, for `downAfterMs` down: each node judges locally, so there is
 * no single point of failure. A restarted node comes back with a higher generation.
 *
 * What a member says of itself (status up/leaving/left, weight, address, counters) is stamped with
 * `version`, the heartbeat at which it last changed, so gossip can send a heartbeat alone to a peer
 * that holds the rest (membership/gossip-delta.ts). Health (alive/suspect/down) is never gossiped:
 * each node judges it from the intervals at which it sees a member's heartbeat advance (phi accrual,
 * membership/failure-detector.ts). Pure: time is passed in.
 *
 * One entry is said by others: `removed`, an operator's decision that a dead node is gone for good
 * (like `riak-admin cluster force-remove`). Only we speak for us otherwise, so a removal could never
 * win on (generation, heartbeat) against the dead node's own entries, old or, after a restart, new.
 * Instead it is final for that incarnation: it beats every entry of the same incarnation, and a
 * node that hears it about itself learns it was removed. A new incarnation (a wiped data dir,
 * joining as a new node) is another life and is compared by (generation, heartbeat) as usual.
 *
 * Gossip is input from peers, so an entry is taken only if a real node could have said it
 * (`implausible`): a generation no further ahead of our clock than hosts' clocks disagree, a
 * heartbeat no higher than one beat per millisecond since that generation, and, within one
 * process life (incarnation and generation), the same address. The table holds at most
 * MAX_TABLE_MEMBERS entries and MAX_RING_WEIGHT of weight up, and forgets members that left
 * LEFT_GRACE_MS after it last heard of them, and never learns one it did not know (a removal is
 * kept and learned: it must go on beating that incarnation's own entries).
 *
 * A plausible entry about us, of our own life and newer than ours, would win everywhere over what
 * we say (a peer that lies, or our previous life on a clock that went back), and keep us down on
 * every other node. We refute it as a SWIM member refutes a suspicion with a higher incarnation
 * number: we go on under a generation above it.
 */

import { ArrivalWindow, expectedInterval, judge, maxInterval, type PhiSettings } from './failure-detector.js';
import { answerDigests, digestOf, type GossipDelta, type HeartbeatDelta, type MemberDigest } from './gossip-delta.js';

/** How far a host's clock may run ahead of ours: generations further in the future are refused. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;
/** Entries a table holds at most; new names beyond it are refused. */
export const MAX_TABLE_MEMBERS = 2048;
/**
 * Weight the members that are up hold together at most (as many units as the table holds members):
 * an entry that would raise it further is refused. The ring has vnodesPerWeight tokens per unit,
 * and every node builds it again on each change: a full table of weight-64 members would have
 * taken minutes of a blocked event loop to build.
 */
export const MAX_RING_WEIGHT = MAX_TABLE_MEMBERS;
/** How long a member that left stays in the table after we last heard of it. */
export const LEFT_GRACE_MS = 60 * 60 * 1000;
/** How often merges look for members to forget. */
const FORGET_CHECK_MS = 1000;

/** Keys held change with every write: republished when they change by this fraction, cross zero, or ... */
export const KEYS_CHANGE_RATIO = 0.1;
/** ... once this long has passed since they were last republished (they are informational). */
export const KEYS_REFRESH_MS = 30_000;

export type MemberStatus = 'up' | 'leaving' | 'left' | 'removed';
export type Health = 'alive' | 'suspect' | 'down' | 'left' | 'removed';

/** What a member says of itself; gossiped as is. */
export interface MemberInfo {
  name: string;
  addr: string;
  /** The data dir's incarnation id (changes when the data dir is wiped). */
  incarnation: string;
  /** Process start time in ms: a restarted process has a higher one. */
  generation: number;
  heartbeat: number;
  /** The heartbeat at which the fields below (status to degraded, and addr) last changed; absent: 0. */
  version?: number;
  weight: number;
  status: MemberStatus;
  /** Keys this node holds, and keys it still has to hand off (informational). */
  keys: number;
  handoffPending: number;
  hintBacklog: number;
  /** Fingerprint of the last ring this node finished handing off for. */
  handoffRing: string | undefined;
  /**
   * Set while the member's storage fails (a full disk, an I/O error): why, in a few words. It still
   * answers reads; writes to it fail until it recovers on its own.
   */
  degraded?: string;
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
  /**
   * The gossip interval. Given, the times above hold at that pace of news and stretch with the
   * intervals observed per member (phi accrual); absent, they are fixed timeouts.
   */
  intervalMs?: number;
}

export interface MergeResult {
  /** Members whose entry changed in a way that can move the ring (new, status or weight). */
  ringChanged: boolean;
  /** Entries refused as implausible, or over the table's size. */
  refused: number;
  /** Members heard from for the first time, or again after being down. */
  recovered: string[];
  /** Members with news from themselves in this merge (a newer entry that is not a removal): alive lately. */
  heard: string[];
  /** Set when a peer's table says we (this incarnation) were removed from the cluster. */
  removedSelf?: true;
  /** Members whose heartbeat delta we could not apply (we lack their fields as of its version); absent when none. */
  missing?: string[];
}

/** Fields that change at a member's own slow pace (stamped with `version`), not every round. */
const SLOW_FIELDS = ['addr', 'weight', 'status', 'keys', 'handoffPending', 'hintBacklog', 'handoffRing', 'degraded'] as const;

/** Whether a node republishes the number of keys it holds (see KEYS_CHANGE_RATIO, KEYS_REFRESH_MS). */
export function keysWorthPublishing(published: number, current: number, sinceMs: number): boolean {
  if (current === published) return false;
  if ((published === 0) !== (current === 0)) return true;
  if (Math.abs(current - published) >= published * KEYS_CHANGE_RATIO) return true;
  return sinceMs >= KEYS_REFRESH_MS;
}

interface Entry {
  info: MemberInfo;
  /** When its heartbeat last advanced here (or when it was learned). */
  heardAt: number;
  /** Intervals between advances (absent until heard from). */
  window?: ArrivalWindow;
}

/** Statuses that take a member off the ring and out of gossip for good (for its incarnation). */
export function isGone(status: MemberStatus): boolean {
  return status === 'left' || status === 'removed';
}

/** The weight a member places on the ring (none unless it is up). */
function weightUp(m: MemberInfo): number {
  return m.status === 'up' ? m.weight : 0;
}

function newer(a: MemberInfo, b: MemberInfo): boolean {
  return a.generation > b.generation || (a.generation === b.generation && a.heartbeat > b.heartbeat);
}

/**
 * Whether a gossiped entry replaces the one held for the same name. A removal is final for its
 * incarnation: it beats whatever that incarnation says, however new, and nothing of that
 * incarnation undoes it. Otherwise (and between incarnations) the higher (generation, heartbeat) wins.
 */
export function supersedes(incoming: MemberInfo, held: MemberInfo): boolean {
  if (incoming.incarnation === held.incarnation) {
    if (held.status === 'removed') return false;
    if (incoming.status === 'removed') return true;
  }
  return newer(incoming, held);
}

/** Why a gossiped entry could not have come from a real node (see the module header), or undefined. */
export function implausible(info: MemberInfo, held: MemberInfo | undefined, now: number): string | undefined {
  if (info.generation > now + MAX_CLOCK_SKEW_MS) return 'a generation in the future';
  if (info.heartbeat > Math.max(0, now + MAX_CLOCK_SKEW_MS - info.generation)) return 'more heartbeats than milliseconds since its generation';
  if (held && held.incarnation === info.incarnation && held.generation === info.generation && held.addr !== info.addr) return 'a new address without a restart';
  return undefined;
}

export class MemberTable {
  private readonly entries = new Map<string, Entry>();
  /** When forgetLeft last looked (see FORGET_CHECK_MS). */
  private leftCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly phiSettings: PhiSettings;
  /** Keys we hold now, and when we last republished them. */
  private currentKeys: number;
  private keysPublishedAt: number;

  constructor(
    private self: MemberInfo,
    private readonly settings: FailureDetectorSettings,
    now: number,
  ) {
    this.entries.set(self.name, { info: self, heardAt: now });
    this.phiSettings = { intervalMs: settings.intervalMs ?? settings.downAfterMs, suspectAfterMs: settings.suspectAfterMs, downAfterMs: settings.downAfterMs };
    this.currentKeys = self.keys;
    this.keysPublishedAt = now;
  }

  get selfName(): string {
    return this.self.name;
  }

  get me(): MemberInfo {
    return this.self;
  }

  /**
   * Starts a new gossip round: bumps our heartbeat, applying any change to what we say of ourselves
   * (stamped with the new heartbeat as its version). The number of keys is republished only when
   * worth it (keysWorthPublishing). Once removed we stay removed, whatever the update says.
   */
  tick(
    now: number,
    update: Partial<Pick<MemberInfo, 'status' | 'keys' | 'handoffPending' | 'hintBacklog' | 'weight' | 'handoffRing' | 'degraded'>> = {},
  ): MemberInfo {
    const status = this.self.status === 'removed' ? 'removed' : (update.status ?? this.self.status);
    const heartbeat = this.self.heartbeat + 1;
    const next: MemberInfo = { ...this.self, ...update, status, heartbeat };
    if (update.keys !== undefined) {
      this.currentKeys = update.keys;
      if (keysWorthPublishing(this.self.keys, update.keys, now - this.keysPublishedAt)) this.keysPublishedAt = now;
      else next.keys = this.self.keys;
    }
    if (SLOW_FIELDS.some((field) => next[field] !== this.self[field])) next.version = heartbeat;
    this.self = next;
    this.entries.set(this.self.name, { info: this.self, heardAt: now });
    return this.self;
  }

  /**
   * Merges a gossiped table. Entries about ourselves are ignored (only we speak for us), except a
   * removal of this incarnation: we take it on and report `removedSelf`.
   */
  merge(remote: readonly MemberInfo[], now: number): MergeResult {
    const result: MergeResult = { ringChanged: false, recovered: [], heard: [], refused: 0 };
    this.forgetLeft(now);
    // Summed only when an entry would add weight: most merges carry heartbeats alone.
    let upWeight: number | undefined;
    for (const info of remote) {
      if (info.name === this.self.name) {
        if (info.status === 'removed' && info.incarnation === this.self.incarnation && this.self.status !== 'removed') {
          this.self = { ...this.self, status: 'removed', version: this.self.heartbeat };
          this.entries.set(this.self.name, { info: this.self, heardAt: now });
          result.ringChanged = true;
          result.removedSelf = true;
        } else if (this.outdatesSelf(info, now)) {
          const { version: _, ...said } = this.self;
          this.self = { ...said, generation: info.generation + 1, heartbeat: 0 };
          this.entries.set(this.self.name, { info: this.self, heardAt: now });
        }
        continue;
      }
      const local = this.entries.get(info.name);
      if (local && !supersedes(info, local.info)) continue;
      // A member we never knew that has left is nothing to us; learning it would also bring back
      // those we forgot after the grace period, from peers that had not forgotten them yet.
      if (!local && info.status === 'left') continue;
      const addedWeight = weightUp(info) - (local ? weightUp(local.info) : 0);
      if (
        implausible(info, local?.info, now) ||
        (!local && this.entries.size >= MAX_TABLE_MEMBERS) ||
        (addedWeight > 0 && (upWeight ??= this.upWeight()) + addedWeight > MAX_RING_WEIGHT)
      ) {
        result.refused++;
        continue;
      }
      if (upWeight !== undefined) upWeight += addedWeight;
      // A removal is said by others: it is no sign of life from the member.
      const heard = info.status !== 'removed';
      if (heard) result.heard.push(info.name);
      if (!local) {
        result.ringChanged = true;
        if (heard) result.recovered.push(info.name);
      } else {
        if (local.info.status !== info.status || local.info.weight !== info.weight || local.info.addr !== info.addr) result.ringChanged = true;
        if (heard && this.healthOf(local, now) === 'down') result.recovered.push(info.name);
      }
      this.entries.set(info.name, this.advanced(local, info, heard, now));
    }
    return result;
  }

  /** The entry after `info` replaced `local`: an advance heard from the member feeds its arrival window. */
  private advanced(local: Entry | undefined, info: MemberInfo, heard: boolean, now: number): Entry {
    if (!heard) return { info, heardAt: local ? local.heardAt : now, window: local?.window };
    const sameLife = local?.window && local.info.incarnation === info.incarnation && local.info.generation === info.generation;
    const window = sameLife ? local.window : new ArrivalWindow(now);
    if (sameLife) window?.arrive(now, maxInterval(this.phiSettings));
    return { info, heardAt: now, window };
  }

  /**
   * Merges heartbeat deltas: each applies to an entry of the same generation (not gone) whose
   * heartbeat is at least the delta's version (so it holds the member's slow fields as they are);
   * others are reported `missing` (to be asked for whole). Deltas about us are ignored.
   */
  mergeBeats(beats: readonly HeartbeatDelta[], now: number, into?: MergeResult): MergeResult {
    const result: MergeResult = into ?? { ringChanged: false, recovered: [], heard: [], refused: 0 };
    for (const [name, generation, heartbeat, version] of beats) {
      if (name === this.self.name) continue;
      const local = this.entries.get(name);
      if (local && local.info.generation === generation && heartbeat <= local.info.heartbeat) continue;
      if (!local || isGone(local.info.status) || local.info.generation !== generation || version > local.info.heartbeat) {
        if (!local || generation > local.info.generation || !isGone(local.info.status)) (result.missing ??= []).push(name);
        continue;
      }
      const info = { ...local.info, heartbeat };
      if (implausible(info, local.info, now)) {
        result.refused++;
        continue;
      }
      result.heard.push(name);
      if (this.healthOf(local, now) === 'down') result.recovered.push(name);
      this.entries.set(name, this.advanced(local, info, true, now));
    }
    return result;
  }

  /** Merges what one gossip message carried: whole entries, then heartbeat deltas. */
  mergeDelta(delta: GossipDelta, now: number): MergeResult {
    return this.mergeBeats(delta.beats, now, this.merge(delta.members, now));
  }

  /** A digest of every entry we hold (membership/gossip-delta.ts). */
  digests(): MemberDigest[] {
    return this.infos().map(digestOf);
  }

  /** What a peer with these digests lacks or holds older, and the digests of what we need (answerDigests). */
  answer(digests: readonly MemberDigest[], options?: { listedOnly?: boolean }): GossipDelta & { want: MemberDigest[] } {
    return answerDigests(this.infos(), digests, options);
  }

  /** True for a plausible entry of our own life, not a removal, newer than what we say (see the module header). */
  private outdatesSelf(info: MemberInfo, now: number): boolean {
    return (
      info.incarnation === this.self.incarnation &&
      info.status !== 'removed' &&
      this.self.status !== 'removed' &&
      newer(info, this.self) &&
      implausible(info, undefined, now) === undefined
    );
  }

  /** Weight of the members that are up, summed over the table. */
  private upWeight(): number {
    let sum = 0;
    for (const { info } of this.entries.values()) sum += weightUp(info);
    return sum;
  }

  /**
   * Drops members that left and were not heard of for LEFT_GRACE_MS; looks at most once a second
   * (merges come several times a round, and an hour's grace does not need millisecond precision).
   */
  private forgetLeft(now: number): void {
    if (now - this.leftCheckedAt < FORGET_CHECK_MS) return;
    this.leftCheckedAt = now;
    for (const [name, entry] of this.entries) {
      if (entry.info.status === 'left' && name !== this.self.name && now - entry.heardAt >= LEFT_GRACE_MS) this.entries.delete(name);
    }
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

  /**
   * Marks a member removed for good: an operator's decision about a dead node, gossiped like any
   * entry and final for its incarnation. Returns the entry (unchanged if it was removed already),
   * or undefined for a name we do not know. We never remove ourselves.
   */
  remove(name: string): MemberInfo | undefined {
    if (name === this.self.name) throw new RangeError('a node cannot remove itself');
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    if (entry.info.status !== 'removed') {
      // Its (generation, heartbeat) are kept: against a later incarnation the removal must lose.
      this.entries.set(name, { info: { ...entry.info, status: 'removed', handoffPending: 0, hintBacklog: 0 }, heardAt: entry.heardAt });
    }
    return this.entries.get(name)?.info;
  }

  private healthOf(entry: Entry, now: number): Health {
    if (entry.info.status === 'left' || entry.info.status === 'removed') return entry.info.status;
    if (entry.info.name === this.self.name) return 'alive';
    return judge(now - entry.heardAt, this.settings.intervalMs === undefined ? undefined : entry.window, this.phiSettings);
  }

  /** The interval φ is judged against for a member (its observed mean, never below the gossip interval); for reports. */
  expectedIntervalMs(name: string): number | undefined {
    const entry = this.entries.get(name);
    return entry ? expectedInterval(this.settings.intervalMs === undefined ? undefined : entry.window, this.phiSettings) : undefined;
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

  /**
   * True when the member is up and its storage takes writes, as it last said. Dynamo sends a write
   * to the first N healthy nodes: a degraded member refuses writes (KV_STORAGE) until it recovers,
   * so a write plan does better to treat it as down (a sloppy write then leaves a hint with a
   * stand-in, delivered once it is up again); reads still go to it.
   */
  acceptsWrites(name: string, now: number): boolean {
    return this.isUp(name, now) && this.entries.get(name)?.info.degraded === undefined;
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
      .map((e) =>
        e.info.name === this.self.name
          ? { ...e.info, keys: this.currentKeys, health: this.healthOf(e, now), heartbeatAgeMs: 0 }
          : { ...e.info, health: this.healthOf(e, now), heartbeatAgeMs: now - e.heardAt },
      )
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Members that place tokens on the ring: status up, whatever their health (Dynamo §4.8: failure is not departure). */
  ringMembers(): { name: string; weight: number }[] {
    return this.infos()
      .filter((m) => m.status === 'up')
      .map((m) => ({ name: m.name, weight: m.weight }));
  }

  /**
   * Peers worth gossiping to: everyone but us and those who left or were removed (a removed node
   * that is still running hears of it in our answers to its own pushes).
   */
  gossipTargets(): MemberInfo[] {
    return this.infos().filter((m) => m.name !== this.self.name && !isGone(m.status));
  }
}
