/**
 * The membership table. Each node increments its own heartbeat every gossip round; a receiver
 * keeps, per member, the entry with the higher (generation, heartbeat), so a restarted node (a
 * higher generation) replaces its old life. A member's heartbeat orders its entries; it is not how
 * failure is detected: in a large cluster every node cannot hear every heartbeat every second.
 *
 * What a member says of itself (status up/leaving/left, weight, address, counters) is stamped with
 * `version`, the heartbeat at which it last changed, so gossip can send a heartbeat alone to a peer
 * that holds the rest (membership/gossip-delta.ts).
 * Health (alive/suspect/down) comes from probes, SWIM-style (membership/failure-detector.ts): a
 * member is alive until its probes go unanswered here, or the cluster suspects it; it refutes a
 * suspicion of itself with a new `refuted` stamp (SWIM's incarnation number). Pure: time is passed in.
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

import { CONFIRMATIONS, type DetectorSettings, type DetectorState, judge } from './failure-detector.js';
import { answerDigests, digestOf, type GossipDelta, type HeartbeatDelta, type MemberDigest, type MemberSuspicion } from './gossip-delta.js';

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
  /** The heartbeat at which the fields below (status to refuted, and addr) last changed; absent: 0. */
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
  /**
   * The heartbeat at which the member last refuted a suspicion of itself (SWIM's incarnation
   * number); absent: never. A suspicion names the one it knew; a higher one clears it.
   */
  refuted?: number;
}

/** A member as it announces itself on start: up, heartbeat 0, nothing held yet. */
export function newMember(fields: Pick<MemberInfo, 'name' | 'addr' | 'incarnation' | 'generation' | 'weight'>): MemberInfo {
  return { ...fields, heartbeat: 0, status: 'up', keys: 0, handoffPending: 0, hintBacklog: 0, handoffRing: undefined };
}

export interface MemberView extends MemberInfo {
  health: Health;
  /** Ms since this node last heard from or of the member alive: an answer, or a newer entry (0 for itself). */
  heartbeatAgeMs: number;
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
const SLOW_FIELDS = ['addr', 'weight', 'status', 'keys', 'handoffPending', 'hintBacklog', 'handoffRing', 'degraded', 'refuted'] as const;

/**
 * Fields others act on at once: where a member is, whether it is on the ring and with what weight,
 * whether it takes writes, its last refutation. The others travel with the member's entry when it
 * goes anyway (a probe, an answer, a full sync), never as news of their own: counters are only
 * shown, and the ring a member finished handing off for changes on every node at once after each
 * ring change, so as news it would cost every node n entries a change, n times over.
 */
const ACTED_ON_FIELDS = ['addr', 'weight', 'status', 'degraded', 'refuted'] as const;

/** Whether `next` tells the cluster something it acts on, against `held`: a new member or life, or a field others act on. */
export function newsworthy(held: MemberInfo | undefined, next: MemberInfo): boolean {
  if (!held || held.generation !== next.generation || held.incarnation !== next.incarnation) return true;
  return ACTED_ON_FIELDS.some((field) => held[field] !== next[field]);
}

/** Whether a node republishes the number of keys it holds (see KEYS_CHANGE_RATIO, KEYS_REFRESH_MS). */
export function keysWorthPublishing(published: number, current: number, sinceMs: number): boolean {
  if (current === published) return false;
  if ((published === 0) !== (current === 0)) return true;
  if (Math.abs(current - published) >= published * KEYS_CHANGE_RATIO) return true;
  return sinceMs >= KEYS_REFRESH_MS;
}

interface Entry extends DetectorState {
  info: MemberInfo;
  /** When we last heard from or of it alive (or learned it). */
  heardAt: number;
  /** The refutation (MemberInfo.refuted) the cluster's suspicion is about (with `suspectedAt`). */
  suspectedRefuted?: number;
  /** Restored from disk and not heard from since: down until it is. */
  unheard?: true;
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
  /** Members whose probes went unanswered here (see failure-detector.ts): probed again every round. */
  private readonly unansweredNames = new Set<string>();
  /** Keys we hold now, and when we last republished them. */
  private currentKeys: number;
  private keysPublishedAt: number;

