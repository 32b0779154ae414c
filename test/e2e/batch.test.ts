/**
 * `--stdin` batches through the real CLI against real daemons: one line over the daemon's line
 * limit among 10,000, a daemon restarted mid-batch, a daemon that stays away, and bad lines
 * (unknown field, malformed JSON, over the input limit) refused one by one, with line numbers.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { isAlive, KVCTL, kvctl, startDaemon, waitFor } from '../helpers/cli.js';

type Result = Record<string, unknown> & { line: number; key?: string; ok: boolean; error?: { code: string; message: string } };

const parseResults = (out: string): Result[] =>
  out
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Result);

/** `kvctl ...args` with stdin left open for the test to write to, and its stdout results counted as they come. */
function streamingKvctl(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS; // the CLI runs as users run it, without tap's loader
  delete env.KVCTL_ADDR;
  const child = spawn(process.execPath, [KVCTL, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  child.stdin.on('error', () => {});
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return {
    stdin: child.stdin,
    resultCount: () => out.split('\n').length - 1,
    done: async () => ({ code: await exited, results: parseResults(out), stderr }),
    kill: () => child.kill('SIGKILL'),
  };
}

function putLines(from: number, to: number, prefix: string): string {
  let text = '';
  for (let i = from; i <= to; i++) text += `${JSON.stringify({ key: `${prefix}${i}`, value: `value ${i}` })}\n`;
  return text;
}

function getLines(from: number, to: number, prefix: string): string {
  let text = '';
  for (let i = from; i <= to; i++) text += `${JSON.stringify({ key: `${prefix}${i}` })}\n`;
  return text;
}

t.test("10,000 puts with one 3 MiB line in the middle, over the daemon's 2 MiB lines: that line alone fails, the 9,999 others are written", async (t) => {
  const daemon = await startDaemon(t, { args: ['--max-line-bytes', String(2 * 1024 * 1024)] });
  const n = 10_000;
  const bad = 5_000;
  const lines = putLines(1, n, 'big:').split('\n');
  lines[bad - 1] = JSON.stringify({ key: `big:${bad}`, value: 'x'.repeat(3 * 1024 * 1024) });
  const put = await kvctl(['put', '--stdin', '--addr', daemon.addr], { input: lines.join('\n'), timeoutMs: 120_000 });
  t.equal(put.code, 4, 'exit 4: a line failed');
  const results = parseResults(put.out);
  t.equal(results.length, n, 'one result per line');
  t.ok(
    results.every((r, i) => r.line === i + 1 && r.key === `big:${i + 1}`),
    'in input order, each with its line number and key',
  );
  const failed = results.filter((r) => !r.ok);
  t.equal(failed.length, 1, 'exactly one error result');
  t.match(failed[0], { line: bad, key: `big:${bad}`, error: { code: 'KV_LINE_TOO_LONG' } });
  t.equal(results.filter((r) => r.ok).length, n - 1, '9,999 ok results');
  t.match(put.stderr, `${n} lines, ${n - 1} ok, 1 failed`);
  t.notMatch(put.stderr, /reconnect/, 'the connection was never lost');

  const get = await kvctl(['get', '--stdin', '--addr', daemon.addr], { input: getLines(1, n, 'big:'), timeoutMs: 120_000 });
  const got = parseResults(get.out);
  t.equal(got.length, n);
  t.ok(
    got.every((r, i) => (i + 1 === bad ? r.found === false : r.found === true && (r.values as string[])[0] === `value ${i + 1}`)),
    'every other line was written; the long one was not',
  );
});

t.test('the daemon is restarted mid-batch: the batch goes on over a new connection', async (t) => {
  const daemon = await startDaemon(t);
  const batch = streamingKvctl(['put', '--stdin', '--addr', daemon.addr, '--reconnect-timeout', '30000']);
  t.teardown(batch.kill);
  batch.stdin.write(putLines(1, 500, 'rs:'));
  await waitFor(() => batch.resultCount() === 500, 'results of the first 500 lines');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
  const restarted = await startDaemon(t, { dataDir: daemon.dataDir, port: daemon.port });
  batch.stdin.end(putLines(501, 1000, 'rs:'));
  const { code, results, stderr } = await batch.done();
  t.equal(code, 0, stderr);
  t.equal(results.length, 1000);
  t.ok(
    results.every((r, i) => r.ok && r.line === i + 1),
    'every line written, in order',
  );
  t.match(stderr, '1000 lines, 1000 ok, 0 failed, 1 reconnect');
  const get = await kvctl(['get', '--stdin', '--addr', restarted.addr], { input: getLines(1, 1000, 'rs:') });
  t.ok(
    parseResults(get.out).every((r, i) => r.found === true && (r.values as string[])[0] === `value ${i + 1}`),
    'all 1000 readable from the restarted daemon',
  );
});

t.test('a daemon that stays away stops the batch with exit 3, saying at which line', async (t) => {
  const daemon = await startDaemon(t);
  const batch = streamingKvctl(['put', '--stdin', '--addr', daemon.addr, '--reconnect-timeout', '200']);
  t.teardown(batch.kill);
  batch.stdin.write(putLines(1, 3, 'gone:'));
  await waitFor(() => batch.resultCount() === 3, 'results of lines 1-3');
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
  batch.stdin.end(putLines(4, 6, 'gone:'));
  const { code, results, stderr } = await batch.done();
  t.equal(code, 3);
  t.match(stderr, /stopped at line 4: the connection to \S+ was lost and could not be reopened within 200 ms/);
  t.same(
    results.map((r) => [r.line, r.ok ? 'ok' : r.error?.code]),
    [
      [1, 'ok'],
      [2, 'ok'],
      [3, 'ok'],
      [4, 'KV_UNREACHABLE'],
      [5, 'KV_UNREACHABLE'],
      [6, 'KV_UNREACHABLE'],
    ],
  );
});

t.test('bad lines are refused one by one with their line numbers; the others are written', async (t) => {
  const daemon = await startDaemon(t);
  const input = [
    '{"key":"m1","value":"a"}',
    '{"key":"m2","value":"b","colour":"red"}', // unknown field
    '',
    '{"key":"m4","value":', // malformed JSON
    '{"key":"m5","value":"e","keepSiblings":true}', // a field of the wire that this daemon may not know yet: its answer, for this line only
    JSON.stringify({ key: 'm6', value: 'f'.repeat(2000) }), // over --max-line-bytes
    '{"key":"m7","value":"g"}',
  ].join('\n');
  const put = await kvctl(['put', '--stdin', '--addr', daemon.addr, '--max-line-bytes', '1024'], { input });
  t.equal(put.code, 4);
  const results = parseResults(put.out);
  const byLine = new Map(results.map((r) => [r.line, r]));
  t.same(
    results.map((r) => r.line),
    [1, 2, 4, 5, 6, 7],
    'a result per non-blank line, numbered as in the input',
  );
  t.match(byLine.get(2), { key: 'm2', ok: false, error: { code: 'KV_BAD_REQUEST', message: /unknown field "colour"/, details: { field: 'colour', line: 2 } } });
  t.match(byLine.get(4), { ok: false, error: { code: 'KV_BAD_JSON', message: /line 4/ } });
  t.match(byLine.get(6), { ok: false, error: { code: 'KV_LINE_TOO_LONG', details: { line: 6, limit: 1024 } } });
  t.match(byLine.get(1), { key: 'm1', ok: true });
  t.match(byLine.get(7), { key: 'm7', ok: true });
  const line5 = byLine.get(5) as Result;
  t.ok(
    line5.ok === true || (line5.error?.code === 'KV_BAD_REQUEST' && /keepSiblings/.test(line5.error.message)),
    'keepSiblings is passed on to the daemon, which answers for line 5 alone',
  );

  const get = await kvctl(['get', '--stdin', '--addr', daemon.addr], { input: getLines(1, 7, 'm') });
  const found = parseResults(get.out).map((r) => r.found);
  t.same(found, [true, false, false, false, line5.ok, false, true], 'only the good lines were written');
});
