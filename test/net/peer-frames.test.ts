/**
 * Binary peer frames, unit by unit: every op and reply round-trips over random keys and records;
 * a record from a peer is held to the bounds of a client write, whatever its bytes say; the frame
 * splitter delivers whole frames from any chunking and refuses an over-long frame from its
 * header, before holding it; a frame is answered (or refused with an error frame for its id) by
 * answerFrame.
 */
import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import { newMember } from '../../src/membership/member-table.js';
import { answerFrame } from '../../src/net/answer.js';
import { FrameFramer } from '../../src/net/frame-framer.js';
import {
  decodeErrorFrame,
  decodePeerReply,
  decodePeerRequest,
  decodePingReply,
  encodePeerReply,
  encodePeerRequest,
  encodePingFrame,
  FRAME_ERROR,
  FRAME_REPLY,
  OP_CODES,
  readFrameHeader,
} from '../../src/net/peer-frames.js';
import { newClientConnection, type RequestHandler } from '../../src/protocol/connection.js';
import type { PeerOp, PeerReplies, PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import { frameFromJson } from '../helpers/peer-frames.js';
import { randomRecord as anyRecord, pick, randomBytes, seededRandom } from '../helpers/random.js';

const ACTORS = ['node1~a1', 'n"quote~b2', 'ünïcode~c3', 'back\\slash~d4', 'tab\tnew\nline~e5', '😀~g7'];
const randomRecord = (rng: () => number) => anyRecord(rng, { actors: ACTORS, maxCounter: 2 ** 48 - 2, maxValueBytes: 300 });

function randomKey(rng: () => number): Buffer {
  return Buffer.concat([Buffer.from([1 + Math.floor(rng() * 255)]), randomBytes(rng, 40)]);
}

const randomName = (rng: () => number) => `${pick(rng, ['n', 'ñode', '节点'])}${Math.floor(rng() * 1000)}`;
const many = <T>(rng: () => number, max: number, make: () => T) => Array.from({ length: 1 + Math.floor(rng() * max) }, make);
const randomError = (rng: () => number) =>
  rng() < 0.5 ? undefined : new KvError('KV_TOO_MANY_SIBLINGS', `too many ${Math.floor(rng() * 100)}`, { limit: 64 });
const hex = (rng: () => number) => randomBytes(rng, 16).toString('hex').padEnd(32, '0');
/** Ring positions [first, last], the whole ring at times. */
function randomTreeRange(rng: () => number): { first: number; last: number } {
  if (rng() < 0.2) return { first: 0, last: 2 ** 32 - 1 };
  const a = Math.floor(rng() * 2 ** 32);
  const b = Math.floor(rng() * 2 ** 32);
  return { first: Math.min(a, b), last: Math.max(a, b) };
}

/** A random request of `op` and a random reply to it. */
function randomExchange(rng: () => number, op: PeerOp): [PeerRequest, PeerReplies[PeerOp]] {
  const key = randomKey(rng);
  switch (op) {
    case 'gossip.push': {
      const members = many(rng, 3, () => ({
        ...newMember({ name: randomName(rng), addr: '10.0.0.1:1', incarnation: 'i', generation: 1, weight: 1 }),
        heartbeat: 3,
      }));
      const cluster = { id: 'c1', settings: { n: 3, w: 2, r: 2, consistency: 'strict' as const }, settingsVersion: 2 };
      return [
        { op, cluster: { kind: 'member', cluster }, members },
        { cluster, members },
      ];
    }
    case 'kv.read': {
      const digest = rng() < 0.5;
      const present = rng() < 0.7;
      return [
        { op, key, digest },
        digest ? { record: undefined, digest: present ? hex(rng) : undefined } : { record: present ? randomRecord(rng) : undefined, digest: undefined },
      ];
    }
    case 'kv.clocks': {
      const keys = many(rng, 5, () => randomKey(rng));
      return [{ op, keys }, { clocks: keys.map(() => (rng() < 0.3 ? undefined : randomRecord(rng).clock)) }];
    }
    case 'kv.replicate':
      return [{ op, key, record: randomRecord(rng), ...(rng() < 0.5 ? { hintFor: randomName(rng) } : {}) }, {}];
    case 'kv.replicate.many': {
      const items = many(rng, 5, () => ({ key: randomKey(rng), record: randomRecord(rng), ...(rng() < 0.5 ? { hintFor: randomName(rng) } : {}) }));
      return [{ op, items }, { results: items.map(() => randomError(rng)) }];
    }
    case 'kv.reap':
      return [{ op, key, record: randomRecord(rng) }, { dropped: rng() < 0.5 }];
    case 'kv.coordinate': {
      const context = rng() < 0.5 ? new Map([[pick(rng, ACTORS), 1 + Math.floor(rng() * 1000)]]) : undefined;
      const request: PeerRequestOf<'kv.coordinate'> = {
        op,
        key,
        value: rng() < 0.2 ? null : randomBytes(rng, 500),
        keepSiblings: context === undefined && rng() < 0.5,
        ...(context ? { context } : {}),
        ...(rng() < 0.5 ? { w: 1 + Math.floor(rng() * 5) } : {}),
        ...(rng() < 0.5 ? { consistency: pick(rng, ['strict', 'sloppy'] as const) } : {}),
      };
      const names = many(rng, 3, () => randomName(rng));
      return [
        request,
        {
          record: randomRecord(rng),
          existed: rng() < 0.5,
          quorum: { needed: 2, replied: 3, failed: 0, replicas: 3, answered: names },
          hinted: names.slice(1),
          hintsDropped: [],
        },
      ];
    }
    case 'ae.hashes': {
      const level = pick(rng, [0, 1, 2] as const);
      const peer = randomName(rng);
      const ranges = many(rng, 4, () => randomTreeRange(rng));
      // Some ranges held, some not; 1 hash at level 0, 32 at the others.
      const hashes = ranges.map(() => (rng() < 0.3 ? undefined : Array.from({ length: level === 0 ? 1 : 32 }, () => hex(rng))));
      if (level !== 2) return [{ op, peer, level, ranges }, { hashes }];
      return [{ op, peer, level, ranges, segments: ranges.map(() => Math.floor(rng() * 32)) }, { hashes }];
    }
    case 'ae.leaves': {
      const leaves = many(rng, 4, () => ({ ...randomTreeRange(rng), leaf: Math.floor(rng() * 1024) }));
      return [
        { op, peer: randomName(rng), leaves },
        { entries: leaves.map(() => many(rng, 3, () => [randomKey(rng).toString('base64'), hex(rng)] as [string, string])) },
      ];
    }
    case 'ae.fetch': {
      const keys = many(rng, 5, () => randomKey(rng));
      const records = keys.slice(0, 1 + Math.floor(rng() * keys.length)).map(() => (rng() < 0.3 ? undefined : randomRecord(rng)));
      const skipped = records.flatMap((r, i) => (r === undefined && rng() < 0.5 ? [i] : []));
      return [{ op, peer: randomName(rng), keys }, skipped.length > 0 ? { records, skipped } : { records }];
    }
    case 'kv.scan': {
      const keys = many(rng, 5, () => randomKey(rng)).sort(Buffer.compare);
      const distinct = keys.filter((k, i) => i === 0 || !k.equals(keys[i - 1] as Buffer));
      const from = rng() < 0.3 ? Buffer.alloc(0) : Buffer.from([0]);
      const end = rng() < 0.5 ? undefined : Buffer.from([0xff, 0xff]);
      const scan = {
        op,
        from,
        inclusive: rng() < 0.5,
        end,
        maxKeys: distinct.length + Math.floor(rng() * 3),
        maxBytes: 1 + Math.floor(rng() * 500_000),
        values: rng() < 0.5,
      };
      return [scan, { entries: distinct.map((k) => ({ key: k, record: randomRecord(rng) })), exhausted: rng() < 0.5 || distinct.length === 0 }];
    }
    case 'ae.store': {
      const items = many(rng, 5, () => ({ key: randomKey(rng), record: randomRecord(rng) }));
      return [{ op, peer: randomName(rng), items }, rng() < 0.5 ? { stored: items.length } : { stored: 1, results: items.map(() => randomError(rng)) }];
    }
  }
}

t.test('every op and reply round-trips over random keys and records', async (t) => {
  const rng = seededRandom(3);
  const ops = Object.keys(OP_CODES) as PeerOp[];
  const wrong: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const op = ops[i % ops.length] as PeerOp;
    const [request, reply] = randomExchange(rng, op);
    const id = 1 + Math.floor(rng() * 0xfffffffe);
    const frame = encodePeerRequest(request, id);
    const header = readFrameHeader(frame);
    if (header.bytes !== frame.length || header.id !== id || header.opCode !== OP_CODES[op]) wrong.push(`#${i} ${op}: header`);
    const back = decodePeerRequest(op, frame, { ...defaultLimits, maxSiblings: 64 });
    if (JSON.stringify(back, bufferAware) !== JSON.stringify(request, bufferAware)) wrong.push(`#${i} ${op}: request`);
    const replyFrame = encodePeerReply(request as PeerRequestOf<typeof op>, reply, id);
    const replyBack = decodePeerReply(request as PeerRequestOf<typeof op>, replyFrame, defaultLimits);
    if (JSON.stringify(replyBack, bufferAware) !== JSON.stringify(reply, bufferAware)) wrong.push(`#${i} ${op}: reply`);
  }
  t.same(wrong, [], '2000 random exchanges read back exactly');
});

