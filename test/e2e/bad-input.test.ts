/**
 * Every bad input of the wire protocol against a real daemon: each gets a clear error reply with a
 * stable code, the daemon keeps serving that connection (or, for an over-long line, closes only
 * that one), other connections are unaffected, and nothing stored is lost.
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, isAlive, startDaemon, waitFor } from '../helpers/cli.js';

let daemon: Daemon;
t.before(async () => {
  daemon = await startDaemon(t, { args: ['--max-line-bytes', '262144', '--max-key-bytes', '64', '--max-value-bytes', '1024', '--max-connections', '8'] });
});

/** A raw connection that collects reply lines. */
async function rawConnection(addr: string): Promise<{ socket: Socket; next: () => Promise<Record<string, unknown>>; closed: Promise<void> }> {
  const [host, port] = addr.split(':') as [string, string];
  const socket = connect({ host, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
      nl = buffer.indexOf('\n');
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      const line = lines.shift();
      if (line !== undefined) resolve(JSON.parse(line));
      else waiters.push((l) => resolve(JSON.parse(l)));
    });
  return { socket, next, closed };
}

const cases: [name: string, line: string | Buffer, code: string][] = [
  ['malformed JSON', '{"id":1,"op":"get",', 'KV_BAD_JSON'],
  ['JSON that is not an object', '[1,2,3]', 'KV_BAD_JSON'],
  ['a bare string', '"get"', 'KV_BAD_JSON'],
  ['unknown op', '{"id":2,"op":"flushall"}', 'KV_UNKNOWN_OP'],
  ['missing op', '{"id":3}', 'KV_BAD_REQUEST'],
  ['key of the wrong type', '{"id":4,"op":"get","key":42}', 'KV_BAD_REQUEST'],
  ['value of the wrong type', '{"id":5,"op":"put","key":"k","value":{"a":1}}', 'KV_BAD_REQUEST'],
  ['w of the wrong type', '{"id":6,"op":"put","key":"k","value":"v","w":"2"}', 'KV_BAD_REQUEST'],
  ['id of the wrong type', '{"id":{"x":1},"op":"ping"}', 'KV_BAD_REQUEST'],
  ['unknown field', '{"id":7,"op":"get","key":"k","extra":1}', 'KV_BAD_REQUEST'],
  ['__proto__ as a field name', '{"id":8,"op":"put","key":"k","value":"v","__proto__":{"polluted":true}}', 'KV_BAD_REQUEST'],
  ['constructor as a field name', '{"id":9,"op":"get","key":"k","constructor":{"prototype":{"polluted":true}}}', 'KV_BAD_REQUEST'],
  ['prototype as a field name', '{"id":10,"op":"get","key":"k","prototype":1}', 'KV_BAD_REQUEST'],
  ['empty key', '{"id":11,"op":"put","key":"","value":"v"}', 'KV_EMPTY_KEY'],
  ['oversized key', JSON.stringify({ id: 12, op: 'get', key: 'k'.repeat(65) }), 'KV_KEY_TOO_LARGE'],
  ['oversized value', JSON.stringify({ id: 13, op: 'put', key: 'k', value: 'v'.repeat(1025) }), 'KV_VALUE_TOO_LARGE'],
  ['non-UTF-8 bytes', Buffer.concat([Buffer.from('{"id":14,"op":"put","key":"k","value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 'KV_BAD_ENCODING'],
  ['lone surrogate escape', '{"id":15,"op":"put","key":"\\ud800","value":"v"}', 'KV_BAD_ENCODING'],
  ['bad base64', '{"id":16,"op":"put","key":"a2V5","value":"***","encoding":"base64"}', 'KV_BAD_ENCODING'],
  ['unknown encoding', '{"id":17,"op":"get","key":"k","encoding":"latin1"}', 'KV_BAD_REQUEST'],
  ['bad context', '{"id":18,"op":"put","key":"k","value":"v","context":"not-a-context"}', 'KV_BAD_CONTEXT'],
  ['zero w', '{"id":19,"op":"put","key":"k","value":"v","w":0}', 'KV_BAD_REQUEST'],
];

t.test('each bad input gets its error code and the connection keeps serving', async (t) => {
  const conn = await rawConnection(daemon.addr);
  t.teardown(() => conn.socket.destroy());
  conn.socket.write('{"id":0,"op":"put","key":"survivor","value":"still here"}\n');
  t.same(await conn.next(), { id: 0, ok: true, context: (await peekContext()) ?? '', siblings: 1 });
  for (const [name, line, code] of cases) {
    conn.socket.write(Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from('\n')]));
    const reply = await conn.next();
    t.equal(reply.ok, false, `${name}: refused`);
    t.equal((reply.error as { code: string }).code, code, `${name}: ${code}`);
    t.type((reply.error as { message: string }).message, 'string');
    conn.socket.write('{"id":"after","op":"get","key":"survivor"}\n');
    const after = await conn.next();
    t.equal(after.id, 'after', `${name}: the connection still serves`);
    t.same(after.values, ['still here'], `${name}: nothing stored was touched`);
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype polluted in the test process');
});

t.test('a field given twice is refused: the daemon neither leaves nor writes, and the connection keeps serving', async (t) => {
  const conn = await rawConnection(daemon.addr);
  t.teardown(() => conn.socket.destroy());
  // JSON.parse alone would run the last op: leave.
  conn.socket.write('{"id":1,"op":"ping","op":"leave"}\n');
  const refused = await conn.next();
  t.equal(refused.id, 1, 'the refusal carries the id');
  t.equal((refused.error as { code: string }).code, 'KV_BAD_REQUEST');
  t.match((refused.error as { message: string }).message, '"op" twice');
  conn.socket.write('{"id":2,"op":"put","key":"twice-a","value":"v","k\\u0065y":"twice-b"}\n');
  t.equal(((await conn.next()).error as { code: string }).code, 'KV_BAD_REQUEST', 'a key given twice (once escaped) is refused too');
  conn.socket.write('{"id":3,"op":"members"}\n');
  const members = await conn.next();
  t.equal(members.id, 3, 'the same connection keeps serving');
  t.same(
    (members.members as { name: string; status: string }[]).map((m) => [m.name, m.status]),
    [[daemon.name, 'up']],
    'the node did not leave',
  );
  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  t.equal((await client.get('twice-a')).found, false, 'nothing written under the first key');
  t.equal((await client.get('twice-b')).found, false, 'nor under the second');
  t.ok(isAlive(daemon.pid), 'the daemon runs');
});

async function peekContext(): Promise<string | undefined> {
  const client = await KvClient.connect(daemon.addr);
  const got = await client.get('survivor');
  await client.close();
  return got.context;
}

t.test('the error reply carries the request id when it could be read', async (t) => {
  const conn = await rawConnection(daemon.addr);
  t.teardown(() => conn.socket.destroy());
  conn.socket.write('{"id":"abc","op":"get","key":""}\n');
  const reply = await conn.next();
  t.equal(reply.id, 'abc');
  t.equal((reply.error as { code: string }).code, 'KV_EMPTY_KEY');
});

t.test('__proto__, constructor and prototype as data keys round-trip', async (t) => {
  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  for (const key of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString']) {
    await client.put(key, `value of ${key}`);
    t.same((await client.get(key)).values.map(String), [`value of ${key}`], key);
  }
});

t.test('an over-long line gets KV_LINE_TOO_LONG and closes only that connection', async (t) => {
  const victim = await rawConnection(daemon.addr);
  const bystander = await KvClient.connect(daemon.addr);
  t.teardown(() => bystander.close());
  // In one write, as one TCP chunk: the case split2's maxLength misses.
  victim.socket.write(`{"id":1,"op":"put","key":"k","value":"${'x'.repeat(270_000)}"}\n`);
  const reply = await victim.next();
  t.equal((reply.error as { code: string }).code, 'KV_LINE_TOO_LONG');
  await victim.closed;
  t.pass('connection closed by the daemon');
  // Spread over many writes with no newline at all: still bounded.
  const dribbler = await rawConnection(daemon.addr);
  for (let i = 0; i < 20; i++) dribbler.socket.write('y'.repeat(14_000));
  t.equal(((await dribbler.next()).error as { code: string }).code, 'KV_LINE_TOO_LONG');
  await dribbler.closed;
  t.equal(await bystander.ping(), daemon.name, 'other connections are unaffected');
  t.ok(isAlive(daemon.pid));
});

t.test('connections over the limit are refused with KV_TOO_MANY_CONNECTIONS; others keep working', async (t) => {
  const clients: KvClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });
  // Earlier tests' connections may not be closed on the daemon's side yet.
  const probe = await KvClient.connect(daemon.addr);
  await waitFor(async () => ((await probe.stats()).server as { connections: number }).connections === 1, 'earlier connections to close');
  await probe.close();
  await waitFor(async () => {
    const c = await KvClient.connect(daemon.addr);
    const open = ((await c.stats()).server as { connections: number }).connections;
    await c.close();
    return open === 1;
  }, 'the probe connection to close');
  for (let i = 0; i < 8; i++) {
    const c = await KvClient.connect(daemon.addr);
    await c.ping();
    clients.push(c);
  }
  const extra = await rawConnection(daemon.addr);
  t.equal(((await extra.next()).error as { code: string }).code, 'KV_TOO_MANY_CONNECTIONS');
  await extra.closed;
  t.equal(await (clients[0] as KvClient).ping(), daemon.name, 'existing connections unaffected');
  await (clients.pop() as KvClient).close();
  let again: KvClient | undefined;
  for (let attempt = 0; attempt < 100 && !again; attempt++) {
    const c = await KvClient.connect(daemon.addr);
    try {
      await c.ping();
      again = c;
    } catch {
      await new Promise((r) => setTimeout(r, 20)); // the server may not have seen the close yet
    }
  }
  t.ok(again, 'a slot frees up when a client leaves');
  if (again) clients.push(again);
});

t.test('many requests in flight on one connection, replies matched by id', async (t) => {
  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  const n = 2000;
  await Promise.all(Array.from({ length: n }, (_, i) => client.put(`inflight:${i}`, `v${i}`)));
  const got = await Promise.all(Array.from({ length: n }, (_, i) => client.get(`inflight:${i}`)));
  t.ok(
    got.every((g, i) => g.values[0]?.toString() === `v${i}`),
    'every reply matched its request',
  );
});

t.test('a client that stops reading replies does not make the daemon buffer without bound', async (t) => {
  const conn = await rawConnection(daemon.addr);
  conn.socket.pause(); // never read replies
  const line = `{"op":"get","key":"survivor"}\n`.repeat(1000);
  let written = 0;
  // Write until the kernel buffers fill both ways; the daemon must stop reading from us.
  for (let i = 0; i < 2000; i++) {
    if (!conn.socket.write(line)) break;
    written++;
  }
  t.ok(written < 2000, `the daemon stopped reading (writes accepted: ${written})`);
  const client = await KvClient.connect(daemon.addr);
  t.equal(await client.ping(), daemon.name, 'the daemon still serves others');
  const stats = await client.stats();
  t.ok((stats.memory as { rssBytes: number }).rssBytes < 1024 * 1024 * 1024, 'rss stays bounded');
  await client.close();
  conn.socket.destroy();
});
