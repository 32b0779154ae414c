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
 *
 * A ring made from the previous one (`withMembers`) hashes only the tokens of the members that
 * changed and merges them into the previous token arrays (see token-layout.ts); it equals a ring
 * built from scratch token for token. Preference lists are walked only as far as a caller reads:
 * the primaries of each arc are remembered (a bounded LRU), fallbacks are found on demand.
 */
import { LruCache } from '../storage/lru-cache.js';
import { hashString, murmur3 } from './hash.js';
import { EMPTY_LAYOUT, memberTokens, nextLayout, type SlottedTokens, type TokenLayout } from './token-layout.js';

export interface RingMember {
  name: string;
  /** Relative capacity; a node of weight 2 gets twice the vnodes of a node of weight 1. */
  weight: number;
}

export interface PreferenceEntry {
  name: string;
  role: 'primary' | 'fallback';
}

/**
 * A preference list read in order, only as far as the reader needs: an array is one, and so is the
 * ring's lazy PreferenceWalk. `at(i)` is undefined past the end.
 */
export interface PreferenceSequence {
  at(index: number): PreferenceEntry | undefined;
}

export const DEFAULT_VNODES_PER_WEIGHT = 64;

/**
 * Arcs whose primaries each ring remembers (least recently used first out). An entry is one arc's
 * N primaries as a frozen array of names: about 190 B with the LRU's bookkeeping at N=3, so a full
 * memo holds about 3 MiB whatever the ring's size (16,384 entries hold every arc of a 256-node ring
 * at 64 vnodes; see the ring bench). A miss costs one short walk: the N primaries are usually the
 * next N tokens. A node holds at most three rings at once (current, previous, handed off).
 */
export const WALK_MEMO_ENTRIES = 16_384;

/** What a ring keeps of each member. */
interface MemberState {
  readonly weight: number;
  readonly slot: number;
  /** Its tokens, ascending (hashed once per vnode count, and passed on to the rings made from this one). */
  readonly tokens: Uint32Array;
  /** Its contribution to the membership digest (see Ring.id). */
  readonly digestA: number;
  readonly digestB: number;
}

/** One frozen entry per member and role, shared by every list that names the member. */
class RoleEntries {
  private readonly primaries = new Map<string, PreferenceEntry>();
  private readonly fallbacks = new Map<string, PreferenceEntry>();

  primary(name: string): PreferenceEntry {
    let entry = this.primaries.get(name);
    if (entry === undefined) this.primaries.set(name, (entry = Object.freeze({ name, role: 'primary' as const })));
    return entry;
  }

  fallback(name: string): PreferenceEntry {
    let entry = this.fallbacks.get(name);
    if (entry === undefined) this.fallbacks.set(name, (entry = Object.freeze({ name, role: 'fallback' as const })));
    return entry;
  }
}

export class Ring {
  readonly members: readonly RingMember[];
  /** A fingerprint of the membership: equal for equal memberships (see membershipId). */
  readonly id: string;
  private readonly layout: TokenLayout;
  private readonly states: ReadonlyMap<string, MemberState>;
  private readonly digestA: number;
  private readonly digestB: number;
  private counts: Map<string, number> | undefined;
  /**
   * Primaries remembered per (first token, n), as one frozen array of names (the whole entry, to
   * keep the memo small): every request asks for its key's, on the coordinator and every replica.
   */
  private readonly arcs = new LruCache<number, readonly string[]>(WALK_MEMO_ENTRIES);
  private readonly entries = new RoleEntries();

