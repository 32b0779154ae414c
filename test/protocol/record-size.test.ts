/**
 * The size arithmetic of records: the sizes it computes are the bytes net/ writes (frames between
 * peers, JSON lines to clients), and the largest record within the limits, sent in every message
 * that carries one, stays within the line or frame the calculation promises. Limits that break
 * the promise are refused with the numbers.
 */
import t from 'tap';
import { nodeLimits } from '../../src/cli/start-nodes.js';
import { encodeContext } from '../../src/clock/index.js';
import { defaultLimits } from '../../src/config.js';
import { encodePeerReply, encodePeerRequest } from '../../src/net/peer-frames.js';
import { replyEncoding } from '../../src/protocol/client.js';
import type { PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import {
  largestLines,
  largestRecordLineBytes,
  MAX_RECORD_META_BYTES,
  type RecordLimits,
  recordBytesFitting,
  recordItemBytes,
  recordLimitsProblem,
  recordMetaBytes,
} from '../../src/protocol/record-size.js';
import { CODEC_RAW } from '../../src/storage/codec.js';
import { encodedRecordBytes, encodeRecord, type StoredRecord } from '../../src/storage/record-format.js';
import { randomRecord as anyRecord, seededRandom } from '../helpers/random.js';

const ACTORS = ['node1~a1', 'n"quote~b2', 'ünïcode~c3', 'back\\slash~d4', 'tab\tnew\nline~e5', '\u0001ctl~f6', 'lone\ud800surrogate', '😀~g7'];
const randomRecord = (rng: () => number) => anyRecord(rng, { actors: ACTORS, maxCounter: 2 ** 47, maxValueBytes: 50 });

t.test('encodedRecordBytes and recordItemBytes are the bytes a frame carries; the binary metadata stays within its slack over the JSON measure', async (t) => {
  const rng = seededRandom(7);
  const wrong: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const record = randomRecord(rng);
    const stored = encodeRecord(record).length;
    if (encodedRecordBytes(record) !== stored) wrong.push(`#${i}: computed ${encodedRecordBytes(record)}, stored form ${stored}`);
    const key = Buffer.from(`key ${i}`);
    const hintFor = i % 2 === 0 ? `ñode-${i}` : undefined;
    const item = { key, record, ...(hintFor ? { hintFor } : {}) };
    const one = encodePeerRequest({ op: 'kv.replicate.many', items: [item] }, 1).length;
    const two = encodePeerRequest({ op: 'kv.replicate.many', items: [item, item] }, 1).length;
    // An item in a frame: its bytes, plus the ae.fetch reply's presence flag at most.
    if (recordItemBytes(key, record, hintFor) < two - one || recordItemBytes(key, record, hintFor) > two - one + 1) wrong.push(`#${i}: item`);
    let values = 0;
    for (const s of record.siblings) if (s.value) values += s.value.stored.length;
    if (stored - values > recordMetaBytes(record) + 2 * record.clock.size + 12 * record.siblings.length) wrong.push(`#${i}: binary metadata over its bound`);
    // The JSON measure of the metadata: the record as JSON text, each value an empty string.
    const text = JSON.stringify({
      clock: [...record.clock],
      siblings: record.siblings.map((s) => [s.dot[0], s.dot[1], s.ts, s.value ? s.value.codec : -1, s.value ? '' : null]),
    });
    if (recordMetaBytes(record) !== Buffer.byteLength(text)) wrong.push(`#${i}: metadata ${recordMetaBytes(record)} vs ${Buffer.byteLength(text)}`);
  }
  t.same(wrong, [], 'exact for 1000 random records');
});

/** A name of 256 characters that JSON escapes to 6 bytes each: the longest text a node name can take. */
const escapedName = (i: number) => `${String(i).padStart(3, '0')}${'\u0001'.repeat(253)}`;

/**
 * The largest record within `limits`: values adding up to maxRecordBytes in maxSiblings siblings,
 * a clock of long escaped actors filling the metadata up to its bound, the longest key (each at the
 * largest counter).
 */
