/**
 * The server's peer framing, in-process: after a successful handshake the connection carries
 * frames both ways (bytes a peer pipelines right after its proof included); a frame that cannot
 * be decoded is answered by an error for its id and the connection goes on; a malformed header
 * or a frame over --max-line-bytes closes the connection, the latter refused from its header
 * without being held; the per-connection in-flight limit and the reply limit hold for frames as
 * for lines; a peer speaking another protocol version is refused, naming both versions.
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { defaultLimits, type Limits } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import { answerFrame, answerLine } from '../../src/net/answer.js';
import {
  decodeErrorFrame,
  decodePeerReply,
  encodePeerRequest,
  FRAME_ERROR,
  FRAME_REPLY,
  OP_CODES,
  PING_OP_CODE,
  readFrameHeader,
} from '../../src/net/peer-frames.js';
import { PEER_PROTOCOL_VERSION } from '../../src/net/protocol.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import type { RequestHandler } from '../../src/protocol/connection.js';
import type { PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import { CODEC_RAW } from '../../src/storage/codec.js';
import { rawPeer, TestPeer } from '../helpers/peer-frames.js';
import { serverGate } from '../helpers/security.js';

const secret = Buffer.from('frames-test-secret-0123456789abcdef');
const read: PeerRequestOf<'kv.read'> = { op: 'kv.read', key: Buffer.from('k'), digest: false };

/** A server whose node answers kv.read with a record holding `valueBytes` bytes, after `delayMs`. */
async function serve(t: Test, limits: Partial<Limits> = {}, o: { valueBytes?: number; delayMs?: number } = {}) {
  const all = { ...defaultLimits, ...limits };
  const state = { running: 0, maxRunning: 0, errors: 0 };
  const handler: RequestHandler = {
    handleClient: async () => ({ pong: true }),
    handlePeer: (async (request: PeerRequest) => {
      state.running++;
      state.maxRunning = Math.max(state.maxRunning, state.running);
      if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
      state.running--;
      if (request.op !== 'kv.read') return {};
      const stored = Buffer.alloc(o.valueBytes ?? 3, 7);
      return {
        record: { clock: new Map([['a~1', 1]]), siblings: [{ dot: ['a~1', 1], ts: 5, value: { codec: CODEC_RAW, stored, raw: stored } }] },
        digest: undefined,
      };
    }) as RequestHandler['handlePeer'],
    countError() {
      state.errors++;
    },
  };
  const gate = serverGate('server', [secret]);
  const server = new TcpServer((line, connection) => answerLine(line, handler, connection, all, gate), all, {
    frames: (frame, connection) => answerFrame(frame, handler, connection, all),
  });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  return { server, addr: `127.0.0.1:${port}`, state };
}

t.test('after the handshake, a peer link carries frames both ways; JSON requests are no longer taken on it', async (t) => {
  const { addr } = await serve(t);
  const peer = await TestPeer.connect(addr, secret.toString());
  t.teardown(() => peer.close());
  t.equal(await peer.ping(), 'server', 'the frame-layer ping');
  const reply = await peer.request({ op: 'kv.read', key: 'aw==' });
  t.match(reply, { record: { clock: [['a~1', 1]] } }, 'a kv.read over frames');
  t.ok(peer.connection.speaksFrames);
  await t.rejects(peer.connection.request({ op: 'ping' }), { code: 'KV_BAD_REQUEST', message: /carries peer frames/ }, 'a JSON request is refused unsent');
});

t.test('a peer handshake that does not ask for frames keeps lines: client views are served, node-to-node ops are not', async (t) => {
  const { addr } = await serve(t);
  const { socket, reader } = await rawPeer(addr, secret, { frames: false });
  t.teardown(() => socket.destroy());
  socket.write('{"id":3,"op":"members"}\n');
  t.match(await reader.line(), { id: 3, ok: true, pong: true }, 'a client op, answered as a line');
  socket.write('{"id":4,"op":"kv.read","key":"aw=="}\n');
  t.match(await reader.line(), { id: 4, ok: false, error: { code: 'KV_BAD_REQUEST', message: /kv\.read travels between nodes in binary frames/ } });
});

t.test('a frame pipelined in the same write as the proof is read as a frame once the proof succeeded', async (t) => {
  const { addr } = await serve(t);
  const { socket, reader } = await rawPeer(addr, secret, { afterProof: encodePeerRequest(read, 42) });
  t.teardown(() => socket.destroy());
  const frame = await reader.frame();
  t.match(readFrameHeader(frame), { kind: FRAME_REPLY, id: 42, opCode: OP_CODES['kv.read'] });
  t.equal(decodePeerReply(read, frame, defaultLimits).record?.siblings.length, 1);
});

