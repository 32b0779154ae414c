/**
 * On-disk form of a key's record: the causal record (clock + siblings, tombstones included) with
 * each value in its stored (possibly compressed) form. Binary and versioned so that clustering,
 * hints and anti-entropy reuse it without a migration.
 *
 *   u8  format (1, or 2 when a value has a deadline)
 *   u16 clock entries      { u16 actor length, actor UTF-8, u48 counter }
 *   u16 siblings           { u16 actor length, actor UTF-8, u48 counter, u48 ts ms,
 *                            [format 2: u48 expiresAt ms, 0 for none,]
 *                            u8 flags (bit 7 tombstone, bits 0-6 codec), u32 length, bytes }
 *
 * A record without deadlines is written in format 1, byte for byte as before deadlines existed.
 */
import type { CausalRecord, Sibling } from '../clock/index.js';
import { KvError } from '../errors.js';
import { CODEC_BROTLI, CODEC_RAW, type CodecFlag, type StoredValue } from './codec.js';

export type StoredRecord = CausalRecord<StoredValue>;

const FORMAT = 1;
const FORMAT_WITH_DEADLINES = 2;
const TOMBSTONE_FLAG = 0x80;
/** Bytes a sibling takes in the record besides its actor's and its value's bytes, by format. */
export const SIBLING_FIXED_BYTES = 2 + 6 + 6 + 1 + 4;
export const SIBLING_DEADLINE_BYTES = 6;

/** True when the record is written with deadlines (format 2): some value of it expires. */
export function hasDeadlines(record: CausalRecord<unknown>): boolean {
  for (const s of record.siblings) if (s.expiresAt !== undefined) return true;
  return false;
}

/** Bytes of `encodeRecord(record)`, without encoding it. */
export function encodedRecordBytes(record: StoredRecord): number {
  const siblingFixed = SIBLING_FIXED_BYTES + (hasDeadlines(record) ? SIBLING_DEADLINE_BYTES : 0);
  let size = 1 + 2 + 2;
  for (const [actor] of record.clock) size += 2 + Buffer.byteLength(actor, 'utf8') + 6;
  for (const s of record.siblings) size += siblingFixed + Buffer.byteLength(s.dot[0], 'utf8') + (s.value?.stored.length ?? 0);
  return size;
}

export function encodeRecord(record: StoredRecord): Buffer {
  const clock = [...record.clock];
  const actors = new Map<string, Buffer>();
  const actorBytes = (a: string): Buffer => {
    let b = actors.get(a);
    if (!b) {
      b = Buffer.from(a, 'utf8');
      actors.set(a, b);
    }
    return b;
  };
  const deadlines = hasDeadlines(record);
  const siblingFixed = SIBLING_FIXED_BYTES + (deadlines ? SIBLING_DEADLINE_BYTES : 0);
  let size = 1 + 2 + 2;
  for (const [actor] of clock) size += 2 + actorBytes(actor).length + 6;
  for (const s of record.siblings) size += siblingFixed + actorBytes(s.dot[0]).length + (s.value?.stored.length ?? 0);

  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(deadlines ? FORMAT_WITH_DEADLINES : FORMAT, 0);
  at = out.writeUInt16BE(clock.length, at);
  for (const [actor, counter] of clock) {
    at = writeActor(out, at, actorBytes(actor));
    at = out.writeUIntBE(counter, at, 6);
  }
  at = out.writeUInt16BE(record.siblings.length, at);
  for (const s of record.siblings) {
    at = writeActor(out, at, actorBytes(s.dot[0]));
    at = out.writeUIntBE(s.dot[1], at, 6);
    at = out.writeUIntBE(s.ts, at, 6);
    if (deadlines) at = out.writeUIntBE(s.expiresAt ?? 0, at, 6);
    const flags = s.value === null ? TOMBSTONE_FLAG : s.value.codec;
    at = out.writeUInt8(flags, at);
    const bytes = s.value?.stored;
    at = out.writeUInt32BE(bytes?.length ?? 0, at);
    if (bytes) at += bytes.copy(out, at);
  }
  return out;
}

export function decodeRecord(data: Buffer): StoredRecord {
  try {
    const format = data.readUInt8(0);
    if (format !== FORMAT && format !== FORMAT_WITH_DEADLINES) throw new Error(`unknown record format ${format}`);
    const deadlineBytes = format === FORMAT_WITH_DEADLINES ? SIBLING_DEADLINE_BYTES : 0;
    let at = 1;
    const clock = new Map<string, number>();
    const nClock = data.readUInt16BE(at);
    at += 2;
    for (let i = 0; i < nClock; i++) {
      const [actor, next] = readActor(data, at);
      clock.set(actor, data.readUIntBE(next, 6));
      at = next + 6;
    }
    const nSiblings = data.readUInt16BE(at);
    at += 2;
    const siblings: Sibling<StoredValue>[] = [];
    for (let i = 0; i < nSiblings; i++) {
      const [actor, next] = readActor(data, at);
      at = next;
      const counter = data.readUIntBE(at, 6);
      const ts = data.readUIntBE(at + 6, 6);
      const expiresAt = deadlineBytes > 0 ? data.readUIntBE(at + 12, 6) : 0;
      at += 12 + deadlineBytes;
      const flags = data.readUInt8(at);
      const length = data.readUInt32BE(at + 1);
      at += 5;
      if (at + length > data.length) throw new Error('truncated value');
      const stored = data.subarray(at, at + length);
      at += length;
      if ((flags & TOMBSTONE_FLAG) !== 0) {
        if (expiresAt !== 0) throw new Error('a tombstone with a deadline');
        siblings.push({ dot: [actor, counter], ts, value: null });
        continue;
      }
      const codec = flags as CodecFlag;
      if (codec !== CODEC_RAW && codec !== CODEC_BROTLI) throw new Error(`unknown codec ${codec}`);
      const value: StoredValue = { codec, stored, raw: codec === CODEC_RAW ? stored : undefined };
      siblings.push(expiresAt === 0 ? { dot: [actor, counter], ts, value } : { dot: [actor, counter], ts, value, expiresAt });
    }
    return { clock, siblings };
  } catch (err) {
    throw new KvError('KV_STORAGE', `corrupt record: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** Bytes a decoded record holds in memory (stored + decoded values, plus a fixed overhead). */
export function recordMemoryBytes(record: StoredRecord): number {
  let bytes = 64;
  for (const s of record.siblings) {
    bytes += 64 + s.dot[0].length;
    if (s.value) bytes += s.value.stored.length + (s.value.raw && s.value.raw !== s.value.stored ? s.value.raw.length : 0);
  }
  return bytes;
}

function writeActor(out: Buffer, at: number, actor: Buffer): number {
  const next = out.writeUInt16BE(actor.length, at);
  return next + actor.copy(out, next);
}

function readActor(data: Buffer, at: number): [string, number] {
  const length = data.readUInt16BE(at);
  const start = at + 2;
  if (start + length > data.length) throw new Error('truncated actor');
  return [data.toString('utf8', start, start + length), start + length];
}
