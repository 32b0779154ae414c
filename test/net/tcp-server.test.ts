/**
 * TcpServer edge cases found in review: a written reply is not kept by a connection whose queue
 * never empties; time the server itself keeps a connection paused does not count toward the read
 * timeout; a refused connection whose client never closes is destroyed after a grace.
 */
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { defaultLimits, type Limits } from '../../src/config.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import type { Reply } from '../../src/protocol/client.js';
import { waitFor } from '../helpers/cli.js';

async function serve(t: Test, limits: Partial<Limits>, handler: (id: unknown) => Promise<Reply>): Promise<{ server: TcpServer; port: number }> {
  const server = new TcpServer((line) => handler((JSON.parse(line.toString('utf8')) as { id: unknown }).id), { ...defaultLimits, ...limits });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  return { server, port };
}

function open(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...options });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** File descriptors this process has open (the server and its clients both live here). */
const openFds = () => readdirSync('/proc/self/fd').length;

t.test('a client that always has replies queued: replies already written are not kept', async (t) => {
  const value = 'x'.repeat(10_000);
  const { server, port } = await serve(t, {}, async (id) => {
    await new Promise((r) => setImmediate(r));
    return { id: id as number, ok: true, value } as Reply;
  });
  const socket = await open(port);
  t.teardown(() => socket.destroy());
  let id = 0;
  const send = () => {
    while (socket.write(`{"id":${id++},"op":"ping"}\n`) && id < 100_000) {}
  };
  socket.on('drain', send);
  send();
  // Read about 8 MB/s (800 replies a second): slower than the server answers, so its queue never empties.
  let readThisTick = 0;
  let replies = 0;
  socket.on('data', (chunk: Buffer) => {
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) replies++;
    readThisTick += chunk.length;
    if (readThisTick > 800_000) socket.pause();
  });
  const sip = setInterval(() => {
    readThisTick = 0;
    socket.resume();
  }, 100);
  t.teardown(() => clearInterval(sip));
  await waitFor(() => replies >= 3000, '3,000 replies read', 30_000);
  const [connection] = [...(server as unknown as { connections: Set<{ out: unknown[]; outHead: number }> }).connections];
  const out = connection?.out ?? [];
  const kept = out.slice(0, connection?.outHead ?? 0).filter((slot) => slot !== undefined).length;
  t.equal(kept, 0, 'no reply before the queue head is still referenced');
  const head = connection?.outHead ?? 0;
  t.ok(head <= 1024 || head * 2 <= out.length, `written slots are dropped once they are most of the queue (${head} of ${out.length})`);
});

t.test('a connection the server keeps paused (its in-flight limit) is not closed by the read timeout', async (t) => {
  const { server, port } = await serve(t, { readTimeoutMs: 300, maxInFlightPerConnection: 1 }, async (id) => {
    await new Promise((r) => setTimeout(r, 1200)); // a slow request, e.g. a quorum waiting on a slow replica
    return { id: id as number, ok: true } as Reply;
  });
  const socket = await open(port);
  t.teardown(() => socket.destroy());
  const lines: string[] = [];
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  // The second line arrives in two pieces while the server is busy with the first request.
  socket.write('{"id":1,"op":"ping"}\n{"id":2,"op"');
  setTimeout(() => socket.write(':"ping"}\n'), 50);
  await waitFor(() => lines.length >= 2, 'both replies', 10_000);
  t.same(
    lines.map((l) => JSON.parse(l) as { id: number; ok: boolean }),
    [
      { id: 1, ok: true },
      { id: 2, ok: true },
    ],
    'both requests answered',
  );
  t.equal(server.stats().closedByReadTimeout, 0, 'no read timeout');
});

t.test('a refused connection whose client never closes is destroyed after a grace, and the server can stop', async (t) => {
  const { server, port } = await serve(t, { maxConnections: 1, maxPeerConnections: 1 }, async (id) => ({ id: id as number, ok: true }) as Reply);
  const first = await open(port);
  const candidate = await open(port);
  t.teardown(() => {
    first.destroy();
    candidate.destroy();
  });
  const fdsBefore = openFds();
  const refused = await open(port, { allowHalfOpen: true });
  t.teardown(() => refused.destroy());
  let text = '';
  refused.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  await waitFor(() => text.includes('KV_TOO_MANY_CONNECTIONS'), 'the refusal');
  t.equal(openFds() - fdsBefore, 2, "both ends open (this process holds the client's and the server's)");
  // The client never closes its side; past the grace the server has let go of its own.
  await waitFor(() => openFds() - fdsBefore === 1, "the server's side to be closed", 8_000);
  t.pass('the server closed the refused connection the client kept half-open');
  // At least this one (the candidate that never completes a handshake may be refused by now too).
  t.ok(server.stats().refusedConnections >= 1, 'counted as refused');
});
