/**
 * Peer connections at the server, in-process: a quiet one is closed after twice
 * --peer-idle-timeout-ms (a busy one never), told KV_IDLE_TIMEOUT; at --max-peer-connections a
 * peer proving itself closes the least recently active quiet peer connection and takes its slot,
 * and is refused only when every peer connection is busy.
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { defaultLimits, type Limits } from '../../src/config.js';
import { answerFrame, answerLine } from '../../src/net/answer.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import type { RequestHandler } from '../../src/protocol/connection.js';
import type { PeerRequest } from '../../src/protocol/peer.js';
import { waitFor } from '../helpers/cli.js';
import { TestPeer } from '../helpers/peer-frames.js';
import { serverGate } from '../helpers/security.js';

const secret = randomBytes(24).toString('hex');

/** A server whose node answers kv.read (an empty record) after `delayMs`. */
async function serve(t: Test, limits: Partial<Limits>, delayMs = 0) {
  const all = { ...defaultLimits, ...limits };
  const handler: RequestHandler = {
    handleClient: async () => ({ pong: true }),
    handlePeer: (async (request: PeerRequest) => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return request.op === 'kv.read' ? { record: undefined, digest: undefined } : {};
    }) as RequestHandler['handlePeer'],
    countError() {},
  };
  const gate = serverGate('server', [Buffer.from(secret)]);
  const server = new TcpServer((line, connection) => answerLine(line, handler, connection, all, gate), all, {
    frames: (frame, connection) => answerFrame(frame, handler, connection, all),
  });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  return { server, addr: `127.0.0.1:${port}` };
}

async function peer(t: Test, addr: string): Promise<TestPeer> {
  const p = await TestPeer.connect(addr, secret);
  t.teardown(() => p.close());
  await p.ping();
  return p;
}

const read = { op: 'kv.read', key: 'aw==', digest: true };

t.test('a quiet peer connection is closed after twice the peer idle timeout, and told why; one with a request running is not', async (t) => {
  // The client idle timeout (1 s) is shorter than a peer's (twice 600 ms), and long enough for a handshake on a busy machine.
  const { server, addr } = await serve(t, { peerIdleTimeoutMs: 600, idleTimeoutMs: 1000 }, 2500);
  const quiet = await peer(t, addr);
  const busy = await peer(t, addr);
  const started = Date.now();
  const slowRead = busy.request(read, 5000);
  await waitFor(() => quiet.connection.closeReason !== undefined, 'the quiet connection to be closed', 5000);
  const took = Date.now() - started;
  t.match(quiet.connection.closeReason, { code: 'KV_IDLE_TIMEOUT', message: /peer connection idle for 1200 ms/ });
  t.ok(took >= 1100, `not after the client idle timeout (1 s), nor before twice the peer one (${took} ms)`);
  t.equal(busy.connection.closeReason, undefined, 'the one with a request running stays');
  await t.resolves(slowRead, 'and its request is answered');
  t.equal(server.stats().closedByPeerIdleTimeout >= 1, true);
  t.equal(server.stats().closedByIdleTimeout, 0, 'peers are not counted as idle clients');
});

t.test('at the peer connection limit, a new peer closes the least recently active quiet one; it is refused only when all are busy', async (t) => {
  const { server, addr } = await serve(t, { maxPeerConnections: 2, peerIdleTimeoutMs: 0 }, 600);
  const first = await peer(t, addr);
  const second = await peer(t, addr);
  await first.ping(); // first is now the more recently active
  const third = await peer(t, addr);
  await waitFor(() => second.connection.closeReason !== undefined, 'the least recently active connection to be closed');
  t.match(second.connection.closeReason, { code: 'KV_IDLE_TIMEOUT', message: /to make room for another peer \(--max-peer-connections 2\)/ });
  t.equal(first.connection.closeReason, undefined, 'the more recently active one stays');
  t.equal(await first.ping(), 'server');
  t.equal(await third.ping(), 'server', 'the new peer is served');
  t.match(server.stats(), { peerConnections: 2, peerConnectionsEvicted: 1, peerConnectionsRefused: 0 });

  // Both busy: a fourth peer is refused, and neither request is disturbed.
  const reads = [first.request(read, 5000), third.request(read, 5000)];
  await t.rejects(TestPeer.connect(addr, secret), { code: 'KV_TOO_MANY_CONNECTIONS', message: /peer connection limit of 2/ }, 'refused');
  await t.resolves(Promise.all(reads), 'both requests answered');
  t.match(server.stats(), { peerConnections: 2, peerConnectionsEvicted: 1, peerConnectionsRefused: 1 });
  // Quiet again: the next peer gets in.
  const fourth = await peer(t, addr);
  t.equal(await fourth.ping(), 'server');
  t.match(server.stats(), { peerConnections: 2, peerConnectionsEvicted: 2 });
});
