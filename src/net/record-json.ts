/**
 * Causal records as JSON between nodes: values travel in their stored form (codec flag + bytes,
 * base64), so a replica stores exactly what the coordinator compressed, without recompressing.
 *   {"clock":[["a~1f",3]],"siblings":[["a~1f",3,1732550000000,1,"<base64>"],["b~9c",1,1732550000001,-1,null]]}
 * (codec -1 and null bytes: a tombstone). Records from peers are validated like client input.
 */

import { badClockEntry, MAX_CLOCK_ENTRIES, vectorEntries } from '../clock/index.js';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { CODEC_BROTLI, CODEC_RAW, type CodecFlag, type StoredValue } from '../storage/codec.js';
import type { StoredRecord } from '../storage/record-format.js';
import { parseBytes } from './fields.js';

export type JsonRecord = { clock: [string, number][]; siblings: [string, number, number, number, string | null][] };

export function recordToJson(record: StoredRecord): JsonRecord {
  return {
    clock: vectorEntries(record.clock),
    siblings: record.siblings.map((s) => [s.dot[0], s.dot[1], s.ts, s.value ? s.value.codec : -1, s.value ? s.value.stored.toString('base64') : null]),
  };
}

/** What a record from a peer may hold: the same limits the node puts on client writes. */
export interface RecordBounds {
  maxSiblings: number;
  maxValueBytes: number;
}

/** Sibling timestamps are stored in 48 bits (ms: until the year 10889). */
const MAX_TIMESTAMP = 2 ** 48 - 1;

/**
 * A record from a peer, validated as strictly as a client write: well-formed, within `bounds`,
 * clock entries and dots within the clock bounds, every sibling's dot covered by the record's
 * clock and named once. A peer, buggy or hostile, cannot store what a client could not.
 */
export function recordFromJson(raw: unknown, bounds: RecordBounds): StoredRecord {
  const bad = (why: string) => new KvError('KV_BAD_REQUEST', `malformed record: ${why}`);
  if (!isJsonObject(raw)) throw bad('not an object');
  const { clock, siblings } = raw;
  if (!Array.isArray(clock) || !Array.isArray(siblings)) throw bad('clock and siblings must be arrays');
  if (clock.length > MAX_CLOCK_ENTRIES) throw bad(`more than ${MAX_CLOCK_ENTRIES} clock entries`);
  if (siblings.length > bounds.maxSiblings) throw bad(`more than ${bounds.maxSiblings} siblings (the sibling limit)`);
  const vv = new Map<string, number>();
  for (const entry of clock) {
    if (!Array.isArray(entry) || entry.length !== 2 || vv.has(entry[0])) throw bad('clock entry');
    const why = badClockEntry(entry[0], entry[1]);
    if (why) throw bad(`clock entry: ${why}`);
    vv.set(entry[0], entry[1]);
  }
  const out: StoredRecord['siblings'][number][] = [];
  const dots = new Set<string>();
  for (const s of siblings) {
    if (!Array.isArray(s) || s.length !== 5 || !Number.isSafeInteger(s[2]) || s[2] < 0 || s[2] > MAX_TIMESTAMP) throw bad('sibling');
    const why = badClockEntry(s[0], s[1]);
    if (why) throw bad(`sibling dot: ${why}`);
    if ((vv.get(s[0]) ?? 0) < s[1]) throw bad("a sibling's dot is not covered by the record's clock");
    const dot = `${s[1]}@${s[0]}`;
    if (dots.has(dot)) throw bad('two siblings with one dot');
    dots.add(dot);
    const codec = s[3];
    let value: StoredValue | null = null;
    if (codec !== -1) {
      if (codec !== CODEC_RAW && codec !== CODEC_BROTLI) throw bad('sibling value');
      const stored = parseBytes(s[4], 'value', 'base64');
      if (stored.length > bounds.maxValueBytes) {
        throw new KvError('KV_VALUE_TOO_LARGE', `a replicated value of ${stored.length} bytes is over the limit of ${bounds.maxValueBytes}`);
      }
      value = { codec: codec as CodecFlag, stored, raw: codec === CODEC_RAW ? stored : undefined };
    } else if (s[4] !== null) throw bad('tombstone with bytes');
    out.push({ dot: [s[0], s[1]], ts: s[2], value });
  }
  return { clock: vv, siblings: out };
}

/**
 * Texts already made, per record object: a coordinator sends the same written record to each of
 * the other replicas, and stringifying its base64 values once per replica was ~4 % of a cluster
 * put's main thread. Weak, so a record's text goes when the record does.
 */
const texts = new WeakMap<StoredRecord, string>();

/**
 * `JSON.stringify(recordToJson(record))`, written directly: base64 needs no escaping, so a value
 * goes into the text without JSON.stringify scanning and copying it once more (measured: that
 * scan was ~1.5 % of a 3-node cluster's CPU under puts).
 */
export function recordJsonText(record: StoredRecord): string {
  const cached = texts.get(record);
  if (cached !== undefined) return cached;
  let text = '{"clock":[';
  let first = true;
  for (const [actor, n] of vectorEntries(record.clock)) {
    text += `${first ? '' : ','}[${JSON.stringify(actor)},${n}]`;
    first = false;
  }
  text += '],"siblings":[';
  first = true;
  for (const s of record.siblings) {
    const value = s.value ? `${s.value.codec},"${s.value.stored.toString('base64')}"` : '-1,null';
    text += `${first ? '' : ','}[${JSON.stringify(s.dot[0])},${s.dot[1]},${s.ts},${value}]`;
    first = false;
  }
  text += ']}';
  texts.set(record, text);
  return text;
}
