/**
 * Version vectors (Parker et al. 1983; Dynamo §4.4): a map from replica id to the count of
 * events that replica coordinated. Entries are keyed by replica, never by client, so a key's
 * clock has at most N entries plus a few left by handoffs. Pure functions; values are immutable.
 */

export type VersionVector = ReadonlyMap<string, number>;

export type Ordering = 'equal' | 'before' | 'after' | 'concurrent';

export const emptyVector: VersionVector = new Map();

/**
 * Bounds on clocks. Records store counters in 48 bits, so MAX_COUNTER is the most any clock may
 * hold: a record from a peer, or a record after a write. A write counts on from what it is given
 * (applyWrite: one more than the record or the context has seen for the writing replica), and a
 * client's context is the one clock a write takes from outside, so no request can make a key
 * unwritable only if a context can never push a counter near MAX_COUNTER:
 * - decoding a context refuses counters a write could not add one to (above MAX_COUNTER - 1);
 * - a write refuses a context counter above MAX_UNHELD_COUNTER unless the key's record already
 *   holds that counter (unheldClaim): the store issued it, so it is taken back as given.
 * A forged context can thus lift a key's counter to 2^47 + 1 at most, leaving 2^47 - 2 writes
 * (years of writes to one key) before MAX_COUNTER; actors are node names plus incarnations.
 */
export const MAX_COUNTER = 2 ** 48 - 1;
/** The largest counter a context may claim beyond what the key's record holds. */
export const MAX_UNHELD_COUNTER = 2 ** 47;
export const MAX_CLOCK_ENTRIES = 256;
export const MAX_ACTOR_CHARS = 512;
/**
 * Entries a key's clock may come to hold through what arrives from outside (contexts, records
 * from peers). Each bounded input could otherwise add its own new actors, and the clock would grow
 * without end: past MAX_CLOCK_ENTRIES its context is refused and its record no longer travels.
 * The rest, up to MAX_CLOCK_ENTRIES, is room for the actors the key's own coordinators mint under,
 * so a key that others filled stays writable. A real key holds N actors and a few retired ones.
 */
export const MAX_FILLED_CLOCK_ENTRIES = 192;

/** Why a clock entry from outside is out of bounds (counters up to `maxCounter`), or undefined when it is fine. */
export function badClockEntry(actor: unknown, counter: unknown, maxCounter = MAX_COUNTER): string | undefined {
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR_CHARS) return 'an actor must be a string of 1 to 512 characters';
  if (!Number.isSafeInteger(counter) || (counter as number) < 1 || (counter as number) > maxCounter) {
    return `a counter must be a whole number from 1 to 2^48 - ${2 ** 48 - maxCounter}`;
  }
  return undefined;
}

/**
 * The first entry of a client's `context` that claims an event above MAX_UNHELD_COUNTER which the
 * key's record (`held`, its clock) has not seen, or undefined. Such a counter was not issued by the
 * store: a write from it would spend the key's counters for nothing.
 */
export function unheldClaim(context: VersionVector, held: VersionVector): Dot | undefined {
  for (const [actor, n] of context) if (n > MAX_UNHELD_COUNTER && n > (held.get(actor) ?? 0)) return [actor, n];
  return undefined;
}

/**
 * True when `after` (a clock after a write or merge) holds more than MAX_FILLED_CLOCK_ENTRIES and
 * gained actors from outside to get there: actors `before` did not hold, other than `ownActor`
 * (the coordinator's own, always allowed). A change that adds no outside actor always passes.
 */
export function clockOverfilled(before: VersionVector, after: VersionVector, ownActor?: string): boolean {
  if (after.size <= MAX_FILLED_CLOCK_ENTRIES) return false;
  for (const actor of after.keys()) if (actor !== ownActor && !before.has(actor)) return true;
  return false;
}

/** One event: the `counter`-th write coordinated by replica `actor`. */
export type Dot = readonly [actor: string, counter: number];

export function counterOf(vv: VersionVector, actor: string): number {
  return vv.get(actor) ?? 0;
}

/** True when the vector has seen the event. */
export function coversDot(vv: VersionVector, dot: Dot): boolean {
  return counterOf(vv, dot[0]) >= dot[1];
}

/** Pointwise maximum: everything either side has seen. */
export function mergeVectors(a: VersionVector, b: VersionVector): VersionVector {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  const out = new Map(a);
  for (const [actor, n] of b) if (n > (out.get(actor) ?? 0)) out.set(actor, n);
  return out;
}

/** How `a` relates to `b`: 'before' means a happened before b (b descends from a). */
export function compareVectors(a: VersionVector, b: VersionVector): Ordering {
  let aAhead = false;
  let bAhead = false;
  for (const [actor, n] of a) {
    const m = b.get(actor) ?? 0;
    if (n > m) aAhead = true;
    else if (n < m) bAhead = true;
  }
  for (const [actor, m] of b) if (!a.has(actor) && m > 0) bAhead = true;
  if (aAhead && bAhead) return 'concurrent';
  if (aAhead) return 'after';
  if (bAhead) return 'before';
  return 'equal';
}

/** True when `a` has seen everything `b` has. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  const order = compareVectors(a, b);
  return order === 'equal' || order === 'after';
}

/** Entries sorted by actor: the canonical order for encoding and hashing. */
export function vectorEntries(vv: VersionVector): [string, number][] {
  return [...vv].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}