/** JSON.stringify of decoded messages: maps as entries, KvErrors as their wire form, fields in name order, absent and undefined alike. */
function bufferAware(_key: string, value: unknown): unknown {
  if (value instanceof Map) return { map: [...value] };
  if (value instanceof KvError) return value.toWire();
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value) && !('type' in value && value.type === 'Buffer')) {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return value;
}

t.test('a record from a peer is held to the bounds of a client write, whatever its bytes say', async (t) => {
  const limits = { ...defaultLimits, maxSiblings: 3, maxValueBytes: 10 };
  const v = Buffer.from('v').toString('base64');
  const replicate = (record: unknown) => decodePeerRequest('kv.replicate', frameFromJson({ op: 'kv.replicate', key: 'aw==', record }, 1), limits);
  const siblings = (n: number) => ({
    clock: Array.from({ length: n }, (_, i) => [`w${i}~1`, 1]),
    siblings: Array.from({ length: n }, (_, i) => [`w${i}~1`, 1, 5, 0, v]),
  });
  t.ok(replicate(siblings(3)), 'siblings up to the limit');
  const high = { clock: [['a~1', 2 ** 47 + 1]], siblings: [['a~1', 2 ** 47 + 1, 5, 0, v]] };
  t.equal((replicate(high) as PeerRequestOf<'kv.replicate'>).record.clock.get('a~1'), 2 ** 47 + 1, 'counters past 2^47, as writes leave them');
  const cases: [string, unknown, string][] = [
    ['one sibling over the limit', siblings(4), 'KV_BAD_REQUEST'],
    ['a value over the value limit', { clock: [['a~1', 1]], siblings: [['a~1', 1, 5, 0, Buffer.alloc(11).toString('base64')]] }, 'KV_VALUE_TOO_LARGE'],
    ['257 clock entries', { clock: Array.from({ length: 257 }, (_, i) => [`a${i}~1`, 1]), siblings: [] }, 'KV_BAD_REQUEST'],
    ['a zero counter', { clock: [['a~1', 0]], siblings: [] }, 'KV_BAD_REQUEST'],
    ['an actor of 513 characters', { clock: [['a'.repeat(513), 1]], siblings: [] }, 'KV_BAD_REQUEST'],
    ['an empty actor', { clock: [['', 1]], siblings: [] }, 'KV_BAD_REQUEST'],
    [
      'one actor twice in the clock',
      {
        clock: [
          ['a~1', 1],
          ['a~1', 2],
        ],
        siblings: [],
      },
      'KV_BAD_REQUEST',
    ],
    ["a sibling the record's clock has not seen", { clock: [['a~1', 1]], siblings: [['a~1', 2, 5, 0, v]] }, 'KV_BAD_REQUEST'],
    [
      'two siblings with one dot',
      {
        clock: [['a~1', 1]],
        siblings: [
          ['a~1', 1, 5, 0, v],
          ['a~1', 1, 6, 0, v],
        ],
      },
      'KV_BAD_REQUEST',
    ],
    ['a tombstone with bytes', { clock: [['a~1', 1]], siblings: [['a~1', 1, 5, -1, v]] }, 'KV_BAD_REQUEST'],
    ['an unknown codec', { clock: [['a~1', 1]], siblings: [['a~1', 1, 5, 7, v]] }, 'KV_BAD_REQUEST'],
  ];
  for (const [why, raw, code] of cases) {
    let got: string | undefined;
    try {
      replicate(raw);
    } catch (err) {
      got = (err as KvError).code;
    }
    t.equal(got, code, why);
  }
  // Bytes after the record inside its own length, and an actor in invalid UTF-8.
  const frame = frameFromJson({ op: 'kv.replicate', key: 'aw==', record: { clock: [['a~1', 1]], siblings: [] } }, 1);
  const stuffed = Buffer.concat([
    frame.subarray(0, 15),
    Buffer.alloc(4),
    frame.subarray(19, frame.length - 1),
    Buffer.from([9]),
    frame.subarray(frame.length - 1),
  ]);
  stuffed.writeUInt32BE(frame.readUInt32BE(15) + 1, 15);
  stuffed.writeUInt32BE(stuffed.length - 4, 0);
  t.throws(() => decodePeerRequest('kv.replicate', stuffed, limits), { code: 'KV_BAD_REQUEST', message: /malformed record/ }, 'a byte after the record');
  const badActor = Buffer.from(frame);
  badActor[frame.indexOf('a~1')] = 0xff;
  t.throws(() => decodePeerRequest('kv.replicate', badActor, limits), { code: 'KV_BAD_REQUEST' }, 'an actor that is not UTF-8');
});

