/**
 * A key's versions as a causal container with dotted version vectors (Preguiça, Baquero et al.,
 * "Dotted Version Vectors: Logical Clocks for Optimistic Replication", 2010; Riak 2.0's DVV,
 * basho/riak_kv#746). Each sibling carries the single event (dot) that created it; the record's
 * vector covers everything the replica has seen.
 *
 * Why dots: with plain per-coordinator vector clocks, two clients that write concurrently through
 * the same coordinator with the same context get clocks where the second dominates the first, and
 * the first write is silently lost. With dots, each write supersedes exactly the siblings its
 * context covered, so concurrent writes survive as siblings whatever coordinator takes them.
 *
 * Invariants: every sibling's dot is covered by `clock`; no two siblings share a dot; a sibling is
 * dropped only when a write or merge proves some version causally succeeds it.
 */
import { clockOverfilled, counterOf, coversDot, type Dot, emptyVector, mergeVectors, type VersionVector } from './version-vector.js';

export interface Sibling<V> {
  readonly dot: Dot;
  /** Wall-clock milliseconds when the coordinating replica accepted the write (informational). */
  readonly ts: number;
  /** `null` is a tombstone: a delete that replicates like a value. */
  readonly value: V | null;
  /**
   * Wall-clock milliseconds from which the value is expired (absent: never): set once, by the node
   * that took the write, and part of the version, so every replica, hint and repair carries the
   * same deadline. An expired value is hidden from reads as a tombstone is, and reaped as one.
   */
  readonly expiresAt?: number;
}

export interface CausalRecord<V> {
  readonly clock: VersionVector;
  readonly siblings: readonly Sibling<V>[];
}

export function emptyRecord<V>(): CausalRecord<V> {
  return { clock: emptyVector, siblings: [] };
}

/**
 * Applies a write coordinated by replica `actor`: drops the siblings the client's `context` has
 * seen, adds the new version with a fresh dot. A write without context (empty vector) supersedes
 * nothing, so it becomes a sibling of whatever is there.
 */
export function applyWrite<V>(
  record: CausalRecord<V>,
  context: VersionVector,
  actor: string,
  value: V | null,
  ts: number,
  expiresAt?: number,
): CausalRecord<V> {
  const survivors = record.siblings.filter((s) => !coversDot(context, s.dot));
  // The counter must exceed any event by this actor the record or the context knows of.
  const counter = Math.max(counterOf(record.clock, actor), counterOf(context, actor)) + 1;
  const clock = new Map(mergeVectors(record.clock, context));
  clock.set(actor, counter);
  const written: Sibling<V> =
    value !== null && expiresAt !== undefined ? { dot: [actor, counter], ts, value, expiresAt } : { dot: [actor, counter], ts, value };
  const siblings = [...survivors, written];
  siblings.sort(compareSiblings);
  return { clock, siblings };
}

/**
 * Joins two replicas' records (replication, read repair, anti-entropy). A sibling survives if the
 * other side also holds it or has never seen its dot; it is dropped only if the other side saw the
 * dot and superseded it. Commutative, associative and idempotent.
 */
export function mergeRecords<V>(a: CausalRecord<V>, b: CausalRecord<V>): CausalRecord<V> {
  const bDots = new Set(b.siblings.map(dotKey));
  const aDots = new Set(a.siblings.map(dotKey));
  const kept: Sibling<V>[] = [];
  for (const s of a.siblings) if (bDots.has(dotKey(s)) || !coversDot(b.clock, s.dot)) kept.push(s);
  for (const s of b.siblings) if (!aDots.has(dotKey(s)) && !coversDot(a.clock, s.dot)) kept.push(s);
  kept.sort(compareSiblings);
  return { clock: mergeVectors(a.clock, b.clock), siblings: kept };
}

/**
 * Which bound a merged record breaks, if kept where `before` was held (undefined: nothing held):
 * 'siblings' when it holds more than `maxSiblings` and more than `before` did (a merge that
 * resolves siblings always passes), 'clock' when outside actors filled its clock
 * (clockOverfilled); undefined when it is within both. What a client write could not store, a
 * merge does not either.
 */