  /**
   * The ring of `members`. Given `previous` (a ring with the same vnodes per weight), only the
   * members that differ from it are hashed and merged in; the result is the same either way.
   */
  constructor(
    members: readonly RingMember[],
    readonly vnodesPerWeight = DEFAULT_VNODES_PER_WEIGHT,
    previous?: Ring,
  ) {
    const base = previous !== undefined && previous.vnodesPerWeight === vnodesPerWeight ? previous : undefined;
    const wanted = wantedWeights(members);
    const states = new Map(base?.states);
    const names = base ? [...base.layout.names] : [];
    let digestA = base?.digestA ?? 0;
    let digestB = base?.digestB ?? 0;
    const removed: SlottedTokens[] = [];
    const free: number[] = [];
    for (const [name, state] of base?.states ?? []) {
      const weight = wanted.get(name);
      if (weight === state.weight) continue;
      digestA = (digestA - state.digestA) >>> 0;
      digestB = (digestB - state.digestB) >>> 0;
      if (weight !== undefined && this.vnodesOf(weight) === state.tokens.length) {
        // A new weight with the same vnode count: the same tokens, a different membership.
        const [a, b] = memberDigest(name, weight);
        states.set(name, { ...state, weight, digestA: a, digestB: b });
        digestA = (digestA + a) >>> 0;
        digestB = (digestB + b) >>> 0;
        continue;
      }
      removed.push(state);
      names[state.slot] = undefined;
      free.push(state.slot);
      states.delete(name);
    }
    const arriving = [...wanted.keys()].filter((name) => !states.has(name)).sort(byText);
    free.sort((a, b) => b - a);
    const added: SlottedTokens[] = [];
    for (const name of arriving) {
      const weight = wanted.get(name) as number;
      const slot = free.pop() ?? names.length;
      const tokens = memberTokens(name, this.vnodesOf(weight));
      const [a, b] = memberDigest(name, weight);
      names[slot] = name;
      states.set(name, { weight, slot, tokens, digestA: a, digestB: b });
      digestA = (digestA + a) >>> 0;
      digestB = (digestB + b) >>> 0;
      added.push({ slot, tokens });
    }
    this.layout = nextLayout(base?.layout ?? EMPTY_LAYOUT, removed, added, names);
    this.states = states;
    this.members = mergedMembers(base?.members ?? [], states, arriving);
    this.digestA = digestA;
    this.digestB = digestB;
    this.id = membershipId(this.members.length, digestA, digestB);
  }

  /**
   * The ring of `members`, made from this one: this very ring when the membership is the same
   * (names and weights), else a new ring that hashes only the members that changed.
   */
  withMembers(members: readonly RingMember[]): Ring {
    const wanted = wantedWeights(members);
    if (wanted.size === this.states.size && [...wanted].every(([name, weight]) => this.states.get(name)?.weight === weight)) return this;
    return new Ring(members, this.vnodesPerWeight, this);
  }

  get size(): number {
    return this.members.length;
  }

  /** Virtual nodes per member. */
  get vnodeCounts(): ReadonlyMap<string, number> {
    this.counts ??= new Map(this.members.map((m) => [m.name, (this.states.get(m.name) as MemberState).tokens.length]));
    return this.counts;
  }

  /** The tokens in ring order with their owners (for tests and tools: this is the whole ring). */
  tokenOwners(): { tokens: Uint32Array; owners: string[] } {
    const { tokens, owners, names } = this.layout;
    return { tokens: tokens.slice(), owners: Array.from(owners, (slot) => names[slot] as string) };
  }

  /** How full the memo of primaries is, and how often it answered. */
  walkMemo(): { entries: number; capacity: number; hits: number; misses: number } {
    return { entries: this.arcs.size, capacity: WALK_MEMO_ENTRIES, hits: this.arcs.hits, misses: this.arcs.misses };
  }

  static keyHash(key: Uint8Array): number {
    return murmur3(key);
  }

  /**
   * The preference list from `position`, read lazily: N primaries (remembered per arc), then
   * fallbacks found only as far as the caller reads.
   */
  preferencesAt(position: number, n: number): PreferenceWalk {
    if (this.layout.tokens.length === 0) return new PreferenceWalk(this.layout, 0, NOBODY, 0, this.entries);
    const start = this.successor(position);
    return new PreferenceWalk(this.layout, this.members.length, this.arc(start, n, false), start, this.entries);
  }

  /** The key's preference list, read lazily (see preferencesAt). */
  preferences(key: Uint8Array, n: number): PreferenceWalk {
    return this.preferencesAt(Ring.keyHash(key), n);
  }

  /**
   * Distinct physical nodes clockwise from `position`: the first `n` primaries, then fallbacks,
   * `limit` nodes at most (default: all).
   */
  walk(position: number, n: number, limit = this.members.length): readonly PreferenceEntry[] {
    const prefs = this.preferencesAt(position, n);
    const out: PreferenceEntry[] = [];
    for (let i = 0; i < limit; i++) {
      const entry = prefs.at(i);
      if (entry === undefined) break;
      out.push(entry);
    }
    return Object.freeze(out);
  }

  /** The token positions, ascending (not a copy: read only): token i's arc holds the positions after token i-1 up to it (token 0's wraps past 2^32-1). */
  tokenPositions(): Readonly<Uint32Array> {
    return this.layout.tokens;
  }

