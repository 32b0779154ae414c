/**
 * How large a record is, and how large the messages that carry it get: the arithmetic that lets
 * every record a node accepts travel to any peer with the same limits, and come back to a client
 * in a get reply, within one line (or frame: --max-line-bytes bounds both).
 *
 * A record's size, what --max-record-bytes bounds, is the bytes of its values (each the larger of
 * its stored and raw forms: peers get the stored form, clients the raw one). Its metadata (the
 * clock and each version's dot and timestamp, measured as JSON text) has a fixed bound of its own,
 * MAX_RECORD_META_BYTES: a real key's clock names a few nodes and takes well under 1 KiB.
 *
 * Between peers a record travels in its stored binary form (storage/record-format.ts) inside a
 * frame (net/peer-frames.ts): its stored values as they are, plus its metadata in binary, which
 * is at most its JSON measure plus 2 bytes per clock entry and 12 per sibling (fixed-width counters
 * and timestamps against their shortest decimal digits, and a deadline, which the JSON measure leaves out). A frame adds its envelope (header, counts,
 * the key, node names) around one record. A client's get reply is a JSON line: it carries the raw
 * values (base64, or UTF-8 only when that is no longer: see protocol/client.ts replyEncoding) and
 * the context (the clock in base64url).
 */
import { isUtf8 } from 'node:buffer';
import { MAX_CLOCK_ENTRIES } from '../clock/index.js';
import { MAX_REPLICAS } from '../config.js';
import { KvError } from '../errors.js';
import { CODEC_RAW } from '../storage/codec.js';
import { encodedRecordBytes, SIBLING_DEADLINE_BYTES, type StoredRecord } from '../storage/record-format.js';
import { UTF8_SLACK_BYTES } from './client.js';

/** The metadata a record may hold: clock entries, dots and timestamps as JSON text. */
export const MAX_RECORD_META_BYTES = 64 * 1024;

/** The limits the arithmetic depends on (a subset of config.ts Limits). */
export interface RecordLimits {
  maxLineBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  maxRecordBytes: number;
  maxSiblings: number;
}

/** Characters of a node name at most (membership/member-wire.ts MAX_MEMBER_NAME_CHARS; net/peer-frames.ts). */
const MAX_NAME_CHARS = 256;
/** A node name as JSON text at most: every character escaped as \uXXXX, quotes and a comma. */
const NAME_TEXT_BYTES = 6 * MAX_NAME_CHARS + 3;
/** A request id as the envelope budgets it (peers number theirs; a client's own string id is its own business). */
const ID_TEXT_BYTES = 256;
/**
 * The fixed text around the values of a client's get reply: field names, numbers, booleans, plus
 * up to 2×MAX_REPLICAS node names (`replicas` and `fallbacks`).
 */
export const LINE_ENVELOPE_BYTES = 1024 + ID_TEXT_BYTES + 2 * MAX_REPLICAS * NAME_TEXT_BYTES;
/** A node name in a frame at most: its u16 length and up to 3 UTF-8 bytes per UTF-16 unit. */
const NAME_FRAME_BYTES = 2 + 3 * MAX_NAME_CHARS;
/**
 * The fixed bytes around the records of the largest frame that carries them: header, counts,
 * flags and numbers (well under 2 KiB), plus up to 3×MAX_REPLICAS + 1 node names (a kv.coordinate
 * reply's `answered`, `hinted` and `hintsDropped`; the peer a request names).
 */
export const FRAME_ENVELOPE_BYTES = 2 * 1024 + (3 * MAX_REPLICAS + 1) * NAME_FRAME_BYTES;
/**
 * A forwarded context in a frame at most: the write path refuses, before forwarding, a context
 * whose clock text (clockTextBytes: at least 7 bytes per entry more than its actor's UTF-8) is over
 * MAX_RECORD_META_BYTES; in binary an entry takes its actor's UTF-8 and 8 bytes.
 */
const CLOCK_FRAME_BYTES = 2 + MAX_RECORD_META_BYTES + MAX_CLOCK_ENTRIES;
/** A value's deadline in a get reply's `expiresAt` list: up to 15 digits of milliseconds or `null`, and a comma. */
const EXPIRES_TEXT_BYTES = 16;
/** The context's fixed part: `["<16-hex tag>",[…]]`. */
const CONTEXT_FIXED_BYTES = 24;

