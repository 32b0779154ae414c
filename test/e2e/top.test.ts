/**
 * `kvctl top` through the real CLI on a real 3-node cluster: piped --json gives one sample per
 * interval whose put rate follows the writes made, and a node killed by PID turns stale (never
 * shown with rates again) while the others go on; --count stops; piped text is plain blocks with
 * the stale row and line; at a terminal (tmux) the ink view shows every node and quits on q with status 0.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { cliEnv, isAlive, KVCTL, killHard, kvctl, tempDir, waitFor } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
type TestLike = { teardown: (fn: () => void | Promise<void>) => void };

interface TopNodeLine {
  name: string;
  addr: string;
  state: string;
  stale: boolean;
  error?: { code: string };
  opsPerSec: { get: number; put: number; delete: number } | null;
  p99Ms: number | null;
  keys: number | null;
}

interface Running {
  child: ChildProcess;
  out: () => string;
  samples: () => { at: string; nodes: TopNodeLine[] }[];
  exited: Promise<number | null>;
}

function startTop(t: TestLike, args: string[]): Running {
  const child = spawn(process.execPath, [KVCTL, 'top', ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid) killHard(child.pid);
  });
  const samples = () =>
    out
      .slice(0, out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { at: string; nodes: TopNodeLine[] });
  return { child, out: () => out, samples, exited };
}

t.test('piped --json: a sample per interval, rates follow the writes, a killed node turns stale', async (t) => {
  const nodes = await startCluster(t, 3);
  const [first, , third] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
  const top = startTop(t, ['--json', '--interval-ms', '250', '--addr', first.addr]);
  await waitFor(() => top.samples().length >= 1, 'a first sample');
  const sample = top.samples()[0]!;
  t.same(sample.nodes.map((n) => n.name).sort(), nodes.map((n) => n.name).sort(), 'every node is in the sample');
  t.ok(
    sample.nodes.every((n) => n.state === 'up' && !n.stale && n.opsPerSec !== null),
    'every node is up, with rates',
  );

  // Writes through the first node: its put rate rises; it coordinated them.
  const client = await KvClient.connect(first.addr);
  t.teardown(() => client.close());
  const writing = (async () => {
    for (let i = 0; i < 200; i++) await client.put(`top-${i}`, `v${i}`);
  })();
  const busy = () => top.samples().some((s) => (s.nodes.find((n) => n.name === first.name)?.opsPerSec?.put ?? 0) > 5);
  await waitFor(busy, `${first.name} to show puts per second`);
  await writing;
  const withPuts = top.samples().find((s) => (s.nodes.find((n) => n.name === first.name)?.opsPerSec?.put ?? 0) > 5)!;
  t.ok((withPuts.nodes.find((n) => n.name === first.name)?.p99Ms ?? 0) > 0, 'with a p99 latency');

  killHard(third.pid);
  await waitFor(() => !isAlive(third.pid), 'the third node to exit');
  const killedAt = top.samples().length;
  const staleRow = (s: { nodes: TopNodeLine[] }) => s.nodes.find((n) => n.name === third.name);
  await waitFor(
    () =>
      top
        .samples()
        .slice(killedAt)
        .filter((s) => staleRow(s)?.stale === true).length >= 2,
    'two samples with the killed node stale',
  );
  const after = top.samples().slice(killedAt);
  const firstStale = after.findIndex((s) => staleRow(s)?.stale === true);
  for (const s of after.slice(firstStale)) {
    const row = staleRow(s);
    t.match(row, { stale: true, opsPerSec: null, error: { code: 'KV_UNREACHABLE' } }, 'stale, without rates, and why');
    t.ok(
      s.nodes.filter((n) => n.name !== third.name).every((n) => !n.stale && n.opsPerSec !== null),
      'the live nodes go on',
    );
  }
  t.equal(staleRow(after.at(-1)!)?.keys, staleRow(top.samples()[killedAt - 1]!)?.keys, 'the stale row keeps its last gauges');
  top.child.kill('SIGINT');
  t.equal(await top.exited, 0, 'SIGINT ends top with status 0');
});

t.test('--count N stops after N samples; piped text is plain blocks with the stale row and line', async (t) => {
  const nodes = await startCluster(t, 3);
  const [first, second] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const counted = await kvctl(['top', '--json', '--count', '2', '--interval-ms', '150', '--addr', first.addr]);
  t.equal(counted.code, 0, counted.stderr);
  t.equal(counted.out.trim().split('\n').length, 2, 'two NDJSON lines');

  killHard(second.pid);
  await waitFor(() => !isAlive(second.pid), 'the second node to exit');
  const text = await kvctl(['top', '--count', '1', '--interval-ms', '150', '--addr', first.addr]);
  t.equal(text.code, 0, text.stderr);
  t.notOk(text.out.includes('\u001b['), 'no escape sequences in a pipe');
  t.match(text.out, /^kvctl top {2}\d{4}-\d\d-\d\dT\S+Z {2}3 nodes, 1 stale$/m);
  t.match(text.out, /^NODE\s+STATE\s+GET\/S\s+PUT\/S\s+DEL\/S\s+P50\s+P99\s+ERR\/S\s+HINTS\s+HANDOFF\s+CACHE HIT\s+DISK\s+KEYS$/m);
  t.match(text.out, new RegExp(`^${second.name}\\s+stale\\s+-\\s+-`, 'm'), 'the dead node: stale, no rates');
  t.match(text.out, new RegExp(`^${first.name}\\s+up\\s+\\d`, 'm'), 'a live node with its rates');
  t.match(text.out, new RegExp(`^${second.name}: stale: ${second.addr} unreachable since \\S+ \\(KV_UNREACHABLE\\)`, 'm'), 'the stale line says why');
});

t.test('at a terminal: every node on screen, refreshed, and q quits with status 0', async (t) => {
  await run('tmux', ['-V']).catch(() => {
    throw new Error('this test needs tmux (apt-get install -y tmux)');
  });
  const nodes = await startCluster(t, 3);
  const dir = tempDir(t);
  const socket = `kvctl-top-${process.pid}`;
  const call = async (...args: string[]) => (await run('tmux', ['-L', socket, '-f', '/dev/null', ...args], { env: cliEnv() })).stdout;
  t.teardown(async () => {
    await call('kill-server').catch(() => {});
  });
  const file = (name: string) => join(dir, name);
  writeFileSync(
    file('sh'),
    `unset CI CONTINUOUS_INTEGRATION\n${process.execPath} ${KVCTL} top --interval-ms 300 --addr ${nodes[0]?.addr}\n` +
      `echo $? > ${file('code.tmp')} && mv ${file('code.tmp')} ${file('code')}\nexec sleep 600\n`,
  );
  await call('new-session', '-d', '-s', 'top', '-x', '160', '-y', '40', `sh ${file('sh')}`);
  const screen = () => call('capture-pane', '-p', '-t', 'top');
  const title = /kvctl top {2}(\d\d:\d\d:\d\d) {2}3 nodes/;
  let text = '';
  const ready = (screenText: string) =>
    title.test(screenText) && screenText.includes('q or Ctrl-C to quit') && !screenText.includes('measuring the first interval');
  await waitFor(async () => ready((text = await screen())), 'the view on screen with a first sample');
  for (const n of nodes) t.match(text, new RegExp(`${n.name}\\s+up\\s+\\d`), `${n.name} is up with rates`);
  t.match(text, /NODE\s+STATE\s+GET\/S/);
  const shown = title.exec(text)?.[1];
  await waitFor(async () => title.exec(await screen())?.[1] !== shown, 'the sample time to advance');
  await call('send-keys', '-t', 'top', 'q');
  await waitFor(() => existsSync(file('code')), 'top to exit on q', 5_000);
  t.equal(readFileSync(file('code'), 'utf8').trim(), '0');
});