  constructor(
    private self: MemberInfo,
    private readonly settings: DetectorSettings,
    now: number,
  ) {
    this.entries.set(self.name, { info: self, heardAt: now });
    this.currentKeys = self.keys;
    this.keysPublishedAt = now;
  }

  /** Entries held (ourselves included). */
  get size(): number {
    return this.entries.size;
  }

  /** Whether some member but us is believed reachable (stops at the first: a large table is not walked each round). */
  anyPeerUp(now: number): boolean {
    for (const [name, entry] of this.entries) {
      if (name !== this.self.name && !isGone(entry.info.status) && this.healthOf(entry, now) !== 'down') return true;
    }
    return false;
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
      }
      this.takeEntry(local, this.advanced(local, info, heard, now), now, result);
    }
    return result;
  }

  /**
   * The entry after `info` replaced `local`. A removal is no sign of life and keeps what we held
   * against the member. Otherwise it was alive lately: restored members are heard again, and an
   * entry of another life, or with a newer refutation than a suspicion, clears the suspicion and
   * our unanswered probes (they start again from the next one).
   */
  private advanced(local: Entry | undefined, info: MemberInfo, heard: boolean, now: number): Entry {
    if (!local) return { info, heardAt: now };
    if (!heard) return { ...local, info };
    const sameLife = local.info.incarnation === info.incarnation && local.info.generation === info.generation;
    const refuted = !sameLife || (info.refuted ?? 0) > (local.suspectedRefuted ?? local.info.refuted ?? 0);
    if (!refuted) {
      const { suspectedAt, suspectedRefuted, suspectedBy, unansweredSince } = local;
      return { info, heardAt: now, suspectedAt, suspectedRefuted, suspectedBy, unansweredSince };
    }
    this.unansweredNames.delete(info.name);
    return { info, heardAt: now };
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
      this.takeEntry(local, this.advanced(local, info, true, now), now, result);
    }
    return result;
  }

  /** Holds `next` in place of `local`, reporting a member that was down and no longer is as recovered. */
  private takeEntry(local: Entry | undefined, next: Entry, now: number, result: MergeResult): void {
    this.entries.set(next.info.name, next);
    if (local && this.healthOf(local, now) === 'down' && this.healthOf(next, now) !== 'down') result.recovered.push(next.info.name);
  }

  /** Merges what one gossip message carried: whole entries, then heartbeat deltas. */
  mergeDelta(delta: GossipDelta, now: number): MergeResult {
    return this.mergeBeats(delta.beats, now, this.merge(delta.members, now));
  }

  /**
   * A probe of `name` went unanswered: from now (unless earlier), it is probed again every round
   * (`unanswered()`), and suspected once unanswered for suspectAfterMs (`suspectUnanswered`).
   * Ignored for ourselves and members gone.
   */
  probeUnanswered(name: string, now: number): void {
    const entry = this.entries.get(name);
    if (!entry || name === this.self.name || isGone(entry.info.status) || entry.unansweredSince !== undefined) return;
    this.entries.set(name, { ...entry, unansweredSince: now });
    this.unansweredNames.add(name);
  }

  /**
   * `name` answered us: nothing is held against it here any more. True when it was down (it
   * recovered, in our view).
   */
  probeAnswered(name: string, now: number): boolean {
    const entry = this.entries.get(name);
    if (!entry || name === this.self.name || isGone(entry.info.status)) return false;
    const wasDown = this.healthOf(entry, now) === 'down';
    this.unansweredNames.delete(name);
    this.entries.set(name, { info: entry.info, heardAt: now });
    return wasDown;
  }

  /** Members whose probes went unanswered here and that we do not suspect yet, oldest first. */
  unanswered(): string[] {
    return [...this.unansweredNames];
  }

  /**
   * Members unanswered for `suspectAfterMs` become suspected by us: a new suspicion, or a
   * confirmation of one we hold (failure-detector.ts). Returns the suspicions to tell the others.
   * We probe them again no more: an answer to a later probe in turn, or a refutation, clears them.
   */
  suspectUnanswered(now: number): MemberSuspicion[] {
    const told: MemberSuspicion[] = [];
    for (const name of this.unansweredNames) {
      const entry = this.entries.get(name);
      if (!entry || entry.unansweredSince === undefined) {
        this.unansweredNames.delete(name);
        continue;
      }
      if (now - entry.unansweredSince < this.settings.suspectAfterMs) continue;
      this.unansweredNames.delete(name);
      const suspicion: MemberSuspicion = [name, entry.info.generation, entry.info.refuted ?? 0, this.self.name];
      if (this.takeSuspicion(entry, suspicion, now)) told.push(suspicion);
    }
    return told;
  }

  /**
   * Takes peers' suspicions: one about a member of the life we hold, naming its last refutation we
   * know or a later one, is taken: suspected from now, or, from another node, a confirmation. Those
   * taken are returned to spread. One about us, this life, naming our last refutation, calls for a
   * new one (`refute`).
   */
  mergeSuspicions(suspicions: readonly MemberSuspicion[], now: number): { taken: MemberSuspicion[]; refute: boolean } {
    const taken: MemberSuspicion[] = [];
    let refute = false;
    for (const suspicion of suspicions) {
      const [name, generation, refuted] = suspicion;
      if (name === this.self.name) {
        if (generation === this.self.generation && refuted >= (this.self.refuted ?? 0) && !isGone(this.self.status)) refute = true;
        continue;
      }
      const entry = this.entries.get(name);
      if (entry && this.takeSuspicion(entry, suspicion, now)) taken.push(suspicion);
    }
    return { taken, refute };
  }

  /** Applies one suspicion to a member's entry; true when it was news (a new suspicion, or a confirmation). */
  private takeSuspicion(entry: Entry, [, generation, refuted, by]: MemberSuspicion, now: number): boolean {
    if (isGone(entry.info.status) || entry.info.generation !== generation || refuted < (entry.info.refuted ?? 0)) return false;
    if (entry.suspectedAt === undefined || (entry.suspectedRefuted ?? 0) < refuted) {
      this.entries.set(entry.info.name, { ...entry, suspectedAt: now, suspectedRefuted: refuted, suspectedBy: [by] });
      return true;
    }
    const suspectedBy = entry.suspectedBy ?? [];
    if ((entry.suspectedRefuted ?? 0) > refuted || suspectedBy.includes(by) || suspectedBy.length > CONFIRMATIONS) return false;
    this.entries.set(entry.info.name, { ...entry, suspectedBy: [...suspectedBy, by] });
    return true;
  }

  /** Every suspicion we hold, one per suspecting node (a full sync carries them, for a node that missed one). */
  suspicions(): MemberSuspicion[] {
    return [...this.entries.keys()].flatMap((name) => this.suspicionsOf(name));
  }

  /** The suspicions we hold of one member (told to it when we exchange with it, so it refutes them at once). */
  suspicionsOf(name: string): MemberSuspicion[] {
    const entry = this.entries.get(name);
    if (!entry || entry.suspectedAt === undefined || isGone(entry.info.status)) return [];
    return (entry.suspectedBy ?? []).map((by): MemberSuspicion => [name, entry.info.generation, entry.suspectedRefuted ?? 0, by]);
  }

  /**
   * Answers a suspicion of ourselves (SWIM's refutation): a new `refuted`, above any a suspicion of
   * this life can name; the entry spreads as news, clearing the suspicion everywhere.
   */
  refute(): MemberInfo {
    const heartbeat = this.self.heartbeat + 1;
    this.self = { ...this.self, heartbeat, version: heartbeat, refuted: heartbeat };
    this.entries.set(this.self.name, { info: this.self, heardAt: this.entries.get(this.self.name)?.heardAt ?? 0 });
    return this.self;
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
      this.entries.set(info.name, { info, heardAt: now - this.settings.downAfterMs, unheard: true });
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
    if (entry.unheard) return 'down';
    return judge(entry, now, this.settings, this.entries.size);
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
