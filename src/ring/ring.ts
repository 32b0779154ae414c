/**
 * Consistent hashing with weighted virtual nodes (Karger et al. 1997; Dynamo §4.2). Each physical
 * node owns `round(vnodesPerWeight × weight)` tokens on a 32-bit ring; a key's preference list is
 * the first N *distinct physical* nodes clockwise from the key's hash (primaries), followed by
 * every other node in ring order (fallbacks, for sloppy quorums).
 *
 * The ring is a pure function of the membership (name, weight), so every node computes the same
 * ring from the same members. Adding or removing one node of n moves about 1/n of the key space,
 * and only to or from that node (tokens of other nodes do not move).
 *
 *            0 ──── a#3 ──── b#1 ──── a#0 ──── c#2 ──── 2³²
 *   key k ─────────────┘ hash(k) falls here: preference list b, a, c
 */
import { hashString, murmur3 } from './hash.js';

export interface RingMember {
  name: string;
  /** Relative capacity; a node of weight 2 gets twice the vnodes of a node of weight 1. */
  weight: number;
}

export interface PreferenceEntry {
  name: string;
  role: 'primary' | 'fallback';
}

export const DEFAULT_VNODES_PER_WEIGHT = 64;

export class Ring {
  /** Token positions, ascending, and the owner of each (parallel arrays). */
  private readonly tokens: Uint32Array;
  private readonly owners: string[];
  readonly members: readonly RingMember[];
  readonly vnodeCounts: ReadonlyMap<string, number>;
  /**
   * Walks already made, by (first token, n, limit): the ring never changes and every write asks
   * for its key's replicas on the coordinator and on each replica, so each arc is walked once.
   * Bounded by tokens × the few (n, limit) pairs in use.
   */
  private readonly walks = new Map<number, readonly PreferenceEntry[]>();
  private readonly primaryNames = new Map<number, readonly string[]>();

  constructor(
    members: readonly RingMember[],
    readonly vnodesPerWeight = DEFAULT_VNODES_PER_WEIGHT,
  ) {
    const sorted = [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const entries: [number, string][] = [];
    const counts = new Map<string, number>();
    for (const m of sorted) {
      if (!(m.weight > 0) || !Number.isFinite(m.weight)) throw new RangeError(`weight of ${m.name} must be a positive finite number`);
      const count = Math.max(1, Math.round(vnodesPerWeight * m.weight));
      counts.set(m.name, count);
      for (let i = 0; i < count; i++) entries.push([hashString(`${m.name}#${i}`), m.name]);
    }
    // Ties (astronomically rare) break by name, so the order is still the same everywhere.
    entries.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    this.tokens = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
    this.members = sorted;
    this.vnodeCounts = counts;
  }

  get size(): number {
    return this.members.length;
  }

  /** A fingerprint of the ring: equal for equal memberships. */
  get id(): string {
    return this.members.map((m) => `${m.name}:${m.weight}`).join(',');
  }

  static keyHash(key: Uint8Array): number {
    return murmur3(key);
  }

  /** Index of the first token at or after `position` (wrapping to 0). */
  private successor(position: number): number {
    let lo = 0;
    let hi = this.tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.tokens[mid] as number) < position) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.tokens.length ? 0 : lo;
  }

  /**
   * Distinct physical nodes clockwise from `position`: the first `n` primaries, then fallbacks,
   * `limit` nodes at most (default: all).
   */
  walk(position: number, n: number, limit = this.members.length): readonly PreferenceEntry[] {
    if (this.tokens.length === 0) return [];
    const start = this.successor(position);
    const memo = memoKey(start, n, limit);
    const known = memo === undefined ? undefined : this.walks.get(memo);
    if (known) return known;
    const out: PreferenceEntry[] = [];
    const seen = new Set<string>();
    const wanted = Math.min(limit, this.members.length);
    for (let i = 0; i < this.tokens.length && seen.size < wanted; i++) {
      const owner = this.owners[(start + i) % this.tokens.length] as string;
      if (seen.has(owner)) continue;
      seen.add(owner);
      out.push(Object.freeze({ name: owner, role: out.length < n ? 'primary' : 'fallback' }));
    }
    Object.freeze(out);
    if (memo !== undefined) this.walks.set(memo, out);
    return out;
  }

  /** The token positions, ascending: token i's arc holds the positions after token i-1 up to it (token 0's wraps past 2^32-1). */
  tokenPositions(): Readonly<Uint32Array> {
    return this.tokens;
  }

  /** The owner of each token, in the order of tokenPositions. */
  tokenOwners(): readonly string[] {
    return this.owners;
  }

  /** The key's preference list: N primaries (fewer if the ring is smaller), then fallbacks. */
  preferenceList(key: Uint8Array, n: number): readonly PreferenceEntry[] {
    return this.walk(Ring.keyHash(key), n);
  }

  /** The primaries only (the walk stops after N distinct nodes). */
  primaries(key: Uint8Array, n: number): readonly string[] {
    if (this.tokens.length === 0) return [];
    const position = Ring.keyHash(key);
    const memo = memoKey(this.successor(position), n, n);
    const known = memo === undefined ? undefined : this.primaryNames.get(memo);
    if (known) return known;
    const names = Object.freeze(this.walk(position, n, n).map((e) => e.name));
    if (memo !== undefined) this.primaryNames.set(memo, names);
    return names;
  }

  /** Every distinct set of primaries a key may have (one per arc of the ring, duplicates dropped). */
  primarySets(n: number): (readonly string[])[] {
    const seen = new Map<string, readonly string[]>();
    for (const token of this.tokens) {
      const names = this.walk(token, n, n).map((e) => e.name);
      seen.set([...names].sort().join('\n'), names);
    }
    return [...seen.values()];
  }

  /**
   * Fraction of the key space each node holds as a replica (the ranges for which it is one of
   * the first n distinct nodes). Sums to min(n, size).
   */
  ownership(n: number): Map<string, number> {
    const share = new Map<string, number>(this.members.map((m) => [m.name, 0]));
    const total = 2 ** 32;
    for (let i = 0; i < this.tokens.length; i++) {
      const start = i === 0 ? (this.tokens[this.tokens.length - 1] as number) : (this.tokens[i - 1] as number);
      const end = this.tokens[i] as number;
      const width = i === 0 ? total - start + end : end - start;
      // Keys in (start, end] map to token i; its walk gives the range's replicas.
      for (const entry of this.walk(end, n, n)) {
        share.set(entry.name, (share.get(entry.name) ?? 0) + width / total);
      }
    }
    return share;
  }
}

/** A number naming (first token, n, limit), or undefined when the counts are too large to pack. */
function memoKey(start: number, n: number, limit: number): number | undefined {
  return n < 1024 && limit < 1024 && n >= 0 && limit >= 0 ? (start * 1024 + n) * 1024 + limit : undefined;
}