t.test('a frame that cannot be decoded is answered by an error for its id, and the connection goes on', async (t) => {
  const { addr, state } = await serve(t);
  const { socket, reader } = await rawPeer(addr, secret);
  t.teardown(() => socket.destroy());
  const trailing = Buffer.concat([encodePeerRequest(read, 5), Buffer.from([0])]);
  trailing.writeUInt32BE(trailing.length - 4, 0);
  const unknownOp = encodePeerRequest(read, 6);
  unknownOp[9] = 99;
  const hugeCount = encodePeerRequest({ op: 'kv.clocks', keys: [Buffer.from('k')] }, 7);
  hugeCount.writeUInt32BE(0x7fffffff, 10);
  const notRequest = encodePeerRequest(read, 8);
  notRequest[4] = FRAME_REPLY;
  const cases: [number, Buffer, RegExp][] = [
    [5, trailing, /1 bytes after the last field/],
    [6, unknownOp, /unknown op code 99/],
    [7, hugeCount, /keys must be 1 to 1024/],
    [8, notRequest, /must be a request/],
  ];
  for (const [id, frame, message] of cases) {
    socket.write(frame);
    const answer = await reader.frame();
    t.match(readFrameHeader(answer), { kind: FRAME_ERROR, id });
    t.match(decodeErrorFrame(answer), { code: 'KV_BAD_REQUEST', message }, `id ${id}: ${message}`);
  }
  socket.write(encodePeerRequest(read, 9));
  t.match(readFrameHeader(await reader.frame()), { kind: FRAME_REPLY, id: 9 }, 'and the next frame is answered on the same connection');
  t.equal(state.errors, 4);
});

t.test('a malformed frame header closes the connection, saying why', async (t) => {
  const { addr } = await serve(t);
  const { socket, reader } = await rawPeer(addr, secret);
  t.teardown(() => socket.destroy());
  socket.write(Buffer.from([0, 0, 0, 3, 1, 0, 0]));
  const farewell = await reader.frame();
  t.match(readFrameHeader(farewell), { kind: FRAME_ERROR, id: 0 });
  t.match(decodeErrorFrame(farewell), { code: 'KV_BAD_REQUEST', message: /malformed frame header/ });
  await reader.ended();
});

t.test('a frame over --max-line-bytes is refused from its header, without being held, and the connection closed', async (t) => {
  const { addr, server } = await serve(t, { maxLineBytes: 64 * 1024 });
  const { socket, reader } = await rawPeer(addr, secret);
  t.teardown(() => socket.destroy());
  const header = encodePeerRequest(read, 3).subarray(0, 10);
  header.writeUInt32BE(100 * 1024 * 1024, 0);
  socket.write(header);
  socket.write(Buffer.alloc(1024 * 1024, 1));
  const farewell = await reader.frame();
  t.match(readFrameHeader(farewell), { kind: FRAME_ERROR, id: 0 });
  t.match(decodeErrorFrame(farewell), { code: 'KV_LINE_TOO_LONG', message: /a frame of 104857604 bytes exceeds 65536/, details: { limit: 65536 } });
  t.ok(server.stats().inputBytesHeld < 64 * 1024, `input held: ${server.stats().inputBytesHeld} bytes`);
  await reader.ended();
});

t.test('frames keep to the in-flight limit per connection, and a reply over the limit becomes KV_REPLY_TOO_LARGE for its id', async (t) => {
  const { addr, state } = await serve(t, { maxInFlightPerConnection: 2, maxLineBytes: 200_000 }, { delayMs: 30, valueBytes: 1000 });
  const { socket, reader } = await rawPeer(addr, secret);
  t.teardown(() => socket.destroy());
  for (let id = 1; id <= 10; id++) socket.write(encodePeerRequest(read, id));
  const ids: number[] = [];
  for (let i = 0; i < 10; i++) ids.push(readFrameHeader(await reader.frame()).id);
  t.same(
    ids.sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    'every frame answered',
  );
  t.equal(state.maxRunning, 2, 'never more than 2 running');

  const big = await serve(t, { maxLineBytes: 50_000 }, { valueBytes: 60_000 });
  const raw = await rawPeer(big.addr, secret);
  t.teardown(() => raw.socket.destroy());
  raw.socket.write(encodePeerRequest(read, 77));
  const answer = await raw.reader.frame();
  t.match(readFrameHeader(answer), { kind: FRAME_ERROR, id: 77, opCode: OP_CODES['kv.read'] });
  t.match(decodeErrorFrame(answer), { code: 'KV_REPLY_TOO_LARGE', message: /a frame may carry at most 50000/ });
  raw.socket.write(Buffer.from([0, 0, 0, 6, 1, 0, 0, 0, 78, PING_OP_CODE]));
  t.match(readFrameHeader(await raw.reader.frame()), { kind: FRAME_REPLY, id: 78 }, 'the connection goes on');
});

t.test('a peer speaking another protocol version is refused, naming both versions', async (t) => {
  const { addr } = await serve(t);
  const other = PEER_PROTOCOL_VERSION - 1;
  await t.rejects(rawPeer(addr, secret, { version: other }), {
    code: 'KV_BAD_REQUEST',
    message: `peer.hello: this node speaks peer protocol version ${PEER_PROTOCOL_VERSION}, not ${other}`,
    details: { version: PEER_PROTOCOL_VERSION, theirs: other },
  });
});

t.test('the connecting side refuses a node that answers with another version, naming both', async (t) => {
  const { createServer } = await import('node:net');
  const server = createServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      const { id } = JSON.parse(chunk.toString('utf8')) as { id: number };
      socket.write(`${JSON.stringify({ id, ok: true, version: 1, node: 'old', cluster: 'c1', nonce: randomBytes(32).toString('base64') })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const err = await TestPeer.connect(addr, 'x').catch((e: unknown) => e);
  t.ok(err instanceof KvError);
  t.match(err, {
    code: 'KV_BAD_REQUEST',
    message: `the node at ${addr} speaks peer protocol version 1; this node speaks peer protocol version ${PEER_PROTOCOL_VERSION}`,
  });
});
