/**
 * The export format: one JSON object per line, a key's whole causal record, so that an import
 * reproduces every version with its dot, its clock and its deadline, and merges it as replicas
 * merge (importing a dump twice, or into the cluster it came from, changes nothing).
 *
 *   {"v":1,"key":"user:1","encoding":"utf8","clock":[["n1~ab12",3],["n2~cd34",1]],
 *    "versions":[{"dot":["n1~ab12",3],"ts":1796000000000,"value":"Ada","expiresAt":1796000060000},
 *                {"dot":["n2~cd34",1],"ts":1795999990000,"deleted":true}],
 *    "context":"…"}
 *
 * - `v`: the format's version; a reader refuses a version it does not know.
 * - `encoding`: `utf8` when the key and every value are valid UTF-8 and not much longer escaped than
 *   in base64 (as a get reply chooses), else `base64` for all of them.
 * - `clock`: the record's version vector, entries sorted by actor.
 * - `versions`: the siblings, oldest first: each its dot, its time, and either its value (with its
 *   deadline, if it has one) or `"deleted": true` (a tombstone concurrent with a live value).
 * - `context`: what a get of the key returns now; informational (an import recomputes it).
 *
 * Pure: the coordinator and the CLI move the lines; this turns records into lines and back,
 * checking every field of a line as strictly as the peer protocol checks a record.
 */
import { badClockEntry, type CausalRecord, compareSiblings, encodeContext, MAX_CLOCK_ENTRIES, type Sibling, vectorEntries } from '../clock/index.js';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { replyEncoding } from './client.js';

export const EXPORT_FORMAT_VERSION = 1;

/** A key's record with its values raw, as an export line carries it. */
export interface ExportedRecord {
  key: Buffer;
  record: CausalRecord<Buffer>;
}

/** What a line may hold: the limits of the node that imports it. */
export interface ImportBounds {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxSiblings: number;
}

/** Times (a version's `ts`, a deadline) are stored in 48 bits of milliseconds. */
const MAX_TIME = 2 ** 48 - 1;

const LINE_FIELDS = new Set(['v', 'key', 'encoding', 'clock', 'versions', 'context']);
const VERSION_FIELDS = new Set(['dot', 'ts', 'value', 'deleted', 'expiresAt']);

/** The export line of a key's record (values raw). */
export function exportLine(key: Buffer, record: CausalRecord<Buffer>): Record<string, unknown> {
  // As a get reply chooses: UTF-8 only when it is valid and no longer than base64 once escaped, so the line stays within the record limits' arithmetic.
  const values: Buffer[] = [];
  for (const s of record.siblings) if (s.value !== null) values.push(s.value);
  const encoding = replyEncoding([key, ...values], 'utf8');
  return {
    v: EXPORT_FORMAT_VERSION,
    key: key.toString(encoding),
    encoding,
    clock: vectorEntries(record.clock),
    versions: record.siblings.map((s) =>
      s.value === null
        ? { dot: s.dot, ts: s.ts, deleted: true }
        : { dot: s.dot, ts: s.ts, value: s.value.toString(encoding), ...(s.expiresAt === undefined ? {} : { expiresAt: s.expiresAt }) },
    ),
    context: encodeContext(key, record.clock),
  };
}

const badLine = (why: string, details: Record<string, unknown> = {}) => new KvError('KV_BAD_IMPORT', `not an export line: ${why}`, details);

