/**
 * Peer links that heal: a connection that ends (closed by the peer, or refused by it on the
 * connection itself) leaves the pool at once and the next request makes a new one; links that
 * cannot be made are retried with a backoff per address, failing fast meanwhile; an error reply
 * to one request keeps the connection; a close never waits forever.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { defaultLimits } from '../../src/config.js';
import { LineConnection } from '../../src/net/line-connection.js';
import { encodeErrorFrame, encodePeerReply, OP_CODES } from '../../src/net/peer-frames.js';
import { ReconnectBackoff } from '../../src/net/reconnect-backoff.js';
import { TcpTransport } from '../../src/net/tcp-transport.js';
import type { PeerRequestOf } from '../../src/protocol/peer.js';
import { answerAsPeer, serverGate } from '../helpers/security.js';

const secrets = [Buffer.from('tcp-transport-test-secret-0123456789')];
const request: PeerRequestOf<'kv.read'> = { op: 'kv.read', key: Buffer.from('k'), digest: true };

type Behaviour = (socket: Socket, id: number, frame: Buffer) => void;

/**
 * A peer that runs the server side of the handshake, then answers each request frame as
 * `behaviour` says; `refuseAtConnect` makes it refuse connections as a daemon at its limit does.
 */
async function fakePeer(t: Test, behaviour: Behaviour) {
  const gate = serverGate('peer', secrets);
  const sockets: Socket[] = [];
  const state = { accepted: 0, refuseAtConnect: false, sockets, frames: [] as Buffer[], maxLineBytes: defaultLimits.maxLineBytes };
  const server: Server = createServer((socket) => {
    state.accepted++;
    sockets.push(socket);
    socket.on('error', () => {});
    if (state.refuseAtConnect) {
      socket.end(`${JSON.stringify({ id: null, ok: false, error: { code: 'KV_TOO_MANY_CONNECTIONS', message: 'at the limit' } })}\n`);
      return;
    }
    answerAsPeer(
      socket,
      gate,
      'peer',
      () => ({ ...defaultLimits, maxLineBytes: state.maxLineBytes }),
      (frame, id) => {
        state.frames.push(frame);
        behaviour(socket, id, frame);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { addr: `127.0.0.1:${(server.address() as { port: number }).port}`, state };
}

function transport(t: Test, now: () => number = Date.now): TcpTransport {
  const tr = new TcpTransport(defaultLimits, { peer: { secrets, self: () => ({ name: 'caller', cluster: 'c1' }), randomBytes } }, 500, undefined, now);
  t.teardown(() => tr.close());
  return tr;
}

const answer: Behaviour = (socket, id) => socket.write(encodePeerReply(request, { record: undefined, digest: undefined }, id));
/** An error frame answering the request `id`, or the connection's own (id 0). */
const errorFrame = (id: number, code: string, message: string) => encodeErrorFrame(id, OP_CODES[request.op], { code, message });

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test('backoff: doubles per failure in a row up to the ceiling, per address, forgotten on success', async (t) => {
  const b = new ReconnectBackoff({ initialMs: 50, maxMs: 300 });
  t.equal(b.waitMs('a', 0), 0, 'never failed: try now');
  b.failed('a', 1000);
  t.equal(b.waitMs('a', 1000), 50);
  t.equal(b.waitMs('a', 1030), 20, 'the wait runs down');
  t.equal(b.waitMs('b', 1000), 0, 'another address is not affected');
  b.failed('a', 2000);
  t.equal(b.waitMs('a', 2000), 100);
  b.failed('a', 3000);
  b.failed('a', 4000);
  t.equal(b.waitMs('a', 4000), 300, 'capped');
  t.equal(b.failures('a'), 4);
  b.succeeded('a');
  t.equal(b.waitMs('a', 4000), 0);
  b.failed('a', 5000);
  t.equal(b.waitMs('a', 5000), 50, 'a success starts the doubling over');
});

t.test('a connection the peer refuses on the connection itself is dropped at once, and the next request gets a new one', async (t) => {
  let refuseNext = true;
  const peer = await fakePeer(t, (socket, id) => {
    if (refuseNext) {
      refuseNext = false;
      // What a daemon does with a line over its limit: an error without an id, then it closes.
      socket.end(errorFrame(0, 'KV_LINE_TOO_LONG', 'too long'));
      return;
    }
    answer(socket, id, Buffer.alloc(0));
  });
  const tr = transport(t);
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_LINE_TOO_LONG' });
  await until('the link to leave the pool', () => tr.linkCount === 0);
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'the very next request is answered');
  t.equal(peer.state.accepted, 2, 'over a new connection');
  t.equal(tr.counters.ended, 1);
});

t.test('a connection the peer closes while idle leaves the pool without failing a request', async (t) => {
  const peer = await fakePeer(t, answer);
  const tr = transport(t);
  await tr.request(peer.addr, request, 2000);
  t.equal(tr.linkCount, 1);
  for (const s of peer.state.sockets) s.end();
  await until('the link to leave the pool', () => tr.linkCount === 0);
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'answered, over a new connection');
  t.equal(peer.state.accepted, 2);
});

t.test("an error reply to one request keeps the connection; one peer's broken link does not touch another's", async (t) => {
  const refusing = await fakePeer(t, (socket, id) => socket.write(errorFrame(id, 'KV_UNREACHABLE', 'the peer could not reach a third node')));
  const closing = await fakePeer(t, (socket) => socket.destroy());
  const healthy = await fakePeer(t, answer);
  const tr = transport(t);
  await t.rejects(tr.request(refusing.addr, request, 2000), { code: 'KV_UNREACHABLE' });
  await t.rejects(tr.request(refusing.addr, request, 2000), { code: 'KV_UNREACHABLE' });
  t.equal(refusing.state.accepted, 1, 'two refusals with an id: still the first connection');
  const results = await Promise.allSettled([
    tr.request(closing.addr, request, 2000),
    tr.request(healthy.addr, request, 2000),
    tr.request(healthy.addr, request, 2000),
  ]);
  t.equal(results[0]?.status, 'rejected', 'the peer that drops its connections fails');
  t.same(
    results.slice(1).map((r) => r.status),
    ['fulfilled', 'fulfilled'],
    'requests to another peer at the same time are answered',
  );
});

t.test('a link that cannot be made is retried with backoff; meanwhile requests fail fast with KV_UNREACHABLE', async (t) => {
  const peer = await fakePeer(t, answer);
  let now = 1_000_000;
  const tr = transport(t, () => now);
  peer.state.refuseAtConnect = true;
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_TOO_MANY_CONNECTIONS' });
  t.equal(peer.state.accepted, 1);
  const started = Date.now();
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_UNREACHABLE', message: /next attempt in 50 ms/ });
  t.ok(Date.now() - started < 100, 'failed at once');
  t.equal(peer.state.accepted, 1, 'no attempt during the backoff');
  now += 50;
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_TOO_MANY_CONNECTIONS' });
  t.equal(peer.state.accepted, 2, 'tried again once the backoff ran out');
  await t.rejects(
    tr.request(peer.addr, request, 2000),
    { code: 'KV_UNREACHABLE', message: /next attempt in 100 ms/ },
    'the second failure waits twice as long',
  );
  peer.state.refuseAtConnect = false;
  now += 100;
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'the peer takes connections again');
  for (const s of peer.state.sockets) s.destroy();
  await until('the link to leave the pool', () => tr.linkCount === 0);
  await tr.request(peer.addr, request, 2000);
  t.equal(peer.state.accepted, 4, 'after a success, a link that ends is made again at once');
});

t.test('gossip news from a peer ends its backoff: the next request tries at once', async (t) => {
  const peer = await fakePeer(t, answer);
  const now = 1_000_000;
  const tr = transport(t, () => now);
  peer.state.refuseAtConnect = true;
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_TOO_MANY_CONNECTIONS' });
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_UNREACHABLE', message: /next attempt in/ }, 'in backoff');
  peer.state.refuseAtConnect = false;
  tr.heardFrom(peer.addr);
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'made at once, with no time passed');
  t.equal(peer.state.accepted, 2);
});

