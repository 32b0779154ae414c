/**
 * One well-formed example of every peer message and of its reply, for the conformance suites:
 * a new op without samples here fails the protocol suite.
 */
import { applyWrite, emptyRecord, emptyVector } from '../../src/clock/index.js';
import { KvError } from '../../src/errors.js';
import { newMember } from '../../src/membership/member-table.js';
import type { PeerOp, PeerReplies, PeerRequest } from '../../src/protocol/peer.js';
import { CODEC_BROTLI, CODEC_RAW, type StoredValue } from '../../src/storage/codec.js';
import type { StoredRecord } from '../../src/storage/record-format.js';

const raw = (text: string): StoredValue => {
  const bytes = Buffer.from(text);
  return { codec: CODEC_RAW, stored: bytes, raw: bytes };
};
const compressed: StoredValue = { codec: CODEC_BROTLI, stored: Buffer.from([0x0b, 0x02, 0x80, 0x68, 0x69, 0x03]), raw: undefined };

/** A record with two concurrent siblings (one compressed) and a tombstone superseding nothing. */
export const sampleRecord: StoredRecord = (() => {
  const base = applyWrite(emptyRecord<StoredValue>(), emptyVector, 'a~01', raw('first'), 1_700_000_000_000);
  const left = applyWrite(base, base.clock, 'b~02', raw('left \u00e9'), 1_700_000_000_001);
  const right = applyWrite(base, base.clock, 'c~03', compressed, 1_700_000_000_002);
  return { clock: new Map([...left.clock, ...right.clock]), siblings: [...left.siblings, ...right.siblings] };
})();
export const tombstone: StoredRecord = applyWrite(sampleRecord, sampleRecord.clock, 'a~01', null, 1_700_000_000_003);
/** A value with a deadline beside one without: stored in the format with deadlines. */
export const expiring: StoredRecord = (() => {
  const forever = applyWrite(emptyRecord<StoredValue>(), emptyVector, 'a~01', raw('forever'), 1_700_000_000_004);
  return applyWrite(forever, emptyVector, 'b~02', raw('soon'), 1_700_000_000_005, 1_700_000_060_005);
})();

const key = Buffer.from([0, 1, 2, 0xfe, 0xff]);
const member = { ...newMember({ name: 'n1', addr: '10.0.0.1:7070', incarnation: 'i1', generation: 5, weight: 2 }), heartbeat: 9 };
const cluster = { id: 'c0ffee', settings: { n: 3, w: 2, r: 2, consistency: 'strict' as const }, settingsVersion: 4 };

export const sampleRequests: Record<PeerOp, PeerRequest[]> = {
  'gossip.push': [
    { op: 'gossip.push', cluster: { kind: 'member', cluster }, members: [member] },
    { op: 'gossip.push', cluster: { kind: 'joiner', explicit: { n: 5, consistency: 'sloppy' } }, members: [member] },
  ],
  'kv.read': [
    { op: 'kv.read', key, digest: false },
    { op: 'kv.read', key, digest: true },
  ],
  'kv.clocks': [{ op: 'kv.clocks', keys: [key, Buffer.from('k2')] }],
  'kv.replicate': [
    { op: 'kv.replicate', key, record: sampleRecord },
    { op: 'kv.replicate', key, record: tombstone, hintFor: 'n3' },
    { op: 'kv.replicate', key, record: expiring },
  ],
  'kv.replicate.many': [
    {
      op: 'kv.replicate.many',
      items: [
        { key, record: sampleRecord },
        { key: Buffer.from('other'), record: tombstone, hintFor: 'n2' },
      ],
    },
  ],
  'kv.reap': [{ op: 'kv.reap', key, record: tombstone }],
  'kv.coordinate': [
    { op: 'kv.coordinate', key, value: Buffer.from('v'), context: sampleRecord.clock, w: 2, consistency: 'sloppy', keepSiblings: false },
    { op: 'kv.coordinate', key, value: null, keepSiblings: false },
    { op: 'kv.coordinate', key, value: Buffer.alloc(0), keepSiblings: true },
    { op: 'kv.coordinate', key, value: Buffer.from('v'), keepSiblings: false, expiresAt: 1_796_000_000_000 },
  ],
  'ae.hashes': [
    { op: 'ae.hashes', peer: 'n1', level: 0, ranges: [{ first: 0, last: 2 ** 32 - 1 }] },
    {
      op: 'ae.hashes',
      peer: 'n1',
      level: 1,
      ranges: [
        { first: 5, last: 5 },
        { first: 70_000, last: 1_200_000 },
      ],
    },
    {
      op: 'ae.hashes',
      peer: 'n1',
      level: 2,
      ranges: [
        { first: 0, last: 99 },
        { first: 0, last: 99 },
      ],
      segments: [0, 31],
    },
  ],
  'ae.leaves': [
    {
      op: 'ae.leaves',
      peer: 'n1',
      leaves: [
        { first: 0, last: 2 ** 32 - 1, leaf: 0 },
        { first: 10, last: 20, leaf: 7 },
        { first: 10, last: 2 ** 31, leaf: 1023 },
      ],
    },
  ],
  'ae.fetch': [{ op: 'ae.fetch', peer: 'n1', keys: [key] }],
  'ae.store': [{ op: 'ae.store', peer: 'n1', items: [{ key, record: sampleRecord }] }],
  'kv.scan': [
    { op: 'kv.scan', from: Buffer.alloc(0), inclusive: true, end: undefined, maxKeys: 1024, maxBytes: 512 * 1024, values: true },
    { op: 'kv.scan', from: key, inclusive: false, end: Buffer.from([0xff]), maxKeys: 2, maxBytes: 1000, values: false },
  ],
};

const hashes = (count: number) => Array.from({ length: count }, (_, i) => `h${i}`);

/** A well-formed reply to `request`. */
export function sampleReply(request: PeerRequest): PeerReplies[PeerOp] {
  switch (request.op) {
    case 'gossip.push':
      return { cluster, members: [member] };
    case 'kv.read':
      return request.digest ? { record: undefined, digest: 'd1' } : { record: sampleRecord, digest: undefined };
    case 'kv.clocks':
      return { clocks: request.keys.map((_, i) => (i === 0 ? sampleRecord.clock : undefined)) };
    case 'kv.replicate':
      return {};
    case 'kv.replicate.many':
      return { results: request.items.map((_, i) => (i === 0 ? undefined : new KvError('KV_TOO_MANY_SIBLINGS', 'too many', { limit: 64 }))) };
    case 'kv.reap':
      return { dropped: true };
    case 'kv.coordinate':
      return {
        record: sampleRecord,
        existed: true,
        quorum: { needed: 2, replied: 2, failed: 0, replicas: 3, answered: ['n1', 'n2'] },
        hinted: ['n3'],
        hintsDropped: ['n4'],
      };
    case 'ae.hashes':
      // The first range held, the others not (level 0) or all held.
      return { hashes: request.ranges.map((_, i) => (request.level === 0 ? (i === 0 ? ['r'] : undefined) : hashes(32))) };
    case 'ae.leaves':
      return { entries: request.leaves.map((_, i) => (i === 0 ? [['a2V5', 'd']] : [])) };
    case 'ae.fetch':
      return { records: request.keys.map(() => sampleRecord) };
    case 'ae.store':
      return { stored: request.items.length };
    case 'kv.scan':
      return request.inclusive
        ? { entries: [{ key, record: sampleRecord }], exhausted: true }
        : { entries: [{ key: Buffer.from([0, 1, 3]), record: tombstone }], exhausted: false };
  }
}
