/**
 * The peer protocol's conformance suite: every message and every reply round-trips through its
 * JSON form exactly, every field it writes is in its allow-list, and every malformed one (a field
 * of the wrong type, an unknown or forbidden field, an array over its bound) is refused with a
 * stable code, in both directions.
 */
import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import { decodePeerReply, encodePeerReply, encodePeerRequest, peerFields } from '../../src/net/peer-json.js';
import { parseRequest } from '../../src/net/protocol.js';
import type { PeerOp, PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import { sampleRecord, sampleReply, sampleRequests } from './peer-samples.js';

const ops = Object.keys(peerFields) as PeerOp[];
const REFUSED = new Set(['KV_BAD_REQUEST', 'KV_BAD_ENCODING', 'KV_BAD_CONTEXT', 'KV_BAD_JSON']);

/** A request as a peer's line carries it: written, parsed and validated by the real line parser. */
function throughLine(fields: Record<string, unknown>): PeerRequest {
  return parseRequest(Buffer.from(JSON.stringify({ id: 1, ...fields })), defaultLimits).request as PeerRequest;
}

const wireFields = (request: PeerRequest) => JSON.parse(`{${encodePeerRequest(request)}}`) as Record<string, unknown>;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof KvError ? err.code : `not a KvError: ${String(err)}`;
  }
  return undefined;
}

t.test('every peer op has samples', async (t) => {
  for (const op of ops) t.ok((sampleRequests[op] ?? []).length > 0, `${op} has a sample`);
});

t.test('every request round-trips exactly, and writes only allowed fields', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const fields = wireFields(request);
      t.same(
        Object.keys(fields).filter((name) => !peerFields[op].has(name)),
        [],
        `${op}: every written field is allowed`,
      );
      t.same(throughLine(fields), request, `${op}: ${Object.keys(fields).join(',')} reads back the same message`);
    }
  }
});

t.test('every reply round-trips exactly; fields a newer peer adds are ignored', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const reply = sampleReply(request);
      const json = JSON.parse(JSON.stringify(encodePeerReply(request, reply))) as Record<string, unknown>;
      const decoded = decodePeerReply(request, json, defaultLimits);
      t.same(decoded, reply, `${op}: the reply reads back the same`);
      t.same(decodePeerReply(request, { ...json, addedLater: [1, 2] }, defaultLimits), reply, `${op}: an unknown reply field is ignored`);
    }
  }
});

t.test('a request field of the wrong type, or an unknown or forbidden field, is refused', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const fields = wireFields(request);
      for (const name of Object.keys(fields)) {
        if (name === 'op') continue;
        for (const wrong of [12.5, [[]]]) {
          const code = codeOf(() => throughLine({ ...fields, [name]: wrong }));
          t.ok(code && REFUSED.has(code), `${op}: ${name}=${JSON.stringify(wrong)} is refused (${code})`);
        }
      }
      t.equal(
        codeOf(() => throughLine({ ...fields, extra: 1 })),
        'KV_BAD_REQUEST',
        `${op}: an unknown field`,
      );
      const smuggled = `{"id":1,${encodePeerRequest(request)},"__proto__":{"polluted":true}}`;
      t.equal(
        codeOf(() => parseRequest(Buffer.from(smuggled), defaultLimits)),
        'KV_BAD_REQUEST',
        `${op}: __proto__`,
      );
      t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was touched');
    }
  }
});

t.test('a required field missing is refused', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const fields = wireFields(request);
      for (const name of Object.keys(fields)) {
        if (name === 'op') continue;
        const { [name]: _dropped, ...rest } = fields;
        const code = codeOf(() => throughLine(rest));
        // Optional fields may go (then the message means something else, and must still be valid).
        if (code !== undefined) t.ok(REFUSED.has(code), `${op} without ${name}: ${code}`);
        else t.ok(peerFields[op].has(name), `${op}: ${name} is optional`);
      }
    }
  }
  t.equal(
    codeOf(() => throughLine({ op: 'kv.read' })),
    'KV_BAD_REQUEST',
    'kv.read needs its key',
  );
  t.equal(
    codeOf(() => throughLine({ op: 'kv.replicate', key: 'YQ==' })),
    'KV_BAD_REQUEST',
    'kv.replicate needs its record',
  );
});

