/**
 * A node's settings live in its data dir (node.json): `kvctl start --data-dir D` after a stop brings
 * it back on the same port, under the same name, with the same limits; a flag given again
 * overrides and is saved; environment variables do not override what was saved; a broken file
 * is refused, naming the file and the setting.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isAlive, killHard, kvctl, tempDir } from '../helpers/cli.js';

interface Started {
  pid: number;
  port: number;
  name: string;
  addr: string;
}

async function start(t: { teardown: (fn: () => void) => void }, args: string[], env?: Record<string, string>): Promise<Started> {
  const result = await kvctl(['start', '--json', ...args], { env });
  if (result.code !== 0) throw new Error(`kvctl start failed (${result.code}): ${result.out} ${result.stderr}`);
  const d = JSON.parse(result.out) as Started;
  t.teardown(() => killHard(d.pid));
  return d;
}

async function statsOf(addr: string): Promise<{ node: string; cache: { budgetBytes: number }; limits: { maxKeyBytes: number }; sync: boolean }> {
  return JSON.parse((await kvctl(['status', '--addr', addr, '--json'])).out);
}

async function stop(dataDir: string, pid: number): Promise<void> {
  const result = await kvctl(['stop', '--data-dir', dataDir]);
  if (result.code !== 0 || isAlive(pid)) throw new Error(`stop failed: ${result.stderr}`);
}

const saved = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'node.json'), 'utf8')).settings;

t.test('start --data-dir alone brings a node back on its port, under its name, with its settings', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const first = await start(t, ['--port', '0', '--data-dir', dataDir, '--name', 'alpha', '--cache-mb', '8', '--max-key-bytes', '100', '--sync']);
  t.not(first.port, 0);
  t.match(saved(dataDir), { port: first.port, name: 'alpha', 'cache-mb': 8, 'max-key-bytes': 100, sync: true }, 'node.json has the port it got');
  await stop(dataDir, first.pid);

  const again = await start(t, ['--data-dir', dataDir]);
  t.same([again.port, again.name], [first.port, 'alpha'], 'same port and name, not the default 7070');
  const s = await statsOf(again.addr);
  t.same([s.cache.budgetBytes, s.limits.maxKeyBytes, s.sync], [8 * 1024 * 1024, 100, true], 'same cache, limits and sync');
  await stop(dataDir, again.pid);

  const overridden = await start(t, ['--data-dir', dataDir, '--cache-mb', '16', '--no-sync']);
  const o = await statsOf(overridden.addr);
  t.same([o.cache.budgetBytes, o.sync, o.limits.maxKeyBytes], [16 * 1024 * 1024, false, 100], 'the flags given win; the rest is kept');
  t.match(saved(dataDir), { 'cache-mb': 16, sync: false, port: first.port }, 'and they are saved');
  await stop(dataDir, overridden.pid);

  const withEnv = await start(t, ['--data-dir', dataDir], { KVCTL_CACHE_MB: '32', KVCTL_PORT: '1' });
  const e = await statsOf(withEnv.addr);
  t.same([e.cache.budgetBytes, withEnv.port], [16 * 1024 * 1024, first.port], 'environment variables do not override saved settings');
  await stop(dataDir, withEnv.pid);
});

t.test('environment variables fill in a first start, and are kept', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const first = await start(t, ['--port', '0', '--data-dir', dataDir], { KVCTL_CACHE_MB: '4' });
  t.equal((await statsOf(first.addr)).cache.budgetBytes, 4 * 1024 * 1024);
  t.match(first.name, new RegExp(`-${first.port}$`), 'a node without a name is named after the port it got');
  await stop(dataDir, first.pid);
  const again = await start(t, ['--data-dir', dataDir]);
  t.equal((await statsOf(again.addr)).cache.budgetBytes, 4 * 1024 * 1024);
  t.equal(again.name, first.name);
});

t.test('a start that fails saves nothing', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const first = await start(t, ['--port', '0', '--data-dir', dataDir, '--name', 'n1']);
  await stop(dataDir, first.pid);
  const wrongName = await kvctl(['start', '--data-dir', dataDir, '--name', 'n2', '--cache-mb', '2']);
  t.equal(wrongName.code, 6);
  t.match(saved(dataDir), { name: 'n1', 'cache-mb': 64 }, 'the refused flags were not saved');
});

t.test('a broken node.json is refused, naming the file and the setting', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const first = await start(t, ['--port', '0', '--data-dir', dataDir]);
  await stop(dataDir, first.pid);
  const file = join(dataDir, 'node.json');
  const cases: [string, unknown, RegExp][] = [
    ['port out of range', { format: 1, settings: { ...saved(dataDir), port: 70000 } }, /setting "port" is invalid/],
    ['wrong type', { format: 1, settings: { ...saved(dataDir), sync: 'yes' } }, /setting "sync" must be true or false/],
    ['a number as a string', { format: 1, settings: { ...saved(dataDir), 'cache-mb': '8' } }, /setting "cache-mb" must be a number/],
    ['unknown option', { format: 1, settings: { ...saved(dataDir), codec: 'gzip' } }, /setting "codec" must be one of zlib, brotli-wasm/],
    ['unknown setting', { format: 1, settings: { ...saved(dataDir), n: 3 } }, /setting "n" is not a node setting/],
    ['another format', { format: 2, settings: {} }, /not a kvctl node settings file/],
    ['not JSON', '{"format":1,', /not valid JSON/],
  ];
  const good = readFileSync(file, 'utf8');
  for (const [name, contents, message] of cases) {
    writeFileSync(file, typeof contents === 'string' ? contents : JSON.stringify(contents));
    const result = await kvctl(['start', '--data-dir', dataDir]);
    t.equal(result.code, 6, `${name}: exit 6`);
    t.match(result.stderr, message, name);
    t.match(result.stderr, file, `${name}: names the file`);
    t.match(result.stderr, /\[KV_START_FAILED\]/);
  }
  writeFileSync(file, good);
  const fixed = await start(t, ['--data-dir', dataDir]);
  t.equal(fixed.port, first.port, 'a fixed file works again');
});
