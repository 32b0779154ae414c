/**
 * `members --watch` and `ring show --watch` through the real CLI against real daemons: piped output
 * turns stale (and never claims a killed daemon is up) instead of repeating old data, a cluster
 * watch moves to another node when its node dies, and at a terminal (tmux) the view shows the poll
 * time and the quit hint, quits on q and Ctrl-C with status 0, and gives the terminal back as it was.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { cliEnv, isAlive, KVCTL, killHard, startDaemon, tempDir, waitFor } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);

type TestLike = { teardown: (fn: () => void | Promise<void>) => void };

interface Watcher {
  child: ChildProcess;
  /** stdout so far. */
  out: () => string;
  /** The complete NDJSON lines so far, parsed. */
  json: () => Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running `kvctl ...args` with stdout piped; killed at teardown if still running. */
function watchCli(t: TestLike, args: string[]): Watcher {
  const child = spawn(process.execPath, [KVCTL, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid) killHard(child.pid);
  });
  const json = () =>
    out
      .slice(0, out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, out: () => out, json, stderr: () => err, exited };
}

/** Sends a signal and waits (with a deadline) for the watch to exit; returns its exit code. */
async function interrupt(w: Watcher, signal: NodeJS.Signals): Promise<number | null> {
  w.child.kill(signal);
  const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`watch did not exit on ${signal}`)), 10_000).unref());
  return (await Promise.race([w.exited, deadline])).code;
}

async function killDaemon(pid: number): Promise<void> {
  killHard(pid);
  await waitFor(() => !isAlive(pid), `daemon ${pid} to exit`);
}

t.test('piped --json --watch: a killed daemon turns into stale lines, never into "ok"', async (t) => {
  const daemon = await startDaemon(t);
  const w = watchCli(t, ['members', '--watch', '--json', '--interval-ms', '100', '--addr', daemon.addr]);
  await waitFor(() => w.json().length >= 2, 'two snapshots');
  for (const line of w.json()) {
    t.equal(line.ok, true);
    t.equal(line.addr, daemon.addr);
    t.equal(line.self, daemon.name);
    t.ok(Math.abs(Date.parse(String(line.polledAt)) - Date.now()) < 60_000, `polledAt is a real time: ${line.polledAt}`);
  }

  await killDaemon(daemon.pid);
  const firstStale = () => w.json().findIndex((l) => l.ok === false);
  await waitFor(() => firstStale() >= 0 && w.json().length >= firstStale() + 3, 'a stale line, then two more polls');
  const lines = w.json();
  const stale = lines[firstStale()]!;
  const lastOk = lines[firstStale() - 1]!;
  t.match(stale, { ok: false, stale: true, addr: daemon.addr, error: { code: 'KV_UNREACHABLE' }, lastOkAt: lastOk.polledAt, tried: [] });
  t.match(String((stale.error as { message: string }).message), daemon.addr.split(':')[1]!, 'the message names the address');
  for (const line of lines.slice(firstStale()))
    t.match(line, { ok: false, stale: true, failingSince: stale.polledAt }, 'no line after the kill claims the node is ok');
  const times = lines.map((l) => Date.parse(String(l.polledAt)));
  t.ok(
    times.every((x, i) => i === 0 || x > times[i - 1]!),
    'poll times increase',
  );

  t.equal(await interrupt(w, 'SIGINT'), 0, 'SIGINT ends the watch with status 0');
  t.equal(w.json().at(-1)?.ok, false, 'nothing more is printed at exit (no old snapshot)');
  t.equal(w.stderr(), '');
});