t.test('the frame splitter: whole frames from any chunking; a frame over the limit refused from its header, before it is held', async (t) => {
  const rng = seededRandom(9);
  const frames = Array.from({ length: 50 }, (_, i) => encodePeerRequest({ op: 'kv.read', key: randomKey(rng), digest: i % 2 === 0 }, i + 1));
  const stream = Buffer.concat(frames);
  for (const chunk of [1, 3, 7, 64, 1000, stream.length]) {
    const got: Buffer[] = [];
    const framer = new FrameFramer(
      1024,
      (f) => got.push(Buffer.from(f)),
      () => t.fail('no overflow'),
      () => t.fail('no malformed header'),
    );
    for (let at = 0; at < stream.length; at += chunk) framer.push(stream.subarray(at, at + chunk));
    t.same(got, frames, `chunks of ${chunk}: every frame, whole, in order`);
    t.equal(framer.bufferedBytes, 0, 'nothing left over');
  }
  const over: number[] = [];
  const big = new FrameFramer(
    100,
    () => t.fail('no frame'),
    (bytes) => over.push(bytes),
    () => t.fail('no malformed header'),
  );
  const header = Buffer.alloc(4);
  header.writeUInt32BE(10_000_000, 0);
  big.push(header.subarray(0, 2));
  big.push(header.subarray(2));
  t.same(over, [10_000_004], 'refused from its length');
  big.push(Buffer.alloc(50_000));
  t.equal(big.bufferedBytes, 0, 'and nothing of it held, nor of what follows');
  const whys: string[] = [];
  const short = new FrameFramer(
    100,
    () => t.fail('no frame'),
    () => t.fail('no overflow'),
    (why) => whys.push(why),
  );
  short.push(Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 0, 0]));
  t.match(whys, [/must cover its header/], 'a length shorter than a header is malformed');
});