function largestRecord(limits: RecordLimits): { key: Buffer; record: StoredRecord } {
  const perValue = Math.floor(limits.maxRecordBytes / limits.maxSiblings);
  const clock = new Map<string, number>();
  const siblings: StoredRecord['siblings'][number][] = [];
  for (let i = 0; i < limits.maxSiblings; i++) {
    const actor = `writer-${i}`;
    clock.set(actor, 2 ** 48 - 1);
    const size = i === 0 ? limits.maxRecordBytes - perValue * (limits.maxSiblings - 1) : perValue;
    const stored = Buffer.alloc(size, i);
    siblings.push({ dot: [actor, 2 ** 48 - 1], ts: 2 ** 48 - 1, value: { codec: CODEC_RAW, stored, raw: stored }, expiresAt: 2 ** 48 - 1 });
  }
  const record = { clock, siblings };
  for (let i = 0; ; i++) {
    const next = new Map(clock);
    next.set(escapedName(i), 2 ** 48 - 1);
    if (recordMetaBytes({ clock: next, siblings }) > MAX_RECORD_META_BYTES) break;
    clock.set(escapedName(i), 2 ** 48 - 1);
  }
  return { key: Buffer.alloc(limits.maxKeyBytes, 0xff), record };
}

const replyLine = (fields: Record<string, unknown>) => Buffer.byteLength(JSON.stringify({ id: 2 ** 53 - 1, ok: true, ...fields }));

for (const limits of [
  { ...defaultLimits },
  { maxLineBytes: 1 << 30, maxKeyBytes: 100, maxValueBytes: 10_000, maxRecordBytes: 30_000, maxSiblings: 3 },
  { maxLineBytes: 1 << 30, maxKeyBytes: 4096, maxValueBytes: 1, maxRecordBytes: 1, maxSiblings: 1 },
]) {
  t.test(`the largest record's messages stay within the calculated lines (record ${limits.maxRecordBytes}, ${limits.maxSiblings} siblings)`, async (t) => {
    const { key, record } = largestRecord(limits);
    t.ok(recordMetaBytes(record) <= MAX_RECORD_META_BYTES && recordMetaBytes(record) > MAX_RECORD_META_BYTES - 2000, 'metadata at its bound');
    const bound = largestLines(limits);
    const names = Array.from({ length: 16 }, (_, i) => escapedName(i));
    const peerName = escapedName(99);
    const requests: PeerRequest[] = [
      { op: 'kv.replicate', key, record, hintFor: peerName },
      { op: 'kv.replicate.many', items: [{ key, record, hintFor: peerName }] },
      { op: 'kv.reap', key, record },
      { op: 'ae.store', peer: peerName, items: [{ key, record }] },
    ];
    for (const request of requests) {
      const bytes = encodePeerRequest(request, 0xffffffff).length;
      t.ok(bytes <= bound.recordMessage, `${request.op}: ${bytes} <= ${bound.recordMessage}`);
    }
    const asked = (op: PeerRequest['op']) => ({ op, key, keys: [key], digest: false, peer: peerName }) as unknown as PeerRequestOf<'kv.read'>;
    const replies: [string, number][] = [
      ['kv.read reply', encodePeerReply(asked('kv.read'), { record, digest: undefined }, 0xffffffff).length],
      ['ae.fetch reply', encodePeerReply(asked('ae.fetch') as never, { records: [record] } as never, 0xffffffff).length],
      [
        'kv.coordinate reply',
        encodePeerReply(
          asked('kv.coordinate') as never,
          {
            record,
            existed: true,
            quorum: { needed: 16, replied: 16, failed: 0, replicas: 16, answered: names },
            hinted: names,
            hintsDropped: names,
          } as never,
          0xffffffff,
        ).length,
      ],
    ];
    for (const [what, bytes] of replies) t.ok(bytes <= bound.recordMessage, `${what}: ${bytes} <= ${bound.recordMessage}`);
    const value = Buffer.alloc(limits.maxValueBytes, 0xfe);
    const context = new Map([...record.clock].slice(0, -1));
    const forwarded = encodePeerRequest(
      { op: 'kv.coordinate', key, value, context, w: 16, consistency: 'strict', keepSiblings: false, expiresAt: 2 ** 48 - 1 },
      0xffffffff,
    ).length;
    t.ok(forwarded <= bound.forwardedWrite, `kv.coordinate: ${forwarded} <= ${bound.forwardedWrite}`);
    // A get reply: the raw values, worst for UTF-8 when every byte is escaped.
    for (const fill of [0x01, 0x22, 0x61, 0xff]) {
      const values = record.siblings.map((s) => Buffer.alloc(s.value?.stored.length ?? 0, fill));
      const encoding = replyEncoding(values, 'utf8');
      const bytes = replyLine({
        found: true,
        values: values.map((v) => v.toString(encoding)),
        encoding,
        expiresAt: values.map(() => 2 ** 48 - 1),
        context: encodeContext(key, record.clock),
        replicas: names,
        fallbacks: names,
        maybeStale: true,
      });
      t.ok(bytes <= bound.getReply, `get reply of bytes 0x${fill.toString(16)} (${encoding}): ${bytes} <= ${bound.getReply}`);
    }
    t.equal(largestRecordLineBytes(limits), Math.max(bound.recordMessage, bound.forwardedWrite, bound.getReply));
  });
}