t.test("a message over the peer's line limit is refused unsent; the link and the other requests on it stay", async (t) => {
  const peer = await fakePeer(t, answer);
  peer.state.maxLineBytes = 4096;
  const tr = transport(t);
  const big: PeerRequestOf<'kv.read'> = { op: 'kv.read', key: Buffer.alloc(4090, 1), digest: true };
  const results = await Promise.allSettled([tr.request(peer.addr, request, 2000), tr.request(peer.addr, big, 2000), tr.request(peer.addr, request, 2000)]);
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
    'only the long one fails',
  );
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'KV_LINE_TOO_LONG', message: /not sent/ });
  t.notOk(
    peer.state.frames.some((f) => f.length > 4096),
    'the peer never saw it',
  );
  t.equal(peer.state.accepted, 1, 'one connection throughout');
});

t.test('close does not wait forever for a peer that never closes its end', async (t) => {
  // Half-open allowed and never ended: the peer's end stays open after ours closes, as a hung process's would.
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const connection = await LineConnection.connect(`127.0.0.1:${(server.address() as { port: number }).port}`, { timeoutMs: 1000 });
  const started = Date.now();
  await connection.close(200);
  const took = Date.now() - started;
  t.ok(took < 1000, `closed after the grace (${took} ms)`);
  t.ok(connection.closeReason, 'and the connection is ended');
});
