/**
 * kvctl installs as a package: `npm pack` of the built tree gives a tarball with what the CLI
 * needs and nothing of the sources or tests; `npm install -g --prefix` of that tarball (its
 * dependencies from the local npm cache) gives a `kvctl` that starts a daemon, stores and reads
 * a value and stops it, and a man page that `man -M PREFIX/share/man kvctl` finds.
 * The tarball is packed with --ignore-scripts: `prepack` would rebuild dist/ under the other
 * tests running beside this one, and `npm test` has just built it.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isAlive, killHard, type RunResult, runProgram, tempDir, waitFor } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** npm's per-script variables (npm_package_*, npm_lifecycle_*) left out: a user's shell has none. */
const withoutNpmScriptVars = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('npm_') && !k.startsWith('npm_config_'))
    .map((k) => [k, undefined]),
);

function run(file: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return runProgram(file, args, { cwd: options.cwd ?? ROOT, env: { ...withoutNpmScriptVars, ...options.env }, timeoutMs: options.timeoutMs });
}

t.test('npm pack, npm install -g --prefix, then kvctl and its man page work from the prefix', async (t) => {
  const dir = tempDir(t, 'kvctl-pack-');
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  t.equal(packed.code, 0, `npm pack: ${packed.stderr}`);
  const [info] = JSON.parse(packed.out) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error('npm pack reported no tarball');
  const files = info.files.map((f) => f.path);
  for (const needed of ['bin/kvctl', 'bin/run.js', 'dist/commands/start.js', 'dist/src/daemon/main.js', 'man/kvctl.1', 'oclif.manifest.json', 'README.md']) {
    t.ok(files.includes(needed), `the tarball has ${needed}`);
  }
  t.same(
    files.filter((f) => /^(src|test|commands|bench|dist\/bench)\/|\.map$/.test(f)),
    [],
    'no sources, tests, benchmarks or source maps',
  );

  const prefix = join(dir, 'prefix');
  const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, info.filename)], {
    cwd: dir,
    timeoutMs: 240_000,
  });
  t.equal(installed.code, 0, `npm install -g: ${installed.stderr}`);

  const bin = join(prefix, 'bin', 'kvctl');
  const dataDir = join(dir, 'data');
  const started = await run(bin, ['start', '--data-dir', dataDir, '--port', '0', '--json'], { cwd: dir });
  t.equal(started.code, 0, `kvctl start: ${started.stderr}`);
  const daemon = JSON.parse(started.out) as { pid: number; addr: string; dataDir: string };
  t.teardown(() => killHard(daemon.pid));
  t.equal(daemon.dataDir, dataDir);

  t.equal((await run(bin, ['put', 'hello', 'world', '--addr', daemon.addr], { cwd: dir })).code, 0, 'put');
  const got = await run(bin, ['get', 'hello', '--addr', daemon.addr], { cwd: dir });
  t.same({ code: got.code, out: got.out }, { code: 0, out: 'world' }, 'get prints the value');
  const stopped = await run(bin, ['stop', '--data-dir', dataDir], { cwd: dir });
  t.equal(stopped.code, 0, `kvctl stop: ${stopped.stderr}`);
  await waitFor(() => !isAlive(daemon.pid), 'the daemon to exit');

  const man = await run('man', ['-M', join(prefix, 'share', 'man'), 'kvctl'], { cwd: dir, env: { MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' } }).catch(
    () => undefined,
  );
  if (!man) return t.fail('man is needed to check the installed page (apt-get install man-db)');
  t.equal(man.code, 0, `man finds the page: ${man.stderr}`);
  t.match(man.out, /^KVCTL\(1\)/, 'the installed kvctl(1)');
  t.match(man.out, /kvctl ring show/);
});
