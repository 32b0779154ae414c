/**
 * Causal records as JSON between nodes: values travel in their stored form (codec flag + bytes,
 * base64), so a replica stores exactly what the coordinator compressed, without recompressing.
 *   {"clock":[["a~1f",3]],"siblings":[["a~1f",3,1732550000000,1,"<base64>"],["b~9c",1,1732550000001,-1,null]]}
 * (codec -1 and null bytes: a tombstone). Records from peers are validated like client input.
 */

import { vectorEntries } from '../clock/index.js';
import { KvError } from '../errors.js';
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

export function recordFromJson(raw: unknown): StoredRecord {
  const bad = (why: string) => new KvError('KV_BAD_REQUEST', `malformed record: ${why}`);
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const { clock, siblings } = raw as Record<string, unknown>;
  if (!Array.isArray(clock) || !Array.isArray(siblings)) throw bad('clock and siblings must be arrays');
  const vv = new Map<string, number>();
  for (const entry of clock) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1]) || entry[1] < 1)
      throw bad('clock entry');
    vv.set(entry[0], entry[1]);
  }
  const out: StoredRecord['siblings'][number][] = [];
  for (const s of siblings) {
    if (!Array.isArray(s) || s.length !== 5 || typeof s[0] !== 'string' || !Number.isSafeInteger(s[1]) || !Number.isSafeInteger(s[2])) throw bad('sibling');
    const codec = s[3];
    let value: StoredValue | null = null;
    if (codec !== -1) {
      if (codec !== CODEC_RAW && codec !== CODEC_BROTLI) throw bad('sibling value');
      const stored = parseBytes(s[4], 'value', 'base64');
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