/** A handler that answers every peer op with a sample reply, or throws `error`. */
function handler(error?: KvError): RequestHandler & { errors: number } {
  const h = {
    errors: 0,
    handleClient: async () => ({}),
    handlePeer: (async (request: PeerRequest) => {
      if (error) throw error;
      return request.op === 'kv.read' ? { record: undefined, digest: undefined } : {};
    }) as RequestHandler['handlePeer'],
    countError() {
      h.errors++;
    },
  };
  return h;
}

const peerConnection = () => ({ ...newClientConnection('test', true), kind: 'peer' as const });

t.test('answerFrame: replies for its id; refuses an unknown op, a wrong kind, a bad payload, a client, each with an error frame for the id', async (t) => {
  const h = handler();
  const read: PeerRequestOf<'kv.read'> = { op: 'kv.read', key: Buffer.from('k'), digest: true };
  const reply = await answerFrame(encodePeerRequest(read, 77), h, peerConnection(), defaultLimits);
  t.match(readFrameHeader(reply), { kind: FRAME_REPLY, id: 77, opCode: OP_CODES['kv.read'] });
  t.same(decodePeerReply(read, reply, defaultLimits), { record: undefined, digest: undefined });
  const pong = await answerFrame(encodePingFrame(5), h, peerConnection(), defaultLimits);
  t.equal(decodePingReply(pong), defaultLimits.maxLineBytes, 'the ping tells the frame limit');
  const refused = async (frame: Buffer, connection = peerConnection(), hh = h) => {
    const answer = await answerFrame(frame, hh, connection, defaultLimits);
    const header = readFrameHeader(answer);
    t.equal(header.kind, FRAME_ERROR);
    return { id: header.id, error: decodeErrorFrame(answer) };
  };
  const unknown = encodePeerRequest(read, 8);
  unknown[9] = 200;
  t.match(await refused(unknown), { id: 8, error: { code: 'KV_BAD_REQUEST', message: /unknown op code 200/ } });
  const kind = encodePeerRequest(read, 9);
  kind[4] = 7;
  t.match(await refused(kind), { id: 9, error: { code: 'KV_BAD_REQUEST', message: /must be a request \(kind 1\), not kind 7/ } });
  const cut = encodePeerRequest(read, 10).subarray(0, 14);
  cut.writeUInt32BE(10, 0);
  t.match(await refused(cut), { id: 10, error: { code: 'KV_BAD_REQUEST', message: /malformed kv\.read frame/ } });
  t.match(await refused(encodePeerRequest(read, 11), { ...newClientConnection('x', true), kind: 'client' } as never), {
    id: 11,
    error: { code: 'KV_FORBIDDEN' },
  });
  t.match(await refused(encodePeerRequest(read, 12), peerConnection(), handler(new KvError('KV_NOT_MEMBER', 'left', { node: 'a' }))), {
    id: 12,
    error: { code: 'KV_NOT_MEMBER', message: 'left', details: { node: 'a' } },
  });
  t.equal(h.errors, 4, 'each refusal counted as an error');
});
