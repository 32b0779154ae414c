/**
 * runBatch against real daemons, in process, so the test can see what is in flight: a connection
 * lost with requests on it (daemon frozen with SIGSTOP, then killed and restarted on its port),
 * and a daemon that stays away. Puts in flight are reported, gets are sent again.
 */
import { PassThrough, Writable } from 'node:stream';
import t from 'tap';
import { runBatch } from '../../src/cli/batch.js';
import { KvClient } from '../../src/client/client.js';
import { isAlive, startDaemon, waitFor } from '../helpers/cli.js';

type Result = Record<string, unknown> & { line: number; ok: boolean; error?: { code: string; message: string; details?: Record<string, unknown> } };

/** A batch running on `input`, its results parsed as they come, and every client it opened. */
function startBatch(t: { teardown: (fn: () => void | Promise<void>) => void }, op: 'put' | 'get', first: KvClient, addr: string, reconnectTimeoutMs: number) {
  const input = new PassThrough();
  const results: Result[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) results.push(JSON.parse(line) as Result);
      done();
    },
  });
  const opened: KvClient[] = [first];
  t.teardown(async () => {
    for (const c of opened) await c.close();
  });
  const summary = runBatch(first, op, input, output, {
    maxInFlight: 64,
    maxLineBytes: 1024 * 1024,
    defaults: {},
    reconnectTimeoutMs,
    reconnect: async () => {
      const client = await KvClient.connect(addr, { timeoutMs: 2_000 });
      opened.push(client);
      return client;
    },
  });
  return { input, results, summary };
}

/** Input lines from..to: puts of k<i> = v<i>, or gets of k<i>. */
function lines(from: number, to: number, op: 'put' | 'get'): string {
  let text = '';
  for (let i = from; i <= to; i++) text += `${JSON.stringify(op === 'put' ? { key: `k${i}`, value: `v${i}` } : { key: `k${i}` })}\n`;
  return text;
}

t.test('put: requests in flight on a lost connection get an error each; the batch goes on over a new one', async (t) => {
  const daemon = await startDaemon(t);
  const first = await KvClient.connect(daemon.addr);
  const { input, results, summary } = startBatch(t, 'put', first, daemon.addr, 20_000);
  input.write(lines(1, 5, 'put'));
  await waitFor(() => results.length === 5, 'results of lines 1-5');
  process.kill(daemon.pid, 'SIGSTOP');
  input.write(lines(6, 9, 'put'));
  await waitFor(() => first.inFlight === 4, 'lines 6-9 in flight to the frozen daemon');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
  const restarted = await startDaemon(t, { dataDir: daemon.dataDir, port: daemon.port });
  input.end(lines(10, 12, 'put'));
  const done = await summary;

  t.same(
    results.map((r) => r.line),
    Array.from({ length: 12 }, (_, i) => i + 1),
    'one result per line, in order',
  );
  t.ok(
    results.filter((r) => r.line <= 5 || r.line >= 10).every((r) => r.ok),
    'lines before and after the loss are written',
  );
  for (const r of results.slice(5, 9)) {
    t.equal(r.ok, false, `line ${r.line} was in flight`);
    t.equal(r.error?.code, 'KV_UNREACHABLE', `line ${r.line}: the connection was lost`);
    t.equal(r.error?.details?.maybeApplied, true, `line ${r.line}: may have been applied`);
    t.equal(r.key, `k${r.line}`, `line ${r.line}: keyed`);
  }
  t.match(done, { lines: 12, succeeded: 8, failed: 4, reconnects: 1, aborted: undefined });
  const check = await KvClient.connect(restarted.addr);
  t.teardown(() => check.close());
  for (const i of [1, 5, 10, 12]) t.same((await check.get(`k${i}`)).values, [Buffer.from(`v${i}`)], `k${i} readable after the restart`);
});

t.test('get: requests in flight on a lost connection are sent again once the daemon is back', async (t) => {
  const daemon = await startDaemon(t);
  const first = await KvClient.connect(daemon.addr);
  for (let i = 1; i <= 12; i++) await first.put(`k${i}`, `v${i}`);
  const { input, results, summary } = startBatch(t, 'get', first, daemon.addr, 20_000);
  input.write(lines(1, 5, 'get'));
  await waitFor(() => results.length === 5, 'results of lines 1-5');
  process.kill(daemon.pid, 'SIGSTOP');
  input.write(lines(6, 9, 'get'));
  await waitFor(() => first.inFlight === 4, 'lines 6-9 in flight to the frozen daemon');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
  await startDaemon(t, { dataDir: daemon.dataDir, port: daemon.port });
  input.end(lines(10, 12, 'get'));
  const done = await summary;

  t.same(
    results.map((r) => [r.line, r.key, r.ok, r.found, (r.values as string[] | undefined)?.[0]]),
    Array.from({ length: 12 }, (_, i) => [i + 1, `k${i + 1}`, true, true, `v${i + 1}`]),
    'every line answered in order, the four lost ones too',
  );
  t.match(done, { lines: 12, succeeded: 12, failed: 0, reconnects: 1, aborted: undefined });
});

t.test('a daemon that stays away stops the batch at the first line it could not send', async (t) => {
  const daemon = await startDaemon(t);
  const first = await KvClient.connect(daemon.addr);
  const { input, results, summary } = startBatch(t, 'put', first, daemon.addr, 300);
  input.write(lines(1, 3, 'put'));
  await waitFor(() => results.length === 3, 'results of lines 1-3');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => first.closeReason !== undefined, 'the client to see the connection close');
  input.end(lines(4, 6, 'put'));
  const done = await summary;

  t.ok(
    results.slice(0, 3).every((r) => r.ok),
    'lines 1-3 written',
  );
  t.ok(
    results.slice(3).every((r) => r.ok === false && r.error?.code === 'KV_UNREACHABLE' && r.error.details?.maybeApplied === undefined),
    'the later lines were not sent',
  );
  t.equal(done.aborted?.code, 'KV_UNREACHABLE');
  t.equal(done.aborted?.details?.line, 4, 'says at which line');
  t.match(done.aborted?.message, /^at line 4: the connection to .* could not be reopened within 300 ms/);
});

t.test('a reopened connection the daemon refuses (connection limit) is tried again until it is taken', async (t) => {
  const args = ['--max-connections', '1'];
  const daemon = await startDaemon(t, { args });
  const first = await KvClient.connect(daemon.addr);
  const { input, results, summary } = startBatch(t, 'put', first, daemon.addr, 30_000);
  input.write(lines(1, 2, 'put'));
  await waitFor(() => results.length === 2, 'results of lines 1-2');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
  await startDaemon(t, { dataDir: daemon.dataDir, port: daemon.port, args });
  // Take the only connection the restarted daemon allows before the batch needs one.
  let blocker: KvClient | undefined;
  await waitFor(async () => {
    const client = await KvClient.connect(daemon.addr);
    try {
      await client.ping();
      blocker = client;
      return true;
    } catch {
      return false;
    }
  }, 'the one connection slot');
  const holder = blocker as KvClient;
  input.write(lines(3, 4, 'put'));
  await waitFor(async () => ((await holder.stats()).server as { refusedConnections: number }).refusedConnections > 0, 'the batch to be refused a connection');
  t.equal(results.length, 2, 'lines 3-4 wait for a connection');
  await holder.close();
  input.end();
  const done = await summary;
  t.same(
    results.map((r) => [r.line, r.ok]),
    [
      [1, true],
      [2, true],
      [3, true],
      [4, true],
    ],
  );
  t.match(done, { succeeded: 4, failed: 0, reconnects: 1, aborted: undefined });
});
