/**
 * The causal context handed to clients: an opaque, URL-safe token that encodes a version vector
 * and the key it was read for. Clients must echo it unchanged, on the same key; anything else is
 * rejected with KV_BAD_CONTEXT. The token is base64url of the JSON
 *   ["<tag>",[["<actor>",<counter>],…]]
 * where the tag is the first 8 bytes of the SHA-256 of the key's bytes, in hex (the same key in
 * UTF-8 or base64 on the wire is the same bytes, so the same tag), and the entries are sorted by
 * actor. A context of one key used on another would supersede versions it never saw: the tag
 * catches that mistake. It is no signature: a client can still write any context it likes for a
 * key, and the bounds on counters (version-vector.ts) hold for those too.
 *
 * Every token is non-empty: the context of a missing key ("nothing seen") is `EMPTY_CONTEXT`, so a
 * create can pass what a read returned, and an empty string is never mistaken for a context.
 */
import { hash } from 'node:crypto';
import { KvError } from '../errors.js';
import { badClockEntry, emptyVector, MAX_CLOCK_ENTRIES, MAX_COUNTER, type VersionVector, vectorEntries } from './version-vector.js';

/**
 * The token of the empty vector: base64url of `[]`, the same for every key. It is not bound to a
 * key because it claims nothing: a write with it supersedes no version, so used on any key it only
 * adds a sibling and can replace nothing. One constant also lets a script write "create, keeping
 * whatever is there" without a read.
 */
export const EMPTY_CONTEXT = 'W10';

/** Characters of the key tag: 8 bytes of SHA-256 in hex. */
const TAG_CHARS = 16;

/** The tag that binds a context to `key`: the first 8 bytes of SHA-256 of its bytes, in hex. */
export function contextTag(key: Uint8Array): string {
  return hash('sha256', key, 'hex').slice(0, TAG_CHARS);
}

/** The token of `vv` as read for `key`. */
export function encodeContext(key: Uint8Array, vv: VersionVector): string {
  if (vv.size === 0) return EMPTY_CONTEXT;
  // The JSON of the sorted entries, written directly (it is on every put's reply).
  let json = `["${contextTag(key)}",[`;
  let first = true;
  for (const [actor, n] of vectorEntries(vv)) {
    json += `${first ? '' : ','}[${JSON.stringify(actor)},${n}]`;
    first = false;
  }
  return Buffer.from(`${json}]]`).toString('base64url');
}

const notIssued = () => new KvError('KV_BAD_CONTEXT', 'context is not a token this store issued: pass the context a get of this key returned');

/**
 * The version vector of a token given with a request on `key`. Refused (KV_BAD_CONTEXT): anything
 * not shaped as an issued token, a context read for another key, and counters a write could not
 * add one to (see MAX_COUNTER; whether a high counter was issued is for the write to tell).
 */
export function decodeContext(token: string, key: Uint8Array): VersionVector {
  if (token === EMPTY_CONTEXT) return emptyVector;
  if (token === '') throw new KvError('KV_BAD_CONTEXT', 'context is empty: pass the context a get returned, or none at all');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw notIssued();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw notIssued();
  const [tag, entries] = parsed as unknown[];
  if (typeof tag !== 'string' || tag.length !== TAG_CHARS || !Array.isArray(entries) || entries.length > MAX_CLOCK_ENTRIES) throw notIssued();
  if (tag !== contextTag(key)) {
    throw new KvError('KV_BAD_CONTEXT', 'context was read for another key: pass the context a get of this key returned');
  }
  const vv = new Map<string, number>();
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1]) || entry[1] < 1 || vv.has(entry[0])) {
      throw notIssued();
    }
    const bad = badClockEntry(entry[0], entry[1], MAX_COUNTER - 1);
    if (bad) throw new KvError('KV_BAD_CONTEXT', `context is out of bounds: ${bad}`);
    vv.set(entry[0], entry[1]);
  }
  return vv;
}
