/**
 * What people and scripts see through the real CLI: usage mistakes name the flag, the value and what
 * is allowed (one line, exit 2, KV_USAGE); unknown commands come out in the same form or as JSON;
 * help works three ways; every --json result carries `ok`; no message says the same thing twice;
 * shell completion is set up through `kvctl autocomplete`.
 */
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { type Daemon, kvctl, startDaemon, tempDir } from '../helpers/cli.js';

/** A loopback port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Asserts one usage failure: exit 2, nothing on stdout, exactly one stderr line, the code once. */
function usageLine(t: Test, result: { code: number; out: string; stderr: string }, message: string, help: string): void {
  t.equal(result.code, 2, `exit 2: ${message}`);
  t.equal(result.out, '', 'nothing on stdout');
  t.equal(result.stderr, `kvctl: ${message} [KV_USAGE] (see: kvctl ${help}--help)\n`);
}

t.test('bad flag values name the flag, the value given and what is allowed', async (t) => {
  usageLine(t, await kvctl(['put', 'k', 'v', '--w', 'abc']), '--w must be a whole number of at least 1, got "abc"', 'put ');
  usageLine(t, await kvctl(['get', 'k', '--consistency', 'foo']), '--consistency must be one of strict, sloppy, got "foo"', 'get ');
  usageLine(t, await kvctl(['start', '--port', '70000']), '--port must be a whole number from 0 to 65535, got "70000"', 'start ');
  usageLine(t, await kvctl(['ring', 'show', '--interval-ms']), '--interval-ms needs a value: a whole number of at least 100', 'ring show ');
  const fromEnv = await kvctl(['start'], { env: { KVCTL_PORT: 'eighty' } });
  usageLine(t, fromEnv, '--port must be a whole number from 0 to 65535, got "eighty" (from KVCTL_PORT)', 'start ');
});

t.test('unknown flags and wrong arguments are named', async (t) => {
  usageLine(t, await kvctl(['put', 'k', 'v', '--bogus']), 'unknown flag --bogus', 'put ');
  usageLine(t, await kvctl(['put', 'k', 'v', '--ww', '2']), 'unknown flag --ww (did you mean --w?)', 'put ');
  usageLine(t, await kvctl(['put']), 'missing KEY (or use --stdin)', 'put ');
  usageLine(t, await kvctl(['put', 'k', 'v', 'extra']), 'unexpected argument "extra": put takes at most KEY VALUE', 'put ');
  usageLine(t, await kvctl(['status', 'extra']), 'unexpected argument "extra": status takes no arguments', 'status ');
});

t.test('with --json a usage error is one JSON object on stdout', async (t) => {
  const result = await kvctl(['put', 'k', 'v', '--w', 'abc', '--json']);
  t.equal(result.code, 2);
  t.equal(result.stderr, '');
  t.same(JSON.parse(result.out), {
    ok: false,
    error: { code: 'KV_USAGE', message: '--w must be a whole number of at least 1, got "abc"', details: { flag: 'w', input: 'abc' } },
  });
});

t.test('unknown commands: KV_USAGE on stderr with a suggestion, or JSON under --json', async (t) => {
  usageLine(t, await kvctl(['frobnicate']), 'unknown command "frobnicate"', '');
  usageLine(t, await kvctl(['stauts']), 'unknown command "stauts" (did you mean "status"?)', '');
  usageLine(t, await kvctl(['ring', 'shwo']), 'unknown command "ring shwo" (did you mean "ring show"?)', '');
  usageLine(t, await kvctl(['help', 'frobnicate']), 'unknown command "frobnicate"', '');
  const json = await kvctl(['frobnicate', '--json']);
  t.equal(json.code, 2);
  t.equal(json.stderr, '');
  t.same(JSON.parse(json.out), { ok: false, error: { code: 'KV_USAGE', message: 'unknown command "frobnicate"', details: { command: 'frobnicate' } } });
});