t.test('the default limits fit, with room to spare', async (t) => {
  t.equal(recordLimitsProblem(defaultLimits), undefined);
  const largest = largestRecordLineBytes(defaultLimits);
  t.ok(largest < defaultLimits.maxLineBytes * 0.75, `the largest message is ${largest} bytes of a ${defaultLimits.maxLineBytes}-byte line`);
  t.ok(defaultLimits.maxRecordBytes >= 2 * defaultLimits.maxValueBytes, 'two values of the largest size fit one record');
});

t.test('limits that break the promise are refused, naming what to change', async (t) => {
  const small = { ...defaultLimits, maxLineBytes: 2 * 1024 * 1024 };
  const problem = recordLimitsProblem(small);
  t.match(problem, /--max-record-bytes 2097152/);
  t.match(problem, new RegExp(`raise --max-line-bytes to at least ${largestRecordLineBytes(small)}`));
  const fitting = recordBytesFitting(small);
  t.match(problem, new RegExp(`lower --max-record-bytes to at most ${fitting}`));
  t.equal(recordLimitsProblem({ ...small, maxRecordBytes: fitting }), undefined, 'the largest fitting record size fits');
  t.not(recordLimitsProblem({ ...small, maxRecordBytes: fitting + 1 }), undefined, 'one byte more does not');
  t.match(
    recordLimitsProblem({ ...defaultLimits, maxValueBytes: defaultLimits.maxRecordBytes + 1 }),
    /--max-value-bytes .* must not exceed --max-record-bytes/,
  );
  t.equal(recordBytesFitting({ ...defaultLimits, maxLineBytes: 1000 }), 0, 'a line too short for any record');
});

t.test('start: --max-record-bytes defaults to what the line holds, and flags that do not fit are a usage error', async (t) => {
  const flags = {
    'max-line-bytes': defaultLimits.maxLineBytes,
    'max-key-bytes': defaultLimits.maxKeyBytes,
    'max-value-bytes': defaultLimits.maxValueBytes,
    'max-connections': defaultLimits.maxConnections,
    'max-siblings': defaultLimits.maxSiblings,
    'max-record-bytes': undefined as number | undefined,
  };
  t.equal(nodeLimits(flags).maxRecordBytes, defaultLimits.maxRecordBytes, 'the default');
  const saved = nodeLimits({ ...flags, 'max-line-bytes': 2 * 1024 * 1024 });
  t.equal(saved.maxRecordBytes, recordBytesFitting(saved), 'a data dir saved with the older 2 MiB line still starts, with records that fit it');
  t.throws(() => nodeLimits({ ...flags, 'max-record-bytes': 8 * 1024 * 1024 }), { code: 'KV_USAGE', message: /raise --max-line-bytes to at least/ });
  t.throws(() => nodeLimits({ ...flags, 'max-line-bytes': 1_000_000 }), { code: 'KV_USAGE', message: /--max-line-bytes 1000000/ });
  t.equal(nodeLimits({ ...flags, 'max-record-bytes': 1 << 20 }).maxRecordBytes, 1 << 20, 'a smaller record limit as given');
});

t.test('a get reply is in UTF-8 only when that is no longer than base64 (give or take UTF8_SLACK_BYTES)', async (t) => {
  t.equal(replyEncoding([Buffer.from('{"a":"b","c":["d","e"]}')], 'utf8'), 'utf8', 'a short JSON document, mostly quotes');
  t.equal(replyEncoding([Buffer.from('line\n'.repeat(10_000))], 'utf8'), 'utf8', 'text with newlines');
  t.equal(replyEncoding([Buffer.alloc(10_000, 0x01)], 'utf8'), 'base64', 'control characters, six bytes each once escaped');
  t.equal(replyEncoding([Buffer.alloc(10_000, 0x22)], 'utf8'), 'base64', 'nothing but quotes, two bytes each');
  t.equal(replyEncoding([Buffer.from('plain'), Buffer.alloc(10_000, 0x01)], 'utf8'), 'base64', 'one value decides for the reply');
});