t.test('piped --watch text: a block per poll with its time, then stale lines instead of old blocks', async (t) => {
  const daemon = await startDaemon(t);
  const w = watchCli(t, ['members', '--watch', '--interval-ms', '100', '--addr', daemon.addr]);
  const polled = new RegExp(`^polled ${daemon.name} at ${daemon.addr} at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`, 'gm');
  await waitFor(() => (w.out().match(polled) ?? []).length >= 2, 'two blocks');
  t.match(w.out(), /^cluster \w+ {2}N=3 W=2 R=2/m);
  t.match(w.out(), /^N=3 but 1 node: 1 copy per key$/m, 'the view says a lone node keeps one copy');

  await killDaemon(daemon.pid);
  const staleLine = new RegExp(`^stale: ${daemon.addr} unreachable since \\S+ \\(KV_UNREACHABLE\\): .*; still trying$`, 'gm');
  await waitFor(() => (w.out().match(staleLine) ?? []).length >= 2, 'two stale lines');
  const afterStale = w.out().slice(w.out().search(staleLine));
  t.notMatch(afterStale, /^polled /m, 'no block after the first stale line');
  t.notMatch(afterStale, /^cluster /m, 'the old table is not repeated');

  t.equal(await interrupt(w, 'SIGTERM'), 0, 'SIGTERM ends the watch with status 0');
});

t.test('a cluster watch moves to another node when its node dies, and keeps reporting', async (t) => {
  const nodes = await startCluster(t, 3);
  const [first] = nodes as [(typeof nodes)[0]];
  const members = watchCli(t, ['members', '--watch', '--json', '--interval-ms', '100', '--addr', first.addr]);
  const ring = watchCli(t, ['ring', 'show', '--watch', '--json', '--interval-ms', '100', '--addr', first.addr]);
  await waitFor(() => members.json().length >= 1 && ring.json().length >= 1, 'first snapshots');
  t.equal(members.json()[0]?.self, first.name);

  await killDaemon(first.pid);
  const movedAt = (w: Watcher) => w.json().findIndex((l) => l.ok === true && l.addr !== first.addr);
  await waitFor(() => movedAt(members) >= 0 && movedAt(ring) >= 0, 'both watches to move');
  const moved = members.json()[movedAt(members)]!;
  const other = nodes.find((n) => n.addr === moved.addr);
  t.ok(other && other !== first, `moved to another node of the cluster (${moved.addr})`);
  t.match(moved, { ok: true, self: other?.name, node: other?.name, movedFrom: { addr: first.addr, error: { code: 'KV_UNREACHABLE' } } });
  t.match(ring.json()[movedAt(ring)], { ok: true, movedFrom: { addr: first.addr } });

  // The new node's own view goes on updating: it sees the dead node fall from up.
  const firstSeenDown = () =>
    members
      .json()
      .slice(movedAt(members))
      .some((l) => l.ok === true && (l.members as { name: string; health: string }[]).some((m) => m.name === first.name && m.health !== 'alive'));
  await waitFor(firstSeenDown, `the new node to see ${first.name} no longer alive`, 20_000);
  for (const w of [members, ring]) {
    const after = w.json().slice(movedAt(w));
    t.ok(
      after.every((l) => l.ok === true && l.addr === moved.addr),
      'every poll after the move answered by the new node',
    );
  }
  t.equal(await interrupt(members, 'SIGTERM'), 0);
  t.equal(await interrupt(ring, 'SIGINT'), 0);
});

/** A private tmux server for one test; killed at teardown. */
function tmux(t: TestLike): (...args: string[]) => Promise<string> {
  const socket = `kvctl-watch-${process.pid}`;
  const call = async (...args: string[]) => (await run('tmux', ['-L', socket, '-f', '/dev/null', ...args], { env: cliEnv() })).stdout;
  t.teardown(async () => {
    await call('kill-server').catch(() => {});
  });
  return call;
}

/** Seconds between a local HH:MM:SS and now, across midnight. */
function secondsFromNow(hhmmss: string): number {
  const [h, m, s] = hhmmss.split(':').map(Number) as [number, number, number];
  const now = new Date();
  const diff = Math.abs(h * 3600 + m * 60 + s - (now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds()));
  return Math.min(diff, 86_400 - diff);
}

