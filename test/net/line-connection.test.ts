/**
 * LineConnection against a server that stops reading: what the connection queues to send stays
 * bounded (further requests are held back unsent), held requests whose deadline passes are never
 * sent, and once the server reads again the rest go out and are answered.
 */
import { createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { LineConnection } from '../../src/net/line-connection.js';

const MiB = 1024 * 1024;

/** Answers every request line with {id, ok}; starts paused (reads nothing) until `resume()`. */
async function stalledServer(t: Test): Promise<{ addr: string; resume: () => void; linesSeen: () => number }> {
  let socket: Socket | undefined;
  let seen = 0;
  let buffered = '';
  const server: Server = createServer((s) => {
    socket = s;
    s.pause();
    s.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const id = /^\{"id":(\d+)/.exec(buffered.slice(0, 32))?.[1];
        buffered = buffered.slice(nl + 1);
        seen++;
        s.write(`{"id":${id},"ok":true}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    socket?.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  return { addr: `127.0.0.1:${port}`, resume: () => socket?.resume(), linesSeen: () => seen };
}

t.test('a server that reads nothing: at most about 16 MiB is queued to send, the rest is held back', async (t) => {
  const server = await stalledServer(t);
  const connection = await LineConnection.connect(server.addr, { timeoutMs: 30_000 });
  t.teardown(() => connection.destroy());
  const value = 'v'.repeat(MiB);
  const replies = Array.from({ length: 64 }, (_, i) => connection.request({ op: 'put', key: `k${i}`, value }));
  // Let the flush run and the socket fill what the kernel takes.
  await new Promise((r) => setTimeout(r, 200));
  const socket = (connection as unknown as { socket: Socket }).socket;
  t.ok(socket.writableLength <= 17 * MiB, `the socket holds ${Math.round(socket.writableLength / MiB)} MiB unsent, not 64`);
  t.ok(connection.heldRequests >= 40, `${connection.heldRequests} requests held back unsent`);
  server.resume();
  const answered = await Promise.all(replies);
  t.equal(answered.length, 64, 'once the server reads, every request is sent and answered');
  t.equal(server.linesSeen(), 64);
  t.equal(connection.heldRequests, 0);
});

t.test('a held request whose deadline passes is never sent', async (t) => {
  const server = await stalledServer(t);
  const connection = await LineConnection.connect(server.addr, { timeoutMs: 30_000 });
  t.teardown(() => connection.destroy());
  const value = 'v'.repeat(MiB);
  const first = Array.from({ length: 32 }, (_, i) => connection.request({ op: 'put', key: `k${i}`, value }));
  await new Promise((r) => setTimeout(r, 100));
  const held = connection.heldRequests;
  t.ok(held > 0, `${held} of the first 32 held back`);
  const late = connection.request({ op: 'put', key: 'late', value: 'x' }, 300);
  await t.rejects(late, { code: 'KV_TIMEOUT' }, 'the held request times out');
  server.resume();
  await Promise.allSettled(first);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(server.linesSeen(), 32, 'the timed-out request was never written');
});
