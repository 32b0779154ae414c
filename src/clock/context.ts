/**
 * The causal context handed to clients: an opaque, URL-safe token that encodes a version vector.
 * Clients must echo it unchanged; anything else is rejected with KV_BAD_CONTEXT. Every token is
 * non-empty: the context of a missing key ("nothing seen") is `EMPTY_CONTEXT`, so a create can
 * pass what a read returned, and an empty string is never mistaken for a context.
 */
import { KvError } from '../errors.js';
import { badClockEntry, emptyVector, MAX_CLOCK_ENTRIES, type VersionVector, vectorEntries } from './version-vector.js';

/** The token of the empty vector: base64url of `[]`. */
export const EMPTY_CONTEXT = 'W10';

export function encodeContext(vv: VersionVector): string {
  if (vv.size === 0) return EMPTY_CONTEXT;
  // The JSON of the sorted entries, written directly (it is on every put's reply).
  let json = '[';
  for (const [actor, n] of vectorEntries(vv)) json += `${json.length > 1 ? ',' : ''}[${JSON.stringify(actor)},${n}]`;
  return Buffer.from(`${json}]`).toString('base64url');
}

export function decodeContext(token: string): VersionVector {
  if (token === EMPTY_CONTEXT) return emptyVector;
  if (token === '') throw new KvError('KV_BAD_CONTEXT', 'context is empty: pass the context a get returned, or none at all');
  let entries: unknown;
  try {
    entries = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new KvError('KV_BAD_CONTEXT', 'context is not a token this store issued');
  }
  if (!Array.isArray(entries) || entries.length > MAX_CLOCK_ENTRIES) {
    throw new KvError('KV_BAD_CONTEXT', 'context is not a token this store issued');
  }
  const vv = new Map<string, number>();
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1]) || entry[1] < 1 || vv.has(entry[0])) {
      throw new KvError('KV_BAD_CONTEXT', 'context is not a token this store issued');
    }
    const bad = badClockEntry(entry[0], entry[1]);
    if (bad) throw new KvError('KV_BAD_CONTEXT', `context is out of bounds: ${bad}`);
    vv.set(entry[0], entry[1]);
  }
  return vv;
}
