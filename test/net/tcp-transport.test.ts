/**
 * Peer links that heal: a connection that ends (closed by the peer, or refused by it on the
 * connection itself) leaves the pool at once and the next request makes a new one; links that
 * cannot be made are retried with a backoff per address, failing fast meanwhile; an error reply
 * to one request keeps the connection; a close never waits forever. The pool is bounded: idle
 * links are closed and made again when needed, the least recently used idle link makes room for
 * a new one at the cap, a request waits for a busy pool within its timeout (and fails unsent
 * after it), and a request on its way when the peer closes the link as idle is sent again.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { defaultLimits } from '../../src/config.js';
import type { KvError } from '../../src/errors.js';
import { LineConnection } from '../../src/net/line-connection.js';
import { encodeErrorFrame, encodePeerReply, OP_CODES } from '../../src/net/peer-frames.js';
import { ReconnectBackoff } from '../../src/net/reconnect-backoff.js';
import { type PeerLinkSettings, TcpTransport } from '../../src/net/tcp-transport.js';
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

function transport(t: Test, now: () => number = Date.now, settings: PeerLinkSettings = defaultLimits): TcpTransport {
  const tr = new TcpTransport(
    defaultLimits,
    { peer: { secrets, self: () => ({ name: 'caller', cluster: 'c1' }), randomBytes } },
    500,
    undefined,
    now,
    settings,
  );
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

/** A peer that answers each request after `delayMs`. */
const answerAfter =
  (delayMs: number): Behaviour =>
  (socket, id, frame) =>
    setTimeout(() => {
      if (!socket.destroyed) answer(socket, id, frame);
    }, delayMs);

t.test('an idle link is closed after the idle timeout; the next request makes a new one, transparently', async (t) => {
  const peer = await fakePeer(t, answer);
  const tr = transport(t, Date.now, { maxPeerLinks: 8, peerIdleTimeoutMs: 150 });
  await tr.request(peer.addr, request, 2000);
  await tr.request(peer.addr, request, 2000);
  t.equal(peer.state.accepted, 1, 'requests in a row share the link');
  await until('the idle link to be closed', () => tr.linkCount === 0);
  t.equal(tr.counters.idleClosed, 1);
  await until('the peer to see the close', () => peer.state.sockets.every((s) => s.readableEnded || s.destroyed));
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'answered over a new link');
  t.equal(peer.state.accepted, 2);
  t.match(tr.counters, { opened: 2, failedToOpen: 0, evicted: 0, retried: 0 });
});

t.test('at the cap, a request to another peer closes the least recently used idle link', async (t) => {
  const peers = [await fakePeer(t, answer), await fakePeer(t, answer), await fakePeer(t, answer)];
  const tr = transport(t, Date.now, { maxPeerLinks: 2, peerIdleTimeoutMs: 60_000 });
  const [a, b, c] = peers.map((p) => p.addr) as [string, string, string];
  await tr.request(a, request, 2000);
  await tr.request(b, request, 2000);
  await tr.request(a, request, 2000); // a is now the most recently used
  await tr.request(c, request, 2000);
  t.equal(tr.linkCount, 2, 'never more links than the cap');
  t.equal(tr.counters.evicted, 1);
  await until("b's link to be closed", () => peers[1]?.state.sockets.every((s) => s.readableEnded || s.destroyed) === true);
  t.ok(
    peers[0]?.state.sockets.every((s) => !s.readableEnded && !s.destroyed),
    "a's link, used more recently, stays",
  );
  await tr.request(a, request, 2000);
  t.equal(peers[0]?.state.accepted, 1, 'and serves on');
  await tr.request(b, request, 2000);
  t.equal(peers[1]?.state.accepted, 2, 'b gets a new link when needed');
  t.equal(tr.counters.evicted, 2);
});

t.test('with every link busy, a request to another peer waits for one to go idle, within its own timeout', async (t) => {
  const slow = await fakePeer(t, answerAfter(300));
  const other = await fakePeer(t, answer);
  const tr = transport(t, Date.now, { maxPeerLinks: 1, peerIdleTimeoutMs: 60_000 });
  const started = Date.now();
  const results = await Promise.allSettled([tr.request(slow.addr, request, 2000), tr.request(other.addr, request, 2000)]);
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled'],
    'both answered',
  );
  t.ok(Date.now() - started >= 290, 'the second waited for the first');
  t.match(tr.counters, { waited: 1, waitsTimedOut: 0, evicted: 1 });

  const waitedOut = tr.request(other.addr, request, 2000).then(() => tr.request(slow.addr, request, 2000));
  await waitedOut;
  const busy = tr.request(slow.addr, request, 2000);
  const before = other.state.frames.length;
  await t.rejects(
    tr.request(other.addr, request, 100),
    { code: 'KV_UNREACHABLE', message: /all 1 peer links \(--max-peer-links\) stayed busy for 100 ms; not sent/ },
    'a request whose timeout passes while it waits fails, unsent',
  );
  t.equal(other.state.frames.length, before, 'the other peer never got it');
  t.equal(tr.waitingCount, 0, 'and it left the line');
  await busy;
  t.equal(tr.counters.waitsTimedOut, 1);
});

t.test('a request on its way when the peer closes the link as idle is sent again, once, on a new link', async (t) => {
  let closeAsIdle = 1;
  const peer = await fakePeer(t, (socket, id, frame) => {
    if (closeAsIdle > 0) {
      closeAsIdle--;
      // What a daemon does to a quiet peer connection: its farewell (id 0), then it reads nothing more.
      socket.end(errorFrame(0, 'KV_IDLE_TIMEOUT', 'peer connection idle for 120000 ms; closing it'));
      return;
    }
    answer(socket, id, frame);
  });
  const tr = transport(t);
  t.same(await tr.request(peer.addr, request, 2000), { record: undefined, digest: undefined }, 'answered');
  t.equal(peer.state.accepted, 2, 'over a second link');
  t.equal(tr.counters.retried, 1);

  // Closed that way twice in a row: the second is the request's own failure (one retry only).
  closeAsIdle = 2;
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_IDLE_TIMEOUT' });
  t.equal(tr.counters.retried, 2);
});

t.test('a request is not sent again when the link ends any other way with it on its way (it may have run)', async (t) => {
  let dropNext = true;
  const peer = await fakePeer(t, (socket, id, frame) => {
    if (dropNext) {
      dropNext = false;
      socket.destroy();
      return;
    }
    answer(socket, id, frame);
  });
  const tr = transport(t);
  await t.rejects(tr.request(peer.addr, request, 2000), { code: 'KV_UNREACHABLE' });
  t.equal(tr.counters.retried, 0);
  t.equal(peer.state.frames.length, 1, 'sent once');
});

t.test('close fails the requests waiting for a link and makes no new one', async (t) => {
  const slow = await fakePeer(t, answerAfter(500));
  const other = await fakePeer(t, answer);
  const tr = transport(t, Date.now, { maxPeerLinks: 1, peerIdleTimeoutMs: 60_000 });
  const busy = tr.request(slow.addr, request, 2000).catch((err: KvError) => err.code);
  const waiting = tr.request(other.addr, request, 2000);
  await until('the request to wait', () => tr.waitingCount === 1);
  const refused = t.rejects(waiting, { code: 'KV_UNREACHABLE', message: /stopping/ }, 'the waiting request fails');
  await tr.close();
  await refused;
  await t.rejects(tr.request(other.addr, request, 2000), { code: 'KV_UNREACHABLE', message: /stopping/ });
  t.equal(other.state.accepted, 0);
  await busy;
});
