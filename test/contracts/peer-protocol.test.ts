/**
 * The peer protocol's conformance suite: every message and every reply round-trips through its
 * frame exactly (net/peer-frames.ts), and every malformed one (cut short anywhere, with bytes
 * after its last field, a count over its bound, a key over the key limit) is refused with a
 * stable code naming the op, in both directions; no byte of a frame, changed, makes the decoder
 * throw anything but a KvError.
 */
import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import { decodePeerReply, decodePeerRequest, encodePeerReply, encodePeerRequest, OP_CODES, opOfCode, readFrameHeader } from '../../src/net/peer-frames.js';
import type { PeerOp, PeerReplies, PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import type { StoredRecord } from '../../src/storage/record-format.js';
import { frameFromJson } from '../helpers/peer-frames.js';
import { seededRandom } from '../helpers/random.js';
import { sampleReply, sampleRequests } from './peer-samples.js';

const ops = Object.keys(OP_CODES) as PeerOp[];
const REFUSED = new Set(['KV_BAD_REQUEST', 'KV_VALUE_TOO_LARGE', 'KV_BAD_CONTEXT']);

/** A request as a peer's frame carries it: written, its header read, decoded by the real decoder. */
function throughFrame(request: PeerRequest): PeerRequest {
  const frame = encodePeerRequest(request, 7);
  const header = readFrameHeader(frame);
  if (header.bytes !== frame.length || header.id !== 7) throw new Error('the header does not describe the frame');
  return decodePeerRequest(opOfCode(header.opCode) as PeerOp, frame, defaultLimits);
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof KvError ? err.code : `not a KvError: ${String(err)}`;
  }
  return undefined;
}

/** `frame` with its length field fitted to its size (a frame the splitter delivers whole). */
function refit(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

t.test('every peer op has samples and its own op code', async (t) => {
  for (const op of ops) t.ok((sampleRequests[op] ?? []).length > 0, `${op} has a sample`);
  t.equal(new Set(Object.values(OP_CODES)).size, ops.length, 'op codes are distinct');
  t.notOk(Object.values(OP_CODES).includes(0), 'code 0 is the frame-layer ping');
});

t.test('every request round-trips exactly', async (t) => {
  for (const op of ops) for (const request of sampleRequests[op]) t.same(throughFrame(request), request, `${op} reads back the same message`);
});

t.test('every reply round-trips exactly', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const reply = sampleReply(request);
      const frame = encodePeerReply(request as PeerRequestOf<typeof op>, reply, 9);
      t.same(decodePeerReply(request as PeerRequestOf<typeof op>, frame, defaultLimits), reply, `${op}: the reply reads back the same`);
    }
  }
});

t.test('a request or reply cut short anywhere, or with a byte after its last field, is refused naming its op', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const frame = encodePeerRequest(request, 1);
      const reply = encodePeerReply(request as PeerRequestOf<typeof op>, sampleReply(request), 1);
      const wrong: string[] = [];
      for (let cut = 10; cut < frame.length; cut++) {
        const code = codeOf(() => decodePeerRequest(op, refit(frame.subarray(0, cut)), defaultLimits));
        if (code === undefined || !REFUSED.has(code)) wrong.push(`request cut at ${cut}: ${code}`);
      }
      for (let cut = 10; cut < reply.length; cut++) {
        const code = codeOf(() => decodePeerReply(request as PeerRequestOf<typeof op>, refit(reply.subarray(0, cut)), defaultLimits));
        if (code === undefined || !REFUSED.has(code)) wrong.push(`reply cut at ${cut}: ${code}`);
      }
      t.same(wrong, [], `${op}: every cut refused`);
      t.throws(() => decodePeerRequest(op, refit(Buffer.concat([frame, Buffer.from([0])])), defaultLimits), {
        code: 'KV_BAD_REQUEST',
        message: new RegExp(`malformed ${op.replace('.', '\\.')} frame: 1 bytes after the last field`),
      });
      t.throws(() => decodePeerReply(request as PeerRequestOf<typeof op>, refit(Buffer.concat([reply, Buffer.from([0])])), defaultLimits), {
        code: 'KV_BAD_REQUEST',
        message: new RegExp(`malformed ${op.replace('.', '\\.')} reply from a peer`),
      });
    }
  }
});