t.test('at a terminal: poll time and quit hint on screen; q and Ctrl-C quit at once and restore the terminal', async (t) => {
  await run('tmux', ['-V']).catch(() => {
    throw new Error('this test needs tmux (apt-get install -y tmux)');
  });
  const daemon = await startDaemon(t, { args: ['--n', '3', '--w', '1', '--r', '1'] });
  const dir = tempDir(t);
  const call = tmux(t);

  for (const [session, keys] of [
    ['q', 'q'],
    ['ctrl-c', 'C-c'],
  ] as const) {
    const file = (name: string) => join(dir, `${session}.${name}`);
    // The shell records the terminal settings before and after, then the exit status (renamed into place
    // last, so once it exists everything is written); then it waits, so the pane stays to be read.
    // It runs as a person's terminal would, without CI variables: under CI=true ink draws only a final frame.
    writeFileSync(
      file('sh'),
      `unset CI CONTINUOUS_INTEGRATION\nstty -g > ${file('before')}\n${process.execPath} ${KVCTL} members --watch --interval-ms 200 --addr ${daemon.addr}\n` +
        `code=$?\nstty -g > ${file('after')}\necho $code > ${file('code.tmp')} && mv ${file('code.tmp')} ${file('code')}\nexec sleep 600\n`,
    );
    await call('new-session', '-d', '-s', session, '-x', '160', '-y', '40', `sh ${file('sh')}`);
    const screen = () => call('capture-pane', '-p', '-t', session);
    const lastPoll = /last poll (\d\d:\d\d:\d\d) \((?:just now|\d+ s ago)\) from (\S+) at (\S+), every 200 ms/;
    let text = '';
    await waitFor(async () => lastPoll.test((text = await screen())) && text.includes('q or Ctrl-C to quit'), `the view on screen (${session})`);
    const [, shown, node, addr] = lastPoll.exec(text)!;
    t.equal(node, daemon.name);
    t.equal(addr, daemon.addr);
    t.ok(secondsFromNow(shown!) <= 5, `the last poll time is now (${shown})`);
    t.match(text, /vm-\S*\*\s+up\s+/, 'the table');
    t.match(text, 'N=3 but 1 node: 1 copy per key');
    t.match(text.trimEnd().split('\n').at(-1), 'q or Ctrl-C to quit', 'the hint is the last line');
    await waitFor(async () => lastPoll.exec(await screen())?.[1] !== shown, `the poll time to advance (${session})`);

    const tty = (await call('display', '-p', '-t', session, '#{pane_tty}')).trim();
    const sttyNow = async () => (await run('stty', ['-a', '-F', tty])).stdout;
    const raw = await sttyNow();
    t.match(raw, /(^|\s)-icanon(\s|;|$)/, 'raw mode while watching: no line editing');
    t.match(raw, /(^|\s)-echo(\s|;|$)/, 'raw mode while watching: no echo');
    t.equal((await call('display', '-p', '-t', session, '#{cursor_flag}')).trim(), '0', 'cursor hidden while watching');

    const sentAt = Date.now();
    await call('send-keys', '-t', session, keys);
    await waitFor(() => existsSync(file('code')), `kvctl to exit on ${keys}`, 5_000);
    t.ok(Date.now() - sentAt < 3_000, `exited ${Date.now() - sentAt} ms after ${keys}`);
    t.equal(readFileSync(file('code'), 'utf8').trim(), '0', `exit status 0 on ${keys}`);
    t.equal(readFileSync(file('after'), 'utf8'), readFileSync(file('before'), 'utf8'), 'terminal settings as before');
    const cooked = await sttyNow();
    t.match(cooked, /(^|\s)icanon(\s|;|$)/, 'line editing back');
    t.match(cooked, /(^|\s)echo(\s|;|$)/, 'echo back');
    t.equal((await call('display', '-p', '-t', session, '#{cursor_flag}')).trim(), '1', 'cursor shown again');
  }
});