  /** The owner of the token at `index` in tokenPositions. */
  ownerAt(index: number): string {
    return this.layout.names[this.layout.owners[index] as number] as string;
  }

  /** The key's whole preference list: N primaries (fewer if the ring is smaller), then every other node. */
  preferenceList(key: Uint8Array, n: number): readonly PreferenceEntry[] {
    return this.walk(Ring.keyHash(key), n);
  }

  /** The primaries only: one frozen array per arc while the arc is remembered. */
  primaries(key: Uint8Array, n: number): readonly string[] {
    if (this.layout.tokens.length === 0) return NOBODY;
    return this.arc(this.successor(Ring.keyHash(key)), n, true);
  }

  /** Every distinct set of primaries a key may have (one per arc of the ring, duplicates dropped). */
  primarySets(n: number): (readonly string[])[] {
    const seen = new Map<string, readonly string[]>();
    for (const token of this.layout.tokens) {
      // Walked afresh, not through the memo: a pass over every arc would only flush it.
      const names = this.walkPrimaries(this.successor(token), n);
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
    const tokens = this.layout.tokens;
    const total = 2 ** 32;
    for (let i = 0; i < tokens.length; i++) {
      const start = i === 0 ? (tokens[tokens.length - 1] as number) : (tokens[i - 1] as number);
      const end = tokens[i] as number;
      const width = i === 0 ? total - start + end : end - start;
      // Keys in (start, end] map to token i; its walk gives the range's replicas.
      for (const name of this.walkPrimaries(this.successor(end), n)) {
        share.set(name, (share.get(name) ?? 0) + width / total);
      }
    }
    return share;
  }

  /** Virtual nodes of a member of `weight`: at least one. */
  private vnodesOf(weight: number): number {
    return Math.max(1, Math.round(this.vnodesPerWeight * weight));
  }

  /** Index of the first token at or after `position` (wrapping to 0). */
  private successor(position: number): number {
    const tokens = this.layout.tokens;
    let lo = 0;
    let hi = tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((tokens[mid] as number) < position) lo = mid + 1;
      else hi = mid;
    }
    return lo === tokens.length ? 0 : lo;
  }

  /**
   * The arc's primaries, from the memo or walked now; `remember` puts a fresh walk in the memo.
   * Replicas ask for the arcs they hold again and again (every change of a key updates the trees
   * of its replicas), and admit them; a coordinator's lookups spread over every arc of the ring,
   * so they only read the memo: at 1,000 nodes their misses would evict hot arcs, and the churn
   * (a promoted array per miss) made a lookup slower than walking afresh (see the ring bench).
   */
  private arc(start: number, n: number, remember: boolean): readonly string[] {
    const key = n >= 0 && n < 1024 ? start * 1024 + n : undefined;
    if (key === undefined) return this.walkPrimaries(start, n);
    const known = remember ? this.arcs.get(key) : this.arcs.peek(key);
    if (known) return known;
    const names = this.walkPrimaries(start, n);
    if (remember) this.arcs.set(key, names, 1);
    return names;
  }

  /** The first n distinct owners from token index `start` (every member, if there are fewer). */
  private walkPrimaries(start: number, n: number): readonly string[] {
    const { tokens, owners, names } = this.layout;
    const wanted = Math.min(n, this.members.length);
    const slots: number[] = [];
    // A few primaries: a linear search beats a Set; many (a full walk): a Set.
    const seen = wanted > 16 ? new Set<number>() : undefined;
    let index = start;
    for (let walked = 0; slots.length < wanted && walked < tokens.length; walked++) {
      const slot = owners[index] as number;
      if (seen ? !seen.has(slot) : !slots.includes(slot)) {
        seen?.add(slot);
        slots.push(slot);
      }
      if (++index === tokens.length) index = 0;
    }
    return Object.freeze(slots.map((slot) => names[slot] as string));
  }
}

/**
 * A preference list read lazily: the arc's primaries, then each fallback found when first read
 * (the walk resumes where it stopped). One per request; it remembers what it has walked, so a
 * caller that reads it again (a stand-in after a failure) does not walk again.
 */
