/**
 * The ring's tokens in ring order, and how one layout is made from another: the tokens of the
 * members that went (or changed their vnode count) are dropped and the tokens of the new ones
 * merged in, in one linear pass. No token of a member that stayed is hashed or sorted again, so a
 * join at 1,000 nodes costs its own 64 hashes and a sort of 64 tokens, plus one copy of the arrays.
 *
 * Owners are small integers (slots) rather than names: the arrays copy as numbers, and a walk
 * tells nodes apart without comparing strings. A slot keeps its member for as long as the member
 * stays; the slot of one that went is reused by a later member. Slots are private to a lineage of
 * rings: only the (token, owner name) sequence is the ring, and it is the same whichever rings
 * came before (ties between equal tokens are broken by owner name, as in a build from scratch).
 */
import { hashString } from './hash.js';

export interface TokenLayout {
  /** Token positions, ascending; equal tokens in owner-name order. */
  readonly tokens: Uint32Array;
  /** The owner of each token, as a slot of `names`. */
  readonly owners: Uint32Array;
  /** Member names by slot; undefined for a slot freed and not reused yet. */
  readonly names: readonly (string | undefined)[];
}

export interface SlottedTokens {
  slot: number;
  /** The member's own tokens, ascending (see memberTokens). */
  tokens: Uint32Array;
}

/** Slots fit in a packed sort key beside a 32-bit token (token × OWNER_SLOTS + index < 2^53). */
const OWNER_SLOTS = 2 ** 21;

export const EMPTY_LAYOUT: TokenLayout = { tokens: new Uint32Array(0), owners: new Uint32Array(0), names: [] };

/** Members whose tokens are remembered (about 1 MiB at 64 vnodes): a node of a large cluster hashes each member once. */
export const TOKEN_MEMO_MEMBERS = 4096;
const tokenMemo = new Map<string, Uint32Array>();

/**
 * A member's tokens, ascending: murmur3 of "name#i" for each of its `count` virtual nodes.
 * Remembered (the arrays are never written to), so a member that goes and comes back, and in a
 * simulation every node building the same ring, pays for the hashes once.
 */
export function memberTokens(name: string, count: number): Uint32Array {
  const key = `${count}:${name}`;
  const held = tokenMemo.get(key);
  if (held) return held;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = hashString(`${name}#${i}`);
  out.sort();
  if (tokenMemo.size >= TOKEN_MEMO_MEMBERS) tokenMemo.delete(tokenMemo.keys().next().value as string);
  tokenMemo.set(key, out);
  return out;
}

/**
 * The tokens of `added` in ring order. `added` must be in name order: equal tokens then come out
 * in name order too, because the packed key breaks ties by the member's index.
 */
function sortedTokens(added: readonly SlottedTokens[]): { tokens: Uint32Array; owners: Uint32Array } {
  if (added.length >= OWNER_SLOTS) throw new RangeError(`a ring holds at most ${OWNER_SLOTS - 1} members`);
  let total = 0;
  for (const m of added) total += m.tokens.length;
  const keys = new Float64Array(total);
  let k = 0;
  for (let i = 0; i < added.length; i++) for (const token of (added[i] as SlottedTokens).tokens) keys[k++] = token * OWNER_SLOTS + i;
  keys.sort();
  const tokens = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let j = 0; j < total; j++) {
    const key = keys[j] as number;
    const index = key % OWNER_SLOTS;
    tokens[j] = (key - index) / OWNER_SLOTS;
    owners[j] = (added[index] as SlottedTokens).slot;
  }
  return { tokens, owners };
}

/**
 * `previous` without the tokens of `removed` (members that went, by their slot in `previous`),
 * with the tokens of `added` (in name order) merged in; `names` are the new layout's. The kept
 * tokens are copied in runs between the positions where a token goes or comes (found by binary
 * search), so the cost is one copy of the arrays plus O(changed tokens × log tokens).
 */
export function nextLayout(
  previous: TokenLayout,
  removed: readonly SlottedTokens[],
  added: readonly SlottedTokens[],
  names: readonly (string | undefined)[],
): TokenLayout {
  const incoming = sortedTokens(added);
  const drops = dropPositions(previous, removed);
  const oldTokens = previous.tokens;
  const oldOwners = previous.owners;
  const length = oldTokens.length - drops.length + incoming.tokens.length;
  const tokens = new Uint32Array(length);
  const owners = new Uint32Array(length);
  let out = 0;
  let d = 0;
  /** Copies previous[from, to) but for the dropped positions, in runs. */
  const copyKept = (from: number, to: number) => {
    let runStart = from;
    while (d < drops.length && (drops[d] as number) < to) {
      const drop = drops[d++] as number;
      tokens.set(oldTokens.subarray(runStart, drop), out);
      owners.set(oldOwners.subarray(runStart, drop), out);
      out += drop - runStart;
      runStart = drop + 1;
    }
    tokens.set(oldTokens.subarray(runStart, to), out);
    owners.set(oldOwners.subarray(runStart, to), out);
    out += to - runStart;
  };
  const droppedSlots = new Set(removed.map((m) => m.slot));
  let i = 0;
  for (let j = 0; j < incoming.tokens.length; j++) {
    const token = incoming.tokens[j] as number;
    const owner = incoming.owners[j] as number;
    // Where the token goes among the old ones: after smaller tokens, and after equal tokens of
    // owners named before its own (a dropped one may sit anywhere among those: it goes anyway).
    let at = lowerBound(oldTokens, token, i);
    while (
      at < oldTokens.length &&
      oldTokens[at] === token &&
      (droppedSlots.has(oldOwners[at] as number) || (names[oldOwners[at] as number] as string) < (names[owner] as string))
    )
      at++;
    copyKept(i, at);
    i = at;
    tokens[out] = token;
    owners[out++] = owner;
  }
  copyKept(i, oldTokens.length);
  if (out !== length) throw new Error(`ring layout: expected ${length} tokens, merged ${out}`);
  return { tokens, owners, names };
}

/** Positions in `layout` of the tokens of `removed`, ascending. */
function dropPositions(layout: TokenLayout, removed: readonly SlottedTokens[]): Int32Array {
  let total = 0;
  for (const m of removed) total += m.tokens.length;
  const positions = new Int32Array(total);
  let k = 0;
  for (const { slot, tokens } of removed) {
    let previousToken = -1;
    let previousAt = -1;
    for (const token of tokens) {
      // A member's own equal tokens (a hash collision) sit side by side: the next one is further on.
      let at = token === previousToken ? previousAt + 1 : lowerBound(layout.tokens, token, 0);
      while (at < layout.tokens.length && layout.tokens[at] === token && layout.owners[at] !== slot) at++;
      if (layout.tokens[at] !== token || layout.owners[at] !== slot) throw new Error(`ring layout: token ${token} of slot ${slot} is not in the ring`);
      positions[k++] = at;
      previousToken = token;
      previousAt = at;
    }
  }
  return positions.sort();
}

/** The first index at or after `from` whose token is not below `token`. */
function lowerBound(tokens: Uint32Array, token: number, from: number): number {
  let lo = from;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((tokens[mid] as number) < token) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