export function mergeOverBounds<V>(before: CausalRecord<V> | undefined, after: CausalRecord<V>, maxSiblings: number): 'siblings' | 'clock' | undefined {
  if (after.siblings.length > maxSiblings && after.siblings.length > (before?.siblings.length ?? 0)) return 'siblings';
  if (clockOverfilled(before?.clock ?? emptyVector, after.clock)) return 'clock';
  return undefined;
}

/** True when the sibling is a value whose deadline has passed at `now`. */
export function isExpired(s: Sibling<unknown>, now: number): boolean {
  return s.expiresAt !== undefined && s.expiresAt <= now;
}

/** The values a read returns at `now`: neither tombstones nor expired, oldest write first. */
export function visibleSiblings<V>(record: CausalRecord<V>, now: number): Sibling<V>[] {
  return record.siblings.filter((s) => s.value !== null && !isExpired(s, now));
}

/**
 * When every version of the record is dead (a tombstone, or a value past its deadline): the latest
 * delete time or deadline among them. Undefined while any version lives on without a deadline
 * (or the record is empty). A record dead at `now` is reaped as a tombstone is, once past the grace period.
 */
export function deadFrom(record: CausalRecord<unknown>): number | undefined {
  if (record.siblings.length === 0) return undefined;
  let from = 0;
  for (const s of record.siblings) {
    if (s.value === null) from = Math.max(from, s.ts);
    else if (s.expiresAt !== undefined) from = Math.max(from, s.expiresAt);
    else return undefined;
  }
  return from;
}

/** True when the record holds versions and none of them is visible at `now`: all deleted or expired. */
export function isDead(record: CausalRecord<unknown>, now: number): boolean {
  const from = deadFrom(record);
  return from !== undefined && (from <= now || record.siblings.every((s) => s.value === null));
}

/** The live values (tombstones left out), oldest write first. */
export function liveSiblings<V>(record: CausalRecord<V>): Sibling<V>[] {
  return record.siblings.filter((s) => s.value !== null);
}

/** True when the record holds versions but all of them are deletes. */
export function isTombstone<V>(record: CausalRecord<V>): boolean {
  return record.siblings.length > 0 && record.siblings.every((s) => s.value === null);
}

function dotKey(s: Sibling<unknown>): string {
  return `${s.dot[1]}@${s.dot[0]}`;
}

/** Deterministic order: by timestamp, then by dot, so every replica lists siblings alike. */
export function compareSiblings(x: Sibling<unknown>, y: Sibling<unknown>): number {
  if (x.ts !== y.ts) return x.ts - y.ts;
  if (x.dot[0] !== y.dot[0]) return x.dot[0] < y.dot[0] ? -1 : 1;
  return x.dot[1] - y.dot[1];
}

/** True when both records hold the same versions (same clock, same sibling dots). */
export function sameVersions<V>(a: CausalRecord<V>, b: CausalRecord<V>): boolean {
  if (a.clock.size !== b.clock.size || a.siblings.length !== b.siblings.length) return false;
  for (const [actor, n] of a.clock) if (b.clock.get(actor) !== n) return false;
  const dots = new Set(a.siblings.map(dotKey));
  return b.siblings.every((s) => dots.has(dotKey(s)));
}

/**
 * Bounds the clock: when it holds more than `maxEntries` entries, drops entries of actors that will
 * never write again (`isRetired`: a departed node, or a node's incarnation before its data dir was
 * wiped) and that no sibling's dot names. Retired actors never mint new dots, so no dot is ever
 * reused; a dropped entry can only make an old, superseded version look concurrent again (a false
 * sibling), never hide a true one.
 */
export function pruneClock<V>(record: CausalRecord<V>, maxEntries: number, isRetired: (actor: string) => boolean): CausalRecord<V> {
  if (record.clock.size <= maxEntries) return record;
  const named = new Set(record.siblings.map((s) => s.dot[0]));
  const clock = new Map(record.clock);
  for (const actor of [...clock.keys()].sort()) {
    if (clock.size <= maxEntries) break;
    if (!named.has(actor) && isRetired(actor)) clock.delete(actor);
  }
  return { clock, siblings: record.siblings };
}