export class PreferenceWalk implements PreferenceSequence {
  /** Fallbacks found so far, in order (made on the first one: most requests read none). */
  private fallbacks: PreferenceEntry[] | undefined;
  /** Names listed so far, once there are too many to search the primaries and fallbacks. */
  private seen: Set<string> | undefined;
  /** Tokens walked from the first: the walk for fallbacks starts over there, skipping the primaries' tokens. */
  private walked = 0;

  constructor(
    private readonly layout: TokenLayout,
    private readonly memberCount: number,
    /** The key's primaries (its first N distinct nodes). */
    readonly primaries: readonly string[],
    private readonly start: number,
    private readonly entries: RoleEntries,
  ) {}

  /** Fallbacks walked so far (for tests and the bench). */
  get fallbacksWalked(): number {
    return this.fallbacks?.length ?? 0;
  }

  at(index: number): PreferenceEntry | undefined {
    const primaries = this.primaries;
    if (index < primaries.length) return index >= 0 ? this.entries.primary(primaries[index] as string) : undefined;
    const wanted = index - primaries.length;
    while (this.fallbacksWalked <= wanted && this.nextFallback());
    return this.fallbacks?.[wanted];
  }

  /** Walks on to the next node not listed yet; false once every node is. */
  private nextFallback(): boolean {
    const { tokens, owners, names } = this.layout;
    const fallbacks = (this.fallbacks ??= []);
    if (this.primaries.length + fallbacks.length >= this.memberCount) return false;
    while (this.walked < tokens.length) {
      let index = this.start + this.walked++;
      if (index >= tokens.length) index -= tokens.length;
      const name = names[owners[index] as number] as string;
      if (this.listed(name)) continue;
      this.seen?.add(name);
      fallbacks.push(this.entries.fallback(name));
      return true;
    }
    return false;
  }

  /** True when `name` is a primary or a fallback found already (searched while few, then a Set). */
  private listed(name: string): boolean {
    if (this.seen) return this.seen.has(name);
    const fallbacks = this.fallbacks as PreferenceEntry[];
    if (this.primaries.length + fallbacks.length < 16) {
      if (this.primaries.includes(name)) return true;
      for (const entry of fallbacks) if (entry.name === name) return true;
      return false;
    }
    this.seen = new Set([...this.primaries, ...fallbacks.map((e) => e.name)]);
    return this.seen.has(name);
  }
}

const NOBODY: readonly string[] = Object.freeze([]);

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The wanted weight of each member; a bad weight or a name given twice is refused. */
function wantedWeights(members: readonly RingMember[]): Map<string, number> {
  const wanted = new Map<string, number>();
  for (const m of members) {
    if (!(m.weight > 0) || !Number.isFinite(m.weight)) throw new RangeError(`weight of ${m.name} must be a positive finite number`);
    if (wanted.has(m.name)) throw new RangeError(`${m.name} is named twice in the ring's members`);
    wanted.set(m.name, m.weight);
  }
  return wanted;
}

/** The members in name order: `previous` minus those gone (weights updated), merged with `arriving` (in name order). */
function mergedMembers(previous: readonly RingMember[], states: ReadonlyMap<string, MemberState>, arriving: readonly string[]): RingMember[] {
  const out: RingMember[] = [];
  const arrived = new Set(arriving);
  let j = 0;
  for (const m of previous) {
    const state = states.get(m.name);
    if (state === undefined || arrived.has(m.name)) continue;
    while (j < arriving.length && (arriving[j] as string) < m.name) out.push(memberOf(arriving[j++] as string, states));
    out.push(state.weight === m.weight ? m : { name: m.name, weight: state.weight });
  }
  while (j < arriving.length) out.push(memberOf(arriving[j++] as string, states));
  return out;
}

function memberOf(name: string, states: ReadonlyMap<string, MemberState>): RingMember {
  return { name, weight: (states.get(name) as MemberState).weight };
}

/** Two independent 32-bit hashes of a member and its weight, summed over the membership. */
function memberDigest(name: string, weight: number): [number, number] {
  const text = `${name}:${weight}`;
  return [hashString(text, 0x9e3779b9), hashString(text, 0x85ebca6b)];
}

/**
 * Names a membership by its size and two sums of per-member hashes: a sum does not depend on the
 * order members came in, and a ring made from another adds and subtracts only the members that
 * changed, so the id costs nothing to keep. Equal memberships give equal ids on every node;
 * different ones collide with probability about 2^-64.
 */
function membershipId(count: number, a: number, b: number): string {
  return `${count}-${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}`;
}
