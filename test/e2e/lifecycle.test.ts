/**
 * Daemon lifecycle through the real CLI: start prints where it runs, status reports stats, stop
 * waits for exit, busy ports and locked data dirs fail clearly, stale pid files do not block.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { isAlive, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';

t.test('start, status, stop', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const started = await kvctl(['start', '--port', '0', '--data-dir', dataDir, '--name', 'alpha', '--cache-mb', '8']);
  t.equal(started.code, 0, started.stderr);
  const addr = /address:\s+(\S+)/.exec(started.out)?.[1] ?? '';
  const pid = Number(/pid:\s+(\d+)/.exec(started.out)?.[1]);
  t.teardown(() => {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  t.match(addr, /^127\.0\.0\.1:\d+$/);
  t.ok(isAlive(pid), 'daemon runs after start returns');
  t.match(started.out, `data dir: ${dataDir}`);
  t.match(started.out, /log:\s+\S+kvctl\.log/);
  t.ok(existsSync(join(dataDir, 'kvctl.pid')), 'pid file written');

  const status = await kvctl(['status', '--addr', addr, '--json']);
  t.equal(status.code, 0);
  const stats = JSON.parse(status.out);
  t.equal(stats.running, true);
  t.equal(stats.node, 'alpha');
  t.equal(stats.pid, pid);
  t.equal(stats.cache.budgetBytes, 8 * 1024 * 1024);
  t.type(stats.cache.hitRatio, 'number');

  const human = await kvctl(['status', '--data-dir', dataDir]);
  t.equal(human.code, 0);
  t.match(human.out, /running: "alpha"/);
  t.match(human.out, /hit ratio/);

  const stopped = await kvctl(['stop', '--data-dir', dataDir, '--json']);
  t.equal(stopped.code, 0, stopped.stderr);
  t.same(JSON.parse(stopped.out), { ok: true, stopped: true, pid, name: 'alpha' });
  t.notOk(isAlive(pid), 'stop returns only after the daemon exited');
  t.notOk(existsSync(join(dataDir, 'kvctl.pid')), 'pid file removed on graceful stop');
  t.match(readFileSync(join(dataDir, 'kvctl.log'), 'utf8'), /"msg":"stopped"/);

  const after = await kvctl(['status', '--addr', addr, '--json']);
  t.equal(after.code, 3, 'status of a stopped daemon exits 3');
  t.equal(JSON.parse(after.out).running, false);
  const again = await kvctl(['stop', '--data-dir', dataDir]);
  t.equal(again.code, 3, 'stopping a stopped daemon exits 3');
  t.match(again.stderr, /KV_NOT_RUNNING/);
});

t.test('stop --addr finds the daemon by asking it', async (t) => {
  const daemon = await startDaemon(t);
  const stopped = await kvctl(['stop', '--addr', daemon.addr]);
  t.equal(stopped.code, 0, stopped.stderr);
  t.notOk(isAlive(daemon.pid));
});

t.test('a busy port fails with KV_PORT_IN_USE, exit 6, no stack trace', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const result = await kvctl(['start', '--port', String(port), '--data-dir', join(tempDir(t), 'd')]);
  t.equal(result.code, 6);
  t.match(result.stderr, /already in use \[KV_PORT_IN_USE\]/);
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
  const json = await kvctl(['start', '--port', String(port), '--data-dir', join(tempDir(t), 'd2'), '--json']);
  t.equal(json.code, 6);
  t.equal(JSON.parse(json.out).error.code, 'KV_PORT_IN_USE');
});

t.test('a node that could not tell peers where it is refuses to start, before it listens', async (t) => {
  const everywhere = await kvctl(['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', join(tempDir(t), 'd')]);
  t.equal(everywhere.code, 6, 'KV_START_FAILED');
  t.match(everywhere.stderr, /--host 0\.0\.0\.0 listens on every interface.*add --advertise HOST:PORT/);
  const advertised = await kvctl(['start', '--port', '0', '--advertise', '0.0.0.0:7070', '--data-dir', join(tempDir(t), 'd2'), '--json']);
  t.equal(advertised.code, 6);
  t.match(JSON.parse(advertised.out).error, { code: 'KV_START_FAILED', message: /no address a peer can reach/ });
});

t.test('a data dir in use fails with KV_DATA_DIR_LOCKED naming the holder', async (t) => {
  const daemon = await startDaemon(t);
  const result = await kvctl(['start', '--port', '0', '--data-dir', daemon.dataDir]);
  t.equal(result.code, 6);
  t.match(result.stderr, /KV_DATA_DIR_LOCKED/);
  t.match(result.stderr, `pid ${daemon.pid}`);
  t.ok(isAlive(daemon.pid), 'the running daemon is unaffected');
  t.equal((await kvctl(['status', '--addr', daemon.addr])).code, 0);
});

t.test('a stale pid file after kill -9 does not block the next start', async (t) => {
  const daemon = await startDaemon(t);
  const put = await kvctl(['put', 'k', 'v', '--addr', daemon.addr]);
  t.equal(put.code, 0);
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'daemon to die');
  t.ok(existsSync(join(daemon.dataDir, 'kvctl.pid')), 'pid file left behind by the crash');
  const restarted = await startDaemon(t, { dataDir: daemon.dataDir });
  t.not(restarted.pid, daemon.pid);
  const get = await kvctl(['get', 'k', '--addr', restarted.addr]);
  t.equal(get.out, 'v');
});

t.test('a pid file naming a live process that is not ours does not fool stop or start', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const daemon = await startDaemon(t, { dataDir });
  process.kill(daemon.pid, 'SIGKILL');
  await waitFor(() => !isAlive(daemon.pid), 'daemon to die');
  writeFileSync(join(dataDir, 'kvctl.pid'), JSON.stringify({ pid: 999999, host: '127.0.0.1', port: 1, name: 'x', startedAt: '' }));
  const stop = await kvctl(['stop', '--data-dir', dataDir]);
  t.equal(stop.code, 3, 'stale pid file: not running');
  const restarted = await startDaemon(t, { dataDir });
  t.ok(isAlive(restarted.pid));
});

t.test('a data dir belongs to one node name', async (t) => {
  const dataDir = join(tempDir(t), 'd');
  const first = await startDaemon(t, { dataDir, args: ['--name', 'n1'] });
  await kvctl(['stop', '--addr', first.addr]);
  const result = await kvctl(['start', '--port', '0', '--data-dir', dataDir, '--name', 'n2']);
  t.equal(result.code, 6);
  t.match(result.stderr, /belongs to node "n1"/);
});
