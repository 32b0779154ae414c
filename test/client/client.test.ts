/**
 * KvClient against a scripted server on a loopback port: request lines carry the id and the body's
 * fields, replies match by id in any order, and each request times out on its own deadline
 * (one timer per connection, armed for the earliest) while the others carry on.
 */
import { createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import type { KvError } from '../../src/errors.js';

interface Scripted {
  server: Server;
  addr: string;
  lines: Record<string, unknown>[];
  sockets: Socket[];
}

/** Answers `{"op":"echo"}` at once with its fields, `{"op":"later","ms":N}` after N ms, anything else never. */
async function scriptedServer(): Promise<Scripted> {
  const lines: Record<string, unknown>[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const req = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        lines.push(req);
        const reply = () => socket.write(`${JSON.stringify({ ...req, ok: true, answered: true })}\n`);
        if (req.op === 'echo') reply();
        else if (req.op === 'later') setTimeout(reply, Number(req.ms));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, addr: `127.0.0.1:${address.port}`, lines, sockets };
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: KvError }> {
  const started = Date.now();
  try {
    const value = await p;
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error: error as KvError };
  }
}

t.test('request lines carry the id first and the body fields; replies resolve by id', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
  const client = await KvClient.connect(s.addr, { timeoutMs: 5000 });
  const [a, b] = await Promise.all([client.request({ op: 'later', ms: 50, x: 'a' }), client.request({ op: 'echo', x: 'b' })]);
  t.equal(a.x, 'a');
  t.equal(b.x, 'b', 'an out-of-order reply still reaches its request');
  const ids = s.lines.map((l) => l.id);
  t.same(ids, [1, 2]);
  t.same(s.lines[1], { id: 2, op: 'echo', x: 'b' });
  await client.close();
});

t.test('a request given as fields text is sent after the id, and parses back to the same object', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
  const client = await KvClient.connect(s.addr, { timeoutMs: 5000 });
  const shared = `{"key":"azE=","record":{"clock":[["a",1]],"siblings":[]}}`;
  const fields = `"op":"echo","items":[${shared},${shared}]`;
  const reply = await client.requestText(fields);
  t.same(reply.items, [JSON.parse(shared), JSON.parse(shared)], 'the text reached the server as JSON fields');
  t.same(s.lines[0], { id: 1, ...(JSON.parse(`{${fields}}`) as Record<string, unknown>) }, 'the id first, then exactly those fields');
  await client.close();
});

t.test('each request times out on its own deadline; the rest of the connection carries on', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
  const client = await KvClient.connect(s.addr, { timeoutMs: 5000 });
  const long = timed(client.request({ op: 'never' }, 600));
  const short = timed(client.request({ op: 'never' }, 150));
  const answered = timed(client.request({ op: 'later', ms: 300 }, 2000));
  const [l, sh, a] = await Promise.all([long, short, answered]);
  t.equal(sh.error?.code, 'KV_TIMEOUT', 'the short request times out');
  t.ok(sh.ms >= 140 && sh.ms < l.ms, `short one after ${sh.ms} ms, before the long one (${l.ms} ms)`);
  t.equal(a.value?.answered, true, 'a request answered after another timed out still resolves');
  t.equal(l.error?.code, 'KV_TIMEOUT');
  t.ok(l.ms >= 590, `long one after ${l.ms} ms`);
  t.match(l.error?.message ?? '', /within 600 ms/);
  // Still usable after timeouts.
  t.equal((await client.request({ op: 'echo', y: 1 })).y, 1);
  await client.close();
});

t.test('a lost connection fails every pending request with KV_UNREACHABLE, and later ones at once', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
  const client = await KvClient.connect(s.addr, { timeoutMs: 5000 });
  const pending = timed(client.request({ op: 'never' }));
  await client.request({ op: 'echo' });
  for (const socket of s.sockets) socket.destroy();
  const r = await pending;
  t.equal(r.error?.code, 'KV_UNREACHABLE');
  t.ok(r.ms < 2000, 'without waiting for the deadline');
  const after = await timed(client.request({ op: 'echo' }));
  t.equal(after.error?.code, 'KV_UNREACHABLE');
});

t.test('put, get and delete lines: strings escaped as UTF-8 JSON, Buffers as base64, options as given', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
  const client = await KvClient.connect(s.addr, { timeoutMs: 300 });
  const tricky = 'a "quoted"\nline \\ with é and \u2028';
  const sent = () => s.lines.at(-1);
  await client.put(tricky, `${tricky}!`, { context: 'ctx-token_1', w: 2, consistency: 'sloppy' }).catch(() => {});
  t.same(sent(), { id: 1, op: 'put', key: tricky, value: `${tricky}!`, context: 'ctx-token_1', w: 2, consistency: 'sloppy' });
  await client.put(Buffer.from([0, 255, 10]), Buffer.from('\u0000bytes')).catch(() => {});
  t.same(sent(), {
    id: 2,
    op: 'put',
    key: Buffer.from([0, 255, 10]).toString('base64'),
    value: Buffer.from('\u0000bytes').toString('base64'),
    encoding: 'base64',
  });
  await client.get('k', { r: 3, consistency: 'strict' }).catch(() => {});
  t.same(sent(), { id: 3, op: 'get', key: 'k', r: 3, consistency: 'strict' });
  await client.delete(Buffer.from('k')).catch(() => {});
  t.same(sent(), { id: 4, op: 'delete', key: Buffer.from('k').toString('base64'), encoding: 'base64' });
  await client.close();
});

t.test('a reply line that is JSON but not an object fails the connection with KV_INTERNAL, not the process', async (t) => {
  for (const junk of ['42', 'null', '"text"', '[1]']) {
    const server = createServer((socket) => socket.once('data', () => socket.write(`${junk}\n`)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = await KvClient.connect(`127.0.0.1:${(server.address() as { port: number }).port}`, { timeoutMs: 2000 });
    await t.rejects(client.request({ op: 'ping' }), { code: 'KV_INTERNAL' }, `reply ${junk}`);
    await client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

t.test('a reply that gives a field twice fails the connection with KV_INTERNAL naming the field', async (t) => {
  // Which id, or which ok, would count is a guess: neither is taken.
  for (const [reply, field] of [
    ['{"id":1,"ok":false,"ok":true}', 'ok'],
    ['{"id":1,"id":2,"ok":true}', 'id'],
    ['{"id":1,"ok":true,"members":[{"name":"a","name":"b"}]}', 'name'],
  ] as const) {
    const server = createServer((socket) => socket.once('data', () => socket.write(`${reply}\n`)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = await KvClient.connect(`127.0.0.1:${(server.address() as { port: number }).port}`, { timeoutMs: 2000 });
    await t.rejects(client.request({ op: 'ping' }), { code: 'KV_INTERNAL', message: new RegExp(`"${field}" twice`) }, reply);
    t.equal(client.closeReason?.code, 'KV_INTERNAL', `${reply}: the connection is closed`);
    await client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
