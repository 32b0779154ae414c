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

/** A member's tokens, ascending: murmur3 of "name#i" for each of its `count` virtual nodes. */
export function memberTokens(name: string, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = hashString(`${name}#${i}`);
  return out.sort();
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
 * `previous` without the tokens whose owner slot is marked in `dropped` (`droppedTokens` of
 * them), with the tokens of `added` (in name order) merged in; `names` are the new layout's.
 */
export function nextLayout(
  previous: TokenLayout,
  dropped: Uint8Array | undefined,
  droppedTokens: number,
  added: readonly SlottedTokens[],
  names: readonly (string | undefined)[],
): TokenLayout {
  const incoming = sortedTokens(added);
  const length = previous.tokens.length - droppedTokens + incoming.tokens.length;
  const tokens = new Uint32Array(length);
  const owners = new Uint32Array(length);
  const oldTokens = previous.tokens;
  const oldOwners = previous.owners;
  const newTokens = incoming.tokens;
  const newOwners = incoming.owners;
  let i = 0;
  let j = 0;
  let out = 0;
  while (i < oldTokens.length || j < newTokens.length) {
    if (i < oldTokens.length && dropped !== undefined && dropped[oldOwners[i] as number] === 1) {
      i++;
      continue;
    }
    let takeOld: boolean;
    if (i >= oldTokens.length) takeOld = false;
    else if (j >= newTokens.length) takeOld = true;
    else {
      const a = oldTokens[i] as number;
      const b = newTokens[j] as number;
      takeOld = a < b || (a === b && (names[oldOwners[i] as number] as string) < (names[newOwners[j] as number] as string));
    }
    if (takeOld) {
      tokens[out] = oldTokens[i] as number;
      owners[out++] = oldOwners[i++] as number;
    } else {
      tokens[out] = newTokens[j] as number;
      owners[out++] = newOwners[j++] as number;
    }
  }
  if (out !== length) throw new Error(`ring layout: expected ${length} tokens, merged ${out}`);
  return { tokens, owners, names };
}