t.test('any byte of a frame changed: decoded, or refused with a KvError, never a crash', async (t) => {
  const rng = seededRandom(21);
  const crashes: string[] = [];
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const frame = encodePeerRequest(request, 1);
      const reply = encodePeerReply(request as PeerRequestOf<typeof op>, sampleReply(request), 1);
      for (let i = 0; i < 300; i++) {
        for (const [what, original, decode] of [
          ['request', frame, (f: Buffer) => decodePeerRequest(op, f, defaultLimits)],
          ['reply', reply, (f: Buffer) => decodePeerReply(request as PeerRequestOf<typeof op>, f, defaultLimits)],
        ] as const) {
          const mutated = Buffer.from(original);
          const at = 10 + Math.floor(rng() * (mutated.length - 10));
          mutated[at] = Math.floor(rng() * 256);
          const code = codeOf(() => decode(mutated));
          if (code?.startsWith('not a KvError')) crashes.push(`${op} ${what}, byte ${at}: ${code}`);
        }
      }
    }
  }
  t.same(crashes, [], 'every changed frame was decoded or refused with a KvError');
});

t.test('counts over their bound, keys over the key limit, and values over the value limit are refused', async (t) => {
  const k = Buffer.from('k').toString('base64');
  const record = { clock: [['w~1', 1]], siblings: [['w~1', 1, 5, 0, Buffer.from('v').toString('base64')]] };
  const over = (n: number, item: unknown) => Array.from({ length: n }, () => item);
  const whole = { first: 0, last: 2 ** 32 - 1 };
  const cases: [string, Record<string, unknown>, string][] = [
    ['kv.clocks: 1025 keys', { op: 'kv.clocks', keys: over(1025, k) }, 'KV_BAD_REQUEST'],
    ['kv.clocks: no key', { op: 'kv.clocks', keys: [] }, 'KV_BAD_REQUEST'],
    ['kv.replicate.many: 1025 items', { op: 'kv.replicate.many', items: over(1025, { key: k, record }) }, 'KV_BAD_REQUEST'],
    ['ae.fetch: 1025 keys', { op: 'ae.fetch', peer: 'n1', keys: over(1025, k) }, 'KV_BAD_REQUEST'],
    ['ae.store: 1025 items', { op: 'ae.store', peer: 'n1', items: over(1025, { key: k, record }) }, 'KV_BAD_REQUEST'],
    ['ae.leaves: 1025 leaves', { op: 'ae.leaves', peer: 'n1', leaves: over(1025, { ...whole, leaf: 0 }) }, 'KV_BAD_REQUEST'],
    ['ae.leaves: a leaf past the tree', { op: 'ae.leaves', peer: 'n1', leaves: [{ ...whole, leaf: 1024 }] }, 'KV_BAD_REQUEST'],
    ['ae.leaves: a range ending before it starts', { op: 'ae.leaves', peer: 'n1', leaves: [{ first: 9, last: 8, leaf: 0 }] }, 'KV_BAD_REQUEST'],
    ['ae.hashes: 33 segments', { op: 'ae.hashes', peer: 'n1', level: 2, ranges: over(33, whole), segments: over(33, 0) }, 'KV_BAD_REQUEST'],
    ['ae.hashes: a segment past the tree', { op: 'ae.hashes', peer: 'n1', level: 2, ranges: [whole], segments: [32] }, 'KV_BAD_REQUEST'],
    ['ae.hashes: 33 ranges at level 1', { op: 'ae.hashes', peer: 'n1', level: 1, ranges: over(33, whole) }, 'KV_BAD_REQUEST'],
    ['ae.hashes: 1025 ranges at level 0', { op: 'ae.hashes', peer: 'n1', level: 0, ranges: over(1025, whole) }, 'KV_BAD_REQUEST'],
    ['ae.hashes: no range', { op: 'ae.hashes', peer: 'n1', level: 0, ranges: [] }, 'KV_BAD_REQUEST'],
    ['ae.hashes: a range ending before it starts', { op: 'ae.hashes', peer: 'n1', level: 0, ranges: [{ first: 1, last: 0 }] }, 'KV_BAD_REQUEST'],
    ['ae.hashes: level 3', { op: 'ae.hashes', peer: 'n1', level: 3, ranges: [whole] }, 'KV_BAD_REQUEST'],
    ['ae.fetch: an empty peer name', { op: 'ae.fetch', peer: '', keys: [k] }, 'KV_BAD_REQUEST'],
    ['ae.fetch: a peer name of 257 characters', { op: 'ae.fetch', peer: 'p'.repeat(257), keys: [k] }, 'KV_BAD_REQUEST'],
    ['kv.read: an empty key', { op: 'kv.read', key: '' }, 'KV_BAD_REQUEST'],
    ['kv.read: a key over the limit', { op: 'kv.read', key: Buffer.alloc(defaultLimits.maxKeyBytes + 1).toString('base64') }, 'KV_BAD_REQUEST'],
    [
      'kv.coordinate: a value over the limit',
      { op: 'kv.coordinate', key: k, value: Buffer.alloc(defaultLimits.maxValueBytes + 1).toString('base64') },
      'KV_VALUE_TOO_LARGE',
    ],
    ['kv.coordinate: keepSiblings with a context', { op: 'kv.coordinate', key: k, value: k, context: 'W10', keepSiblings: true }, 'KV_BAD_REQUEST'],
    ['kv.replicate: a hint for an empty name', { op: 'kv.replicate', key: k, record, hintFor: '' }, 'KV_BAD_REQUEST'],
    [
      'gossip.push: a member without its fields',
      { op: 'gossip.push', cluster: { id: 'c', n: 3, w: 2, r: 2, consistency: 'strict' }, members: [{ name: 'x' }] },
      'KV_BAD_REQUEST',
    ],
    ['gossip.push: W above N', { op: 'gossip.push', cluster: { id: 'c', n: 1, w: 2, r: 1, consistency: 'strict' }, members: [] }, 'KV_BAD_REQUEST'],
    ['gossip.push: a joiner naming a cluster id', { op: 'gossip.push', join: true, cluster: { id: 'c' }, members: [] }, 'KV_BAD_REQUEST'],
    [
      'gossip.push: an unknown field',
      { op: 'gossip.push', cluster: { id: 'c', n: 3, w: 2, r: 2, consistency: 'strict' }, members: [], extra: 1 },
      'KV_BAD_REQUEST',
    ],
    ['gossip.push: join other than true', { op: 'gossip.push', join: 'yes', members: [] }, 'KV_BAD_REQUEST'],
    ['kv.scan: from not below end', { op: 'kv.scan', from: k, end: k, maxKeys: 1, maxBytes: 1 }, 'KV_BAD_REQUEST'],
    ['kv.scan: 0 keys a page', { op: 'kv.scan', from: '', maxKeys: 0, maxBytes: 1 }, 'KV_BAD_REQUEST'],
    ['kv.scan: 1025 keys a page', { op: 'kv.scan', from: '', maxKeys: 1025, maxBytes: 1 }, 'KV_BAD_REQUEST'],
    ['kv.scan: a page over 512 KiB', { op: 'kv.scan', from: '', maxKeys: 1, maxBytes: 512 * 1024 + 1 }, 'KV_BAD_REQUEST'],
    ['kv.scan: an empty end', { op: 'kv.scan', from: '', end: '', maxKeys: 1, maxBytes: 1 }, 'KV_BAD_REQUEST'],
    [
      'kv.scan: from over the key limit',
      { op: 'kv.scan', from: Buffer.alloc(defaultLimits.maxKeyBytes + 1).toString('base64'), maxKeys: 1, maxBytes: 1 },
      'KV_BAD_REQUEST',
    ],
  ];
  for (const [name, fields, expected] of cases) {
    const frame = frameFromJson(fields, 1);
    t.equal(
      codeOf(() => decodePeerRequest(fields.op as PeerOp, frame, defaultLimits)),
      expected,
      name,
    );
  }
  const flag = encodePeerRequest({ op: 'kv.read', key: Buffer.from('k'), digest: true }, 1);
  flag[flag.length - 1] = 2;
  t.throws(() => decodePeerRequest('kv.read', flag, defaultLimits), { code: 'KV_BAD_REQUEST', message: /digest must be 0 or 1/ }, 'a flag other than 0 or 1');
  const huge = encodePeerRequest({ op: 'kv.clocks', keys: [Buffer.from('k')] }, 1);
  huge.writeUInt32BE(0xffffffff, 10);
  t.throws(
    () => decodePeerRequest('kv.clocks', huge, defaultLimits),
    { code: 'KV_BAD_REQUEST', message: /keys must be 1 to 1024, not 4294967295/ },
    'a huge count',
  );
  const longKey = encodePeerRequest({ op: 'kv.read', key: Buffer.from('k'), digest: false }, 1);
  longKey.writeUInt32BE(0xfffffff0, 10);
  t.throws(
    () => decodePeerRequest('kv.read', longKey, defaultLimits),
    { code: 'KV_BAD_REQUEST', message: /key of 4294967280 bytes is over the limit/ },
    'a huge length',
  );
});

