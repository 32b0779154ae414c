/**
 * What a record from a peer may hold, checked once for every way records travel: a peer, buggy or
 * hostile, cannot store what a client could not. The frame decoder (net/peer-frames.ts) reads the
 * record's shape; this checks its contents against the node's limits.
 */
import { badClockEntry, MAX_CLOCK_ENTRIES } from '../clock/index.js';
import { KvError } from '../errors.js';
import type { StoredRecord } from '../storage/record-format.js';

/** What a record from a peer may hold: the same limits the node puts on client writes. */
export interface RecordBounds {
  maxSiblings: number;
  maxValueBytes: number;
}

/** Sibling timestamps are stored in 48 bits (ms: until the year 10889). */
export const MAX_TIMESTAMP = 2 ** 48 - 1;

export const malformedRecord = (why: string) => new KvError('KV_BAD_REQUEST', `malformed record: ${why}`);

/**
 * Checks a record from a peer as strictly as a client write: within `bounds`, clock entries and
 * dots within the clock bounds, every sibling's dot covered by the record's clock and named once.
 * Throws KV_BAD_REQUEST (KV_VALUE_TOO_LARGE for a value over the limit).
 */
export function checkRecordBounds(record: StoredRecord, bounds: RecordBounds): StoredRecord {
  const { clock, siblings } = record;
  if (clock.size > MAX_CLOCK_ENTRIES) throw malformedRecord(`more than ${MAX_CLOCK_ENTRIES} clock entries`);
  if (siblings.length > bounds.maxSiblings) throw malformedRecord(`more than ${bounds.maxSiblings} siblings (the sibling limit)`);
  for (const [actor, counter] of clock) {
    const why = badClockEntry(actor, counter);
    if (why) throw malformedRecord(`clock entry: ${why}`);
  }
  const dots = new Set<string>();
  for (const s of siblings) {
    if (!Number.isSafeInteger(s.ts) || s.ts < 0 || s.ts > MAX_TIMESTAMP) throw malformedRecord('sibling');
    const why = badClockEntry(s.dot[0], s.dot[1]);
    if (why) throw malformedRecord(`sibling dot: ${why}`);
    if ((clock.get(s.dot[0]) ?? 0) < s.dot[1]) throw malformedRecord("a sibling's dot is not covered by the record's clock");
    const dot = `${s.dot[1]}@${s.dot[0]}`;
    if (dots.has(dot)) throw malformedRecord('two siblings with one dot');
    dots.add(dot);
    if (s.value && s.value.stored.length > bounds.maxValueBytes) {
      throw new KvError('KV_VALUE_TOO_LARGE', `a replicated value of ${s.value.stored.length} bytes is over the limit of ${bounds.maxValueBytes}`);
    }
  }
  return record;
}