/** Base64 characters of `n` bytes. */
export function base64Bytes(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** Plain ASCII without quotes, backslashes or control characters: JSON text is the string in quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Bytes of `s` as a JSON string (quotes included), as JSON.stringify writes it and UTF-8 sends it. */
export function jsonStringBytes(s: string): number {
  return PLAIN.test(s) ? s.length + 2 : Buffer.byteLength(JSON.stringify(s));
}

function digits(n: number): number {
  return String(n).length;
}

/**
 * Bytes of a record's metadata measured as JSON text
 * (`{"clock":[["actor",n],…],"siblings":[["actor",n,ts,codec,"<value>"],…]}` without the values'
 * characters): what MAX_RECORD_META_BYTES bounds.
 */
export function recordMetaBytes(record: StoredRecord): number {
  // {"clock":[ … ],"siblings":[ … ]}
  let bytes = 10 + 14 + 2;
  let first = true;
  for (const [actor, n] of record.clock) {
    bytes += (first ? 0 : 1) + 3 + jsonStringBytes(actor) + digits(n); // [actor,n]
    first = false;
  }
  first = true;
  for (const s of record.siblings) {
    // [actor,counter,ts,codec,"<base64>"] or [actor,counter,ts,-1,null]
    bytes += (first ? 0 : 1) + 5 + jsonStringBytes(s.dot[0]) + digits(s.dot[1]) + digits(s.ts) + (s.value ? 1 + digits(s.value.codec) + 2 : 7);
    first = false;
  }
  return bytes;
}

/** Bytes of a clock's entries as JSON text (`["actor",n],…`): what a context adds to the metadata of the record a write makes. */
export function clockTextBytes(clock: ReadonlyMap<string, number>): number {
  let bytes = 0;
  for (const [actor, n] of clock) bytes += 4 + jsonStringBytes(actor) + digits(n);
  return bytes;
}

/**
 * Bytes a record item takes in a batched frame (kv.replicate.many, ae.store, an ae.fetch reply):
 * the key and the record with their lengths, the flags, the hint's name.
 */
export function recordItemBytes(key: Buffer, record: StoredRecord, hintFor?: string): number {
  return 4 + key.length + 4 + encodedRecordBytes(record) + 2 + (hintFor === undefined ? 0 : 2 + Buffer.byteLength(hintFor, 'utf8'));
}

/**
 * A record's value bytes as far as known without decoding: each live value's larger form, with
 * `unknown` counting the compressed values whose raw size is not known yet.
 */
export function knownValueBytes(record: StoredRecord): { bytes: number; unknown: number } {
  let bytes = 0;
  let unknown = 0;
  for (const s of record.siblings) {
    if (!s.value) continue;
    if (s.value.raw === undefined && s.value.codec !== CODEC_RAW) unknown++;
    bytes += Math.max(s.value.stored.length, s.value.raw?.length ?? 0);
  }
  return { bytes, unknown };
}

/** The longest stored form of a record within the limits: its values, its metadata at its bound, and the binary's slack over that bound. */
export function largestRecordStoredBytes(limits: Pick<RecordLimits, 'maxRecordBytes' | 'maxSiblings'>): number {
  return limits.maxRecordBytes + MAX_RECORD_META_BYTES + 2 * MAX_CLOCK_ENTRIES + (6 + SIBLING_DEADLINE_BYTES) * limits.maxSiblings;
}

/** The lines (and frames) the largest record within `limits` makes, by message. */
export interface LargestLines {
  /** A peer frame with one record: kv.replicate(.many), kv.reap, ae.store, replies to kv.read, ae.fetch, kv.coordinate. */
  recordMessage: number;
  /** A write forwarded to a replica (a kv.coordinate frame): the key, the value and the client's context. */
  forwardedWrite: number;
  /** A client's get reply: every raw value, the context, the replicas that answered. */
  getReply: number;
}

export function largestLines(limits: RecordLimits): LargestLines {
  const key = 4 + limits.maxKeyBytes;
  const context = base64Bytes(MAX_RECORD_META_BYTES + CONTEXT_FIXED_BYTES);
  return {
    recordMessage: FRAME_ENVELOPE_BYTES + key + 4 + largestRecordStoredBytes(limits),
    forwardedWrite: FRAME_ENVELOPE_BYTES + key + 4 + limits.maxValueBytes + CLOCK_FRAME_BYTES,
    // Values: base64 plus quotes and a comma each (UTF-8 is used only when no longer, give or take UTF8_SLACK_BYTES).
    getReply: LINE_ENVELOPE_BYTES + Math.ceil((4 * limits.maxRecordBytes) / 3) + (6 + EXPIRES_TEXT_BYTES + UTF8_SLACK_BYTES) * limits.maxSiblings + context,
  };
}

/** The longest line the largest record within `limits` makes, whatever message carries it. */
export function largestRecordLineBytes(limits: RecordLimits): number {
  const lines = largestLines(limits);
  return Math.max(lines.recordMessage, lines.forwardedWrite, lines.getReply);
}

/**
 * The largest --max-record-bytes whose messages fit `maxLineBytes` with these other limits
 * (0 when even an empty record cannot).
 */
export function recordBytesFitting(limits: Omit<RecordLimits, 'maxRecordBytes'>): number {
  let lo = 0;
  let hi = limits.maxLineBytes;
  if (largestRecordLineBytes({ ...limits, maxRecordBytes: 0 }) > limits.maxLineBytes) return 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (largestRecordLineBytes({ ...limits, maxRecordBytes: mid }) <= limits.maxLineBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Why these limits let a node accept a record it could not send, or undefined when they are consistent. */
export function recordLimitsProblem(limits: RecordLimits): string | undefined {
  if (limits.maxValueBytes > limits.maxRecordBytes) {
    return `--max-value-bytes (${limits.maxValueBytes}) must not exceed --max-record-bytes (${limits.maxRecordBytes}): a record holds at least one value`;
  }
  const line = largestRecordLineBytes(limits);
  if (line <= limits.maxLineBytes) return undefined;
  const fitting = recordBytesFitting(limits);
  return (
    `--max-record-bytes ${limits.maxRecordBytes} (with --max-key-bytes ${limits.maxKeyBytes}, --max-value-bytes ${limits.maxValueBytes}, --max-siblings ${limits.maxSiblings}) ` +
    `makes messages of up to ${line} bytes (between nodes, and get replies), over --max-line-bytes ${limits.maxLineBytes}: ` +
    `raise --max-line-bytes to at least ${line}${fitting >= limits.maxValueBytes ? `, or lower --max-record-bytes to at most ${fitting}` : ''}`
  );
}

/** Shows a key in a message: UTF-8 text, else base64, cut at 100 characters. */
export function printableKey(key: Buffer): string {
  const printable = isUtf8(key) ? key.toString('utf8') : `base64:${key.toString('base64')}`;
  return printable.length > 100 ? `${printable.slice(0, 100)}…` : printable;
}

/**
 * KV_RECORD_TOO_LARGE for a record that cannot travel to a peer: its message would be `bytes`
 * long, over this node's line limit (`maxLineBytes`), or `peer` refused the frame with it alone.
 */
export function unsendableRecord(key: Buffer, bytes: number, maxLineBytes: number | undefined, peer?: string): KvError {
  const shown = printableKey(key);
  const why =
    maxLineBytes === undefined
      ? `${peer} refused the frame that carried it alone (its --max-line-bytes is smaller than this node's)`
      : `more than one frame to a peer holds (${maxLineBytes} bytes, --max-line-bytes)`;
  return new KvError('KV_RECORD_TOO_LARGE', `key ${JSON.stringify(shown)}: its record takes ${bytes} bytes in a message, ${why}; not sent`, {
    key: shown,
    bytes,
    ...(maxLineBytes === undefined ? { peer } : { limit: maxLineBytes }),
  });
}

/**
 * True when a peer (or this node) refused one record for good: too large to send or to keep, or
 * over the sibling or value limits. Sending it again changes nothing, so anti-entropy and
 * hand-off count it and move on.
 */
export function isRecordRefused(err: unknown): boolean {
  const code = (err as KvError | undefined)?.code;
  return code === 'KV_RECORD_TOO_LARGE' || code === 'KV_TOO_MANY_SIBLINGS' || code === 'KV_VALUE_TOO_LARGE';
}

/**
 * KV_RECORD_TOO_LARGE for a key whose record would hold `bytes` of values (or of metadata: its
 * clock and versions), over `limit`. Nothing was stored.
 */
export function recordTooLarge(key: Buffer, what: 'values' | 'metadata', bytes: number, limit: number): KvError {
  const shown = printableKey(key);
  const message =
    what === 'values'
      ? `key ${JSON.stringify(shown)}: its record would hold ${bytes} bytes of values, over the limit of ${limit} (--max-record-bytes); nothing was stored. Resolve its siblings by writing with the context of a read, or write a smaller value`
      : `key ${JSON.stringify(shown)}: its clock and versions would take ${bytes} bytes, over the limit of ${limit}; nothing was stored`;
  return new KvError('KV_RECORD_TOO_LARGE', message, { key: shown, bytes, limit, what });
}