t.test('a reply whose counts do not match the request is refused', async (t) => {
  const clocks = sampleRequests['kv.clocks'][0] as PeerRequestOf<'kv.clocks'>;
  const oneKey = { ...clocks, keys: [clocks.keys[0] as Buffer] };
  t.equal(
    codeOf(() => decodePeerReply(clocks, encodePeerReply(oneKey, { clocks: [undefined] }, 1), defaultLimits)),
    'KV_BAD_REQUEST',
    'kv.clocks: one clock for two keys',
  );
  const many = sampleRequests['kv.replicate.many'][0] as PeerRequestOf<'kv.replicate.many'>;
  const threeItems = { ...many, items: [...many.items, ...many.items].slice(0, 3) };
  t.equal(
    codeOf(() => decodePeerReply(many, encodePeerReply(threeItems, { results: [undefined, undefined, undefined] }, 1), defaultLimits)),
    'KV_BAD_REQUEST',
    'kv.replicate.many: three results for two items',
  );
  const fetch = sampleRequests['ae.fetch'][0] as PeerRequestOf<'ae.fetch'>;
  t.equal(
    codeOf(() => decodePeerReply(fetch, encodePeerReply(fetch, { records: [undefined], skipped: [1] }, 1), defaultLimits)),
    'KV_BAD_REQUEST',
    'ae.fetch: a skipped index past the records',
  );
  // A scan page must hold keys in order, within the range asked, no more than asked, and a key unless it is the last.
  const scan = sampleRequests['kv.scan'][1] as PeerRequestOf<'kv.scan'>;
  const record = sampleReply(scan) as PeerReplies['kv.scan'];
  const entry = (bytes: number[]) => ({ key: Buffer.from(bytes), record: (record.entries[0] as { record: StoredRecord }).record });
  const pages: [string, PeerReplies['kv.scan']][] = [
    ['kv.scan: keys out of order', { entries: [entry([0, 1, 5]), entry([0, 1, 4])], exhausted: false }],
    ['kv.scan: a key twice', { entries: [entry([0, 1, 5]), entry([0, 1, 5])], exhausted: false }],
    ['kv.scan: the key it was asked to start after', { entries: [{ key: scan.from, record: entry([1]).record }], exhausted: false }],
    ['kv.scan: a key before the start', { entries: [entry([0, 1])], exhausted: false }],
    ['kv.scan: a key at the end', { entries: [entry([0xff])], exhausted: false }],
    ['kv.scan: more keys than asked', { entries: [entry([0, 1, 5]), entry([0, 1, 6]), entry([0, 1, 7])], exhausted: false }],
    ['kv.scan: an empty page that is not the last', { entries: [], exhausted: false }],
  ];
  for (const [name, page] of pages)
    t.equal(
      codeOf(() => decodePeerReply(scan, encodePeerReply(scan, page, 1), defaultLimits)),
      'KV_BAD_REQUEST',
      name,
    );
  t.same(
    decodePeerReply(scan, encodePeerReply(scan, { entries: [], exhausted: true }, 1), defaultLimits),
    { entries: [], exhausted: true },
    'an empty last page',
  );
  const push = sampleRequests['gossip.push'][0] as PeerRequestOf<'gossip.push'>;
  const malformed = Buffer.from(JSON.stringify({ cluster: { id: 'c', n: 9 }, members: [] }));
  const header = Buffer.alloc(14);
  header.writeUInt32BE(10 + malformed.length, 0);
  header[4] = 2;
  header.writeUInt32BE(1, 5);
  header[9] = OP_CODES['gossip.push'];
  header.writeUInt32BE(malformed.length, 10);
  t.equal(decodePeerReply(push, Buffer.concat([header, malformed]), defaultLimits).cluster, undefined, 'gossip.push: a malformed cluster reads as none');
});
