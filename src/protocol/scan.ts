/**
 * Scans: the key range a client asks for, the cursor that resumes one, the limits on every page,
 * and the streamed reply that carries one request's many lines. Pure: net/ parses the request
 * into a ScanRequest, the coordinator runs it (coordinator/scan-path.ts), and the TCP server
 * pulls the stream's lines one at a time as the client takes them (net/tcp-server.ts).
 */
import { KvError } from '../errors.js';

/** Keys one reply line carries at most (a client may ask for fewer with `pageKeys`). */
export const MAX_SCAN_PAGE_KEYS = 1000;
export const DEFAULT_SCAN_PAGE_KEYS = 256;
/**
 * Bytes of keys and values one reply line carries before it is closed (a line always carries at
 * least one key, however large its record: records fit a line by the record limits).
 */
export const SCAN_PAGE_BYTES = 256 * 1024;
/** Keys one kv.scan reply from a peer carries at most, and the bytes of their records. */
export const MAX_PEER_SCAN_KEYS = 1024;
export const PEER_SCAN_PAGE_BYTES = 512 * 1024;
/** Scans one client connection may run at once; one more is refused with KV_TOO_MANY_SCANS. */
export const MAX_SCANS_PER_CONNECTION = 4;
/**
 * Reply bytes a connection may hold unsent before its scans stop producing lines: the next page
 * is made only once the client took the previous ones (net/tcp-server.ts).
 */
export const SCAN_WINDOW_BYTES = 1024 * 1024;

/** A half-open key range [start, end): start inclusive (empty: the first key), end exclusive (undefined: no end). */
export interface KeyRange {
  start: Buffer;
  end: Buffer | undefined;
}

/** A scan as a client asks for it, validated. */
export interface ScanRequest {
  range: KeyRange;
  /** Resume strictly after this key (from a cursor). */
  after: Buffer | undefined;
  /** Keys to return at most (undefined: every key of the range). */
  limit: number | undefined;
  values: boolean;
  /** Every version of each key's record (clock, dots, deletions, deadlines), as an export line: implies values. */
  versions: boolean;
  pageKeys: number;
  r: number | undefined;
  consistency: 'strict' | 'sloppy' | undefined;
}

/** The end of the keys that start with `prefix`: its last byte below 0xff incremented (undefined: no end, e.g. prefix 0xff 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return undefined;
}

/**
 * The range a scan covers: [start, end) narrowed to the keys starting with `prefix`. KV_BAD_RANGE
 * when start is not below end, or the prefix and the bounds leave no key at all.
 */
export function scanRange(prefix: Buffer | undefined, start: Buffer | undefined, end: Buffer | undefined): KeyRange {
  if (start !== undefined && end !== undefined && Buffer.compare(start, end) >= 0) {
    throw new KvError('KV_BAD_RANGE', 'start must sort before end (the range is [start, end): start included, end not)', { field: 'start' });
  }
  let lo = start ?? Buffer.alloc(0);
  let hi = end;
  if (prefix !== undefined && prefix.length > 0) {
    if (Buffer.compare(prefix, lo) > 0) lo = prefix;
    const pEnd = prefixEnd(prefix);
    if (pEnd !== undefined && (hi === undefined || Buffer.compare(pEnd, hi) < 0)) hi = pEnd;
    if (hi !== undefined && Buffer.compare(lo, hi) >= 0) {
      throw new KvError('KV_BAD_RANGE', 'no key starts with the prefix within [start, end)', { field: 'prefix' });
    }
  }
  return { start: lo, end: hi };
}

/** True when `key` lies in the range. */
export function inRange(key: Buffer, range: KeyRange): boolean {
  return Buffer.compare(key, range.start) >= 0 && (range.end === undefined || Buffer.compare(key, range.end) < 0);
}

const CURSOR_PREFIX = 'c1.';
/** Longest cursor text accepted: a key of the largest size in base64url, and the prefix. */
const MAX_CURSOR_CHARS = 8192;

/** The cursor that resumes a scan after `key`: opaque to clients, versioned. */
export function encodeCursor(key: Buffer): string {
  return `${CURSOR_PREFIX}${key.toString('base64url')}`;
}

/** The key a cursor resumes after; KV_BAD_CURSOR when it is not one this store issued. */
export function decodeCursor(cursor: unknown, maxKeyBytes: number): Buffer {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_CHARS || !cursor.startsWith(CURSOR_PREFIX)) {
    throw new KvError('KV_BAD_CURSOR', 'cursor is not one a scan returned: pass the cursor of the last reply as it is', { field: 'cursor' });
  }
  const text = cursor.slice(CURSOR_PREFIX.length);
  const key = /^[A-Za-z0-9_-]+$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (key === undefined || key.length === 0 || key.length > maxKeyBytes || key.toString('base64url') !== text) {
    throw new KvError('KV_BAD_CURSOR', 'cursor is malformed: pass the cursor of the last reply as it is', { field: 'cursor' });
  }
  return key;
}

/**
 * A reply of many lines to one request: the server asks for the next line only once the client
 * has taken the earlier ones (so a client that stops reading stops the work behind it), and
 * cancels the stream when the connection goes.
 */
export interface ReplyStream {
  /** The next line's fields (without id and ok); `last` on the final one. Rejects with the error that ends the stream. */
  next(): Promise<{ fields: Record<string, unknown>; last: boolean }>;
  /** The connection closed or the daemon stops: release what the stream holds; next() is not called again. */
  cancel(): void;
  /** Where a client resumes if the stream ends now (undefined: from its start). */
  cursor(): string | undefined;
}

/** The reply field a handler returns a stream under (a symbol: never serialized). */
export const STREAMED_REPLY: unique symbol = Symbol('streamed reply');

/** The stream a handler's reply carries, if any. */
export function replyStreamOf(reply: object): ReplyStream | undefined {
  return (reply as { [STREAMED_REPLY]?: ReplyStream })[STREAMED_REPLY];
}