t.test('arrays over their bound, and keys over the key limit, are refused', async (t) => {
  const k = Buffer.from('k').toString('base64');
  const record = wireFields(sampleRequests['kv.reap'][0] as PeerRequest).record;
  const over = (n: number, item: unknown) => Array.from({ length: n }, () => item);
  const cases: [string, Record<string, unknown>][] = [
    ['kv.clocks: 1025 keys', { op: 'kv.clocks', keys: over(1025, k) }],
    ['kv.replicate.many: 1025 items', { op: 'kv.replicate.many', items: over(1025, { key: k, record }) }],
    ['ae.fetch: 1025 keys', { op: 'ae.fetch', peer: 'n1', keys: over(1025, k) }],
    ['ae.leaves: 1025 leaves', { op: 'ae.leaves', peer: 'n1', leaves: over(1025, 0) }],
    ['ae.leaves: a leaf past the tree', { op: 'ae.leaves', peer: 'n1', leaves: [1024] }],
    ['ae.hashes: 33 segments', { op: 'ae.hashes', peer: 'n1', level: 2, segments: over(33, 0) }],
    ['ae.hashes: segments at level 1', { op: 'ae.hashes', peer: 'n1', level: 1, segments: [0] }],
    ['kv.read: an empty key', { op: 'kv.read', key: '' }],
    ['kv.read: a key over the limit', { op: 'kv.read', key: Buffer.alloc(defaultLimits.maxKeyBytes + 1).toString('base64') }],
    ['kv.coordinate: a value over the limit', { op: 'kv.coordinate', key: k, value: Buffer.alloc(defaultLimits.maxValueBytes + 1).toString('base64') }],
    [
      'gossip.push: a member without its fields',
      { op: 'gossip.push', cluster: { id: 'c', n: 3, w: 2, r: 2, consistency: 'strict' }, members: [{ name: 'x' }] },
    ],
    ['gossip.push: W above N', { op: 'gossip.push', cluster: { id: 'c', n: 1, w: 2, r: 1, consistency: 'strict' }, members: [] }],
    ['gossip.push: a joiner naming a cluster id', { op: 'gossip.push', join: true, cluster: { id: 'c' }, members: [] }],
  ];
  for (const [name, fields] of cases) {
    const code = codeOf(() => throughLine(fields));
    t.ok(code && code !== 'KV_BAD_JSON' && code.startsWith('KV_'), `${name}: refused (${code})`);
  }
});

t.test('a reply field of the wrong type, or a count that does not match the request, is refused', async (t) => {
  for (const op of ops) {
    for (const request of sampleRequests[op]) {
      const json = JSON.parse(JSON.stringify(encodePeerReply(request, sampleReply(request)))) as Record<string, unknown>;
      for (const name of Object.keys(json)) {
        // gossip.push: a malformed cluster in a reply is dropped (the members still merge), not refused.
        if (op === 'gossip.push' && name === 'cluster') continue;
        const code = codeOf(() => decodePeerReply(request, { ...json, [name]: 12.5 }, defaultLimits));
        t.ok(code && REFUSED.has(code), `${op} reply: ${name}=12.5 is refused (${code})`);
      }
    }
  }
  const clocks = sampleRequests['kv.clocks'][0] as PeerRequest;
  t.equal(
    codeOf(() => decodePeerReply(clocks, { clocks: [null] }, defaultLimits)),
    'KV_BAD_REQUEST',
    'kv.clocks: one clock for two keys',
  );
  const clocksAsked = clocks as PeerRequestOf<'kv.clocks'>;
  const swapped = encodePeerReply(clocksAsked, { clocks: [sampleRecord.clock, sampleRecord.clock] }).clocks as string[];
  t.equal(
    codeOf(() => decodePeerReply(clocks, { clocks: [swapped[1], swapped[0]] }, defaultLimits)),
    'KV_BAD_CONTEXT',
    'kv.clocks: each clock is bound to its own key, so clocks out of order are refused',
  );
  const coordinate = wireFields(sampleRequests['kv.coordinate'][0] as PeerRequest);
  t.equal(
    codeOf(() => throughLine({ ...coordinate, key: Buffer.from('another key').toString('base64') })),
    'KV_BAD_CONTEXT',
    "kv.coordinate: a client's context forwarded with another key is refused",
  );
  const many = sampleRequests['kv.replicate.many'][0] as PeerRequest;
  t.equal(
    codeOf(() => decodePeerReply(many, { results: [null, null, null] }, defaultLimits)),
    'KV_BAD_REQUEST',
    'kv.replicate.many: three results for two items',
  );
  const push = sampleRequests['gossip.push'][0] as PeerRequestOf<'gossip.push'>;
  t.equal(
    decodePeerReply(push, { cluster: { id: 'c', n: 9 }, members: [] }, defaultLimits).cluster,
    undefined,
    'gossip.push: a malformed cluster reads as none',
  );
});