t.test('help: kvctl help CMD, kvctl CMD --help, kvctl --help', async (t) => {
  for (const argv of [
    ['help', 'put'],
    ['put', '--help'],
  ]) {
    const help = await kvctl(argv);
    t.equal(help.code, 0, argv.join(' '));
    t.match(help.out, 'Store a value under a key.', `${argv.join(' ')}: the summary`);
    for (const flag of ['--w', '--consistency', '--context', '--stdin', '--json']) t.match(help.out, flag, `${argv.join(' ')} mentions ${flag}`);
  }
  const root = await kvctl(['--help']);
  t.equal(root.code, 0);
  for (const command of ['get', 'put', 'status', 'help', 'autocomplete']) t.match(root.out, new RegExp(`^ {2}${command}\\b`, 'm'), `lists ${command}`);
  const topic = await kvctl(['help', 'ring', 'show']);
  t.equal(topic.code, 0);
  t.match(topic.out, '--key');
});

t.test('status with no daemon says so once: one line, exit 3', async (t) => {
  const addr = `127.0.0.1:${await closedPort()}`;
  const human = await kvctl(['status', '--addr', addr]);
  t.equal(human.code, 3);
  t.equal(human.stderr, '');
  t.equal(human.out, `not running: nothing answers at ${addr} (connection refused)\n`);
  const json = await kvctl(['status', '--addr', addr, '--json']);
  t.equal(json.code, 3);
  t.same(JSON.parse(json.out), { ok: true, running: false, addr, reason: 'connection refused' });
  const dataDir = tempDir(t);
  const none = await kvctl(['status', '--data-dir', dataDir]);
  t.equal(none.code, 3);
  t.equal(none.out, `not running: no daemon runs for ${dataDir} (no pid file)\n`);
});

t.test('other failures print their code once and their fact once', async (t) => {
  const addr = `127.0.0.1:${await closedPort()}`;
  const get = await kvctl(['get', 'k', '--addr', addr]);
  t.equal(get.code, 3);
  t.equal(get.stderr.split('\n').length, 2, 'one line');
  t.equal(get.stderr.match(/KV_UNREACHABLE/g)?.length, 1, 'the code once');
  t.equal(get.stderr.split(addr).length, 2, 'the address once');
  const stop = await kvctl(['stop', '--data-dir', tempDir(t)]);
  t.equal(stop.code, 3);
  t.equal(stop.stderr.match(/KV_NOT_RUNNING/g)?.length, 1);
  t.equal(stop.stderr.split('\n').length, 2);
});

t.test('with a daemon, every --json result says ok', async (t) => {
  const daemon: Daemon = await startDaemon(t);
  const json = async (argv: string[], code = 0) => {
    const result = await kvctl([...argv, '--addr', daemon.addr, '--json']);
    t.equal(result.code, code, `${argv.join(' ')} exits ${code}`);
    t.equal(result.out.trim().split('\n').length, 1, `${argv.join(' ')}: one JSON line`);
    return JSON.parse(result.out) as Record<string, unknown>;
  };
  t.match(await json(['status']), { ok: true, running: true, node: daemon.name });
  t.match(await json(['put', 'k', 'v']), { ok: true, key: 'k', siblings: 1 });
  t.match(await json(['get', 'k']), { ok: true, found: true, values: ['v'] });
  t.match(await json(['get', 'missing'], 1), { ok: true, found: false, key: 'missing' }, 'absence is a value, exit 1 stays');
  t.match(await json(['delete', 'k']), { ok: true, deleted: true, existed: true });
  t.match(await json(['members']), { ok: true, self: daemon.name });
  t.match(await json(['ring', 'show']), { ok: true, n: 3 });
  const batch = await kvctl(['put', '--stdin', '--addr', daemon.addr, '--json'], { input: '{"key":"a","value":"1"}\n' });
  t.equal(batch.code, 0);
  t.match(JSON.parse(batch.out.trim().split('\n').at(-1) ?? ''), { ok: true, lines: 1, succeeded: 1 }, 'the batch summary too; ok stays a boolean');
});

t.test('kvctl autocomplete bash prints its setup instructions', async (t) => {
  const cacheDir = tempDir(t);
  const result = await kvctl(['autocomplete', 'bash'], { env: { KVCTL_CACHE_DIR: cacheDir } });
  t.equal(result.code, 0, result.stderr);
  t.match(result.out, 'kvctl autocomplete script bash');
  const script = await kvctl(['autocomplete', 'script', 'bash'], { env: { KVCTL_CACHE_DIR: cacheDir } });
  t.equal(script.code, 0);
  t.match(script.out, cacheDir, 'the setup script sources the completion functions it built');
});
