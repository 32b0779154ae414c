/**
 * The peer transport contract (src/protocol/transport.ts) as a conformance suite, run against
 * every transport: TCP (a real server on a loopback port), the simulator's network (virtual
 * time), and the fault switch wrapped around TCP with no fault set. Each serves a RequestHandler
 * through the same frame answering (net/answer.ts) the daemon uses.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { defaultLimits } from '../../src/config.js';
import { VirtualClock } from '../../src/env/clock.js';
import { SeededRandom } from '../../src/env/random.js';
import { SystemClock } from '../../src/env/system-clock.js';
import { KvError } from '../../src/errors.js';
import { answerFrame, answerLine } from '../../src/net/answer.js';
import { FaultSwitch } from '../../src/net/fault-switch.js';
import { encodePeerReply } from '../../src/net/peer-frames.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import { TcpTransport } from '../../src/net/tcp-transport.js';
import { type ConnectionIdentity, opRefusal, type RequestHandler } from '../../src/protocol/connection.js';
import type { PeerOp, PeerReplies, PeerRequest } from '../../src/protocol/peer.js';
import type { PeerTransport } from '../../src/protocol/transport.js';
import { runFor, SimNetwork, serveFrames } from '../../src/sim/index.js';
import { answerAsPeer, serverGate } from '../helpers/security.js';
import { sampleRecord, sampleReply, sampleRequests, tombstone } from './peer-samples.js';

interface Harness {
  transport: PeerTransport;
  /** Serves `handler` at a fresh address. */
  serve(handler: RequestHandler): Promise<string>;
  /** An address where nothing listens. */
  deadAddr(): Promise<string>;
  /** Runs a request to its end (the simulator drives virtual time). */
  settle<R>(promise: Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** A handler that answers peer ops with `answer` and records what it saw. */
function handlerOf(answer: (request: PeerRequest) => Promise<PeerReplies[PeerOp]> | PeerReplies[PeerOp]) {
  const seen: { request: PeerRequest; connection: ConnectionIdentity }[] = [];
  const handler: RequestHandler = {
    handleClient: async () => ({}),
    handlePeer: (async (request: PeerRequest, connection: ConnectionIdentity) => {
      seen.push({ request, connection });
      return answer(request);
    }) as RequestHandler['handlePeer'],
    countError() {},
  };
  return { handler, seen };
}

async function tcpHarness(wrap?: (inner: PeerTransport) => PeerTransport): Promise<Harness> {
  const servers: TcpServer[] = [];
  // Both ends hold the same secret: every connection runs the peer handshake before its first message.
  const secrets = [Buffer.from('transport-contract-secret-0123456789')];
  const inner = new TcpTransport(defaultLimits, { peer: { secrets, self: () => ({ name: 'caller', cluster: 'c1' }), randomBytes } }, 500);
  const gate = serverGate('server', secrets);
  const serve = async (handler: RequestHandler) => {
    const server = new TcpServer((line, connection) => answerLine(line, handler, connection, defaultLimits, gate), defaultLimits, {
      frames: (frame, connection) => answerFrame(frame, handler, connection, defaultLimits),
    });
    servers.push(server);
    return `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  };
  return {
    transport: wrap ? wrap(inner) : inner,
    serve,
    deadAddr: async () => {
      const server = new TcpServer(async () => ({ id: null, ok: true }), defaultLimits);
      const port = await server.listen('127.0.0.1', 0);
      await server.close(0);
      return `127.0.0.1:${port}`;
    },
    settle: (promise) => promise,
    // Servers first: a connection still running a request that never ends (the timeout case)
    // holds the client's orderly close until the server drops it.
    close: async () => {
      await Promise.all(servers.map((s) => s.close(0)));
      await inner.close();
    },
  };
}

function simHarness(): Harness {
  const clock = new VirtualClock(0);
  const net = new SimNetwork(clock, new SeededRandom(3), { latencyMs: [1, 3], lossRate: 0 });
  let next = 1;
  return {
    transport: net.transportFor('10.0.0.99:7070'),
    serve: async (handler) => {
      const addr = `10.0.0.${next++}:7070`;
      net.register(addr, serveFrames(handler, defaultLimits), 'server');
      return addr;
    },
    deadAddr: async () => '10.0.0.250:7070',
    settle: async (promise) => {
      let done = false;
      const mark = () => {
        done = true;
      };
      promise.then(mark, mark);
      while (!done) await runFor(clock, 10, 1);
      return promise;
    },
    close: async () => {},
  };
}

function conformance(t: Test, name: string, make: () => Promise<Harness>): void {
  t.test(`${name}: the transport contract`, async (t) => {
    const h = await make();
    t.teardown(() => h.close());

    t.test('every peer message arrives as sent and its reply comes back as answered', async (t) => {
      const { handler, seen } = handlerOf(sampleReply);
      const addr = await h.serve(handler);
      for (const requests of Object.values(sampleRequests)) {
        for (const request of requests) {
          const reply = await h.settle(h.transport.request(addr, request, 5000));
          t.same(seen.at(-1)?.request, request, `${request.op}: the handler got the message`);
          t.same(reply, sampleReply(request), `${request.op}: the caller got the reply`);
        }
      }
      t.ok(
        seen.every((s) => opRefusal(s.request.op, s.connection) === undefined),
        'the connection may run peer ops',
      );
    });

    t.test("a handler's error comes back with its code and details", async (t) => {
      const { handler } = handlerOf(() => {
        throw new KvError('KV_NOT_MEMBER', 'left', { node: 'n1' });
      });
      const addr = await h.serve(handler);
      const failure = h.settle(h.transport.request(addr, { op: 'kv.read', key: Buffer.from('k'), digest: false }, 5000));
      await t.rejects(failure, { code: 'KV_NOT_MEMBER', details: { node: 'n1' } });
    });

    t.test('a malformed reply is refused, not cast', async (t) => {
      // One result for two items: the frame says so, and the caller refuses it.
      const { handler } = handlerOf(() => ({ results: [undefined] }) as PeerReplies['kv.replicate.many']);
      const addr = await h.serve(handler);
      const items = [
        { key: Buffer.from('k'), record: tombstone },
        { key: Buffer.from('l'), record: tombstone },
      ];
      const reply = h.settle(h.transport.request(addr, { op: 'kv.replicate.many', items }, 5000));
      await t.rejects(reply, { code: 'KV_BAD_REQUEST', message: /results must be 2 to 2/ });
    });

    t.test('a request meant for another node than the one at the address is refused unsent: KV_UNREACHABLE', async (t) => {
      const { handler, seen } = handlerOf(sampleReply);
      const addr = await h.serve(handler);
      const request: PeerRequest = { op: 'kv.replicate', key: Buffer.from('k'), record: sampleRecord };
      await t.rejects(h.settle(h.transport.request(addr, request, 5000, 'impostor')), {
        code: 'KV_UNREACHABLE',
        message: /is server, not impostor/,
        details: { peer: 'impostor', found: 'server' },
      });
      t.equal(seen.length, 0, 'nothing reached the node there');
      t.same(await h.settle(h.transport.request(addr, request, 5000, 'server')), {}, 'meant for the node there, it is answered');
      t.equal(seen.length, 1);
    });

    t.test('nobody at the address: KV_UNREACHABLE', async (t) => {
      const dead = await h.deadAddr();
      await t.rejects(h.settle(h.transport.request(dead, { op: 'kv.read', key: Buffer.from('k'), digest: true }, 2000)), { code: 'KV_UNREACHABLE' });
    });

    t.test('no reply in time: KV_TIMEOUT, and the link still works after', async (t) => {
      let hold = true;
      const { handler } = handlerOf((request) => (hold ? new Promise(() => {}) : sampleReply(request)));
      const addr = await h.serve(handler);
      const request: PeerRequest = { op: 'kv.replicate', key: Buffer.from('k'), record: sampleRecord };
      await t.rejects(h.settle(h.transport.request(addr, request, 200)), { code: 'KV_TIMEOUT' });
      hold = false;
      t.same(await h.settle(h.transport.request(addr, request, 2000)), {}, 'the next request is answered');
    });
  });
}

conformance(t, 'TCP', () => tcpHarness());
conformance(t, 'simulated network', async () => simHarness());
conformance(t, 'fault switch (no fault) over TCP', () => tcpHarness((inner) => new FaultSwitch(inner, new SystemClock())));

t.test('fault switch: reset refuses at once, drop times out unseen, hang times out after the peer ran it', async (t) => {
  let faults: FaultSwitch | undefined;
  const h = await tcpHarness((inner) => {
    faults = new FaultSwitch(inner, new SystemClock());
    return faults;
  });
  t.teardown(() => h.close());
  const { handler, seen } = handlerOf(sampleReply);
  const addr = await h.serve(handler);
  const request: PeerRequest = { op: 'kv.read', key: Buffer.from('k'), digest: true };
  faults?.set(addr, 'reset');
  await t.rejects(h.transport.request(addr, request, 300), { code: 'KV_UNREACHABLE' });
  faults?.set(addr, 'drop');
  await t.rejects(h.transport.request(addr, request, 300), { code: 'KV_TIMEOUT' });
  t.equal(seen.length, 0, 'dropped and reset messages never reached the peer');
  faults?.set(addr, 'hang');
  await t.rejects(h.transport.request(addr, request, 300), { code: 'KV_TIMEOUT' });
  t.equal(seen.length, 1, 'a hung message was delivered; only its reply was lost');
  t.throws(() => faults?.set(addr, 'sideways'), { code: 'KV_BAD_REQUEST' }, 'an unknown mode');
  faults?.set(addr, 'none');
  t.same(await h.transport.request(addr, request, 2000), sampleReply(request), 'none: through again');
});

t.test('TCP: a malformed reply frame fails its request alone; a malformed frame header ends the link, and the next request goes over a new one', async (t) => {
  const connections: Socket[] = [];
  const secrets = [Buffer.from('transport-contract-secret-0123456789')];
  const gate = serverGate('server', secrets);
  const request = { op: 'kv.reap', key: Buffer.from('k'), record: tombstone } as const;
  let answered = 0;
  const server = createServer((socket) => {
    connections.push(socket);
    answerAsPeer(
      socket,
      gate,
      'server',
      () => defaultLimits,
      (_frame, id) => {
        answered++;
        const good = encodePeerReply(request, { dropped: true }, id);
        // First a reply with a byte after its last field, then a good one, then a header whose length cannot hold a header.
        if (answered === 1) {
          const bad = Buffer.concat([good, Buffer.from([0])]);
          bad.writeUInt32BE(bad.length - 4, 0);
          socket.write(bad);
        } else if (answered === 2) socket.write(good);
        else if (answered === 3) socket.write(Buffer.from([0, 0, 0, 1, 2]));
        else socket.write(good);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const transport = new TcpTransport(defaultLimits, { peer: { secrets, self: () => ({ name: 'caller', cluster: 'c1' }), randomBytes } }, 500);
  t.teardown(async () => {
    await transport.close();
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
  await t.rejects(transport.request(addr, request, 2000), { code: 'KV_BAD_REQUEST', message: /kv\.reap reply.*1 bytes after the last field/ });
  t.same(await transport.request(addr, request, 2000), { dropped: true }, 'the next request is answered over the same connection');
  t.equal(connections.length, 1);
  await t.rejects(transport.request(addr, request, 2000), { code: 'KV_INTERNAL', message: /malformed frame/ });
  t.same(await transport.request(addr, request, 2000), { dropped: true }, 'answered over a new connection');
  t.equal(connections.length, 2, 'the connection that carried the malformed header was not reused');
});

t.test('simulated network: a reply frame that does not answer the request is refused', async (t) => {
  const clock = new VirtualClock(0);
  const net = new SimNetwork(clock, new SeededRandom(3), { latencyMs: [1, 1], lossRate: 0 });
  const request = { op: 'kv.reap', key: Buffer.from('k'), record: tombstone } as const;
  const replies = [
    (id: number) => Buffer.concat([encodePeerReply(request, { dropped: true }, id), Buffer.from([1])]),
    (id: number) => encodePeerReply(request, { dropped: true }, id + 1),
    (id: number) => encodePeerReply({ op: 'kv.read', key: Buffer.from('k'), digest: true }, { record: undefined, digest: undefined }, id),
  ];
  for (const [i, reply] of replies.entries()) {
    net.register(`10.0.0.${i}:1`, (frame) => reply(frame.readUInt32BE(5)));
    const outcome = net.transportFor('10.0.0.99:1').request(`10.0.0.${i}:1`, request, 1000);
    const caught = outcome.catch((err: unknown) => err);
    await runFor(clock, 10, 1);
    t.match(await caught, { code: 'KV_BAD_REQUEST', message: /kv\.reap reply/ }, `reply ${i} is refused`);
  }
});