/** The record an export line holds, checked against `bounds`; KV_BAD_IMPORT says what is wrong (KV_KEY_TOO_LARGE, KV_VALUE_TOO_LARGE for sizes). */
export function parseExportLine(raw: unknown, bounds: ImportBounds): ExportedRecord {
  if (!isJsonObject(raw)) throw badLine('a line must be a JSON object');
  for (const name of Object.keys(raw)) if (!LINE_FIELDS.has(name)) throw badLine(`unknown field "${name.slice(0, 64)}"`, { field: name.slice(0, 64) });
  if (raw.v !== EXPORT_FORMAT_VERSION) {
    throw badLine(`format version ${JSON.stringify(raw.v)?.slice(0, 32)}; this kvctl reads version ${EXPORT_FORMAT_VERSION}`, { field: 'v' });
  }
  const encoding = raw.encoding;
  if (encoding !== 'utf8' && encoding !== 'base64') throw badLine('encoding must be "utf8" or "base64"', { field: 'encoding' });
  const bytes = (text: unknown, field: string): Buffer => {
    if (typeof text !== 'string') throw badLine(`${field} must be a string`, { field });
    if (encoding === 'base64') {
      const out = Buffer.from(text, 'base64');
      // Node skips what is not base64: a string is valid when it encodes back to itself.
      if (out.toString('base64') !== text) throw badLine(`${field} is not valid base64`, { field });
      return out;
    }
    if (!text.isWellFormed()) throw badLine(`${field} holds a lone UTF-16 surrogate`, { field });
    return Buffer.from(text, 'utf8');
  };
  const key = bytes(raw.key, 'key');
  if (key.length === 0) throw new KvError('KV_EMPTY_KEY', 'key must not be empty');
  if (key.length > bounds.maxKeyBytes) {
    throw new KvError('KV_KEY_TOO_LARGE', `key is ${key.length} bytes; the limit is ${bounds.maxKeyBytes}`, { bytes: key.length, limit: bounds.maxKeyBytes });
  }
  const clock = new Map<string, number>();
  if (!Array.isArray(raw.clock) || raw.clock.length > MAX_CLOCK_ENTRIES)
    throw badLine(`clock must be a list of at most ${MAX_CLOCK_ENTRIES} entries`, { field: 'clock' });
  for (const entry of raw.clock) {
    if (!Array.isArray(entry) || entry.length !== 2) throw badLine('a clock entry must be [actor, counter]', { field: 'clock' });
    const why = badClockEntry(entry[0], entry[1]);
    if (why) throw badLine(`clock entry: ${why}`, { field: 'clock' });
    if (clock.has(entry[0])) throw badLine('a clock names an actor twice', { field: 'clock' });
    clock.set(entry[0] as string, entry[1] as number);
  }
  if (!Array.isArray(raw.versions) || raw.versions.length === 0 || raw.versions.length > bounds.maxSiblings) {
    throw badLine(`versions must be a list of 1 to ${bounds.maxSiblings} versions (the sibling limit)`, { field: 'versions' });
  }
  const dots = new Set<string>();
  const siblings: Sibling<Buffer>[] = [];
  for (const version of raw.versions) {
    if (!isJsonObject(version)) throw badLine('a version must be a JSON object', { field: 'versions' });
    for (const name of Object.keys(version)) {
      if (!VERSION_FIELDS.has(name)) throw badLine(`unknown version field "${name.slice(0, 64)}"`, { field: name.slice(0, 64) });
    }
    const dot = version.dot;
    if (!Array.isArray(dot) || dot.length !== 2) throw badLine('a version needs its dot, [actor, counter]', { field: 'dot' });
    const why = badClockEntry(dot[0], dot[1]);
    if (why) throw badLine(`dot: ${why}`, { field: 'dot' });
    const [actor, counter] = dot as [string, number];
    if ((clock.get(actor) ?? 0) < counter) throw badLine("a version's dot is not covered by the clock", { field: 'dot' });
    if (dots.has(`${counter}@${actor}`)) throw badLine('two versions with one dot', { field: 'dot' });
    dots.add(`${counter}@${actor}`);
    const ts = version.ts;
    if (!Number.isSafeInteger(ts) || (ts as number) < 0 || (ts as number) > MAX_TIME) throw badLine('ts must be a time in milliseconds', { field: 'ts' });
    if (version.deleted === true) {
      if (version.value !== undefined || version.expiresAt !== undefined) throw badLine('a deleted version has no value and no deadline', { field: 'deleted' });
      siblings.push({ dot: [actor, counter], ts: ts as number, value: null });
      continue;
    }
    if (version.deleted !== undefined) throw badLine('deleted must be true when given', { field: 'deleted' });
    const value = bytes(version.value, 'value');
    if (value.length > bounds.maxValueBytes) {
      throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${bounds.maxValueBytes}`, {
        bytes: value.length,
        limit: bounds.maxValueBytes,
      });
    }
    const expiresAt = version.expiresAt;
    if (expiresAt === undefined) siblings.push({ dot: [actor, counter], ts: ts as number, value });
    else if (!Number.isSafeInteger(expiresAt) || (expiresAt as number) < 1 || (expiresAt as number) > MAX_TIME) {
      throw badLine('expiresAt must be a time in milliseconds', { field: 'expiresAt' });
    } else siblings.push({ dot: [actor, counter], ts: ts as number, value, expiresAt: expiresAt as number });
  }
  // Replicas list siblings in one order: an imported record is stored as its replicas store it.
  siblings.sort(compareSiblings);
  return { key, record: { clock, siblings } };
}
