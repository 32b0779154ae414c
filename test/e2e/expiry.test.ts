/**
 * Expiry through the real CLI on real daemons: `put --ttl` on one node, the deadline seen from
 * every node, the value gone from the deadline on (also after a restart: the deadline is stored),
 * bad TTLs refused with stable codes, and expired records reaped on every replica.
 */
import t from 'tap';
import { type Daemon, killHard, kvctl, startDaemon, waitFor } from '../helpers/cli.js';
import { startCluster, stats, waitForMembers } from '../helpers/cluster.js';

const json = (out: string) => JSON.parse(out) as Record<string, unknown>;

t.test('put --ttl on one node: every node sees the deadline, then nothing from it on; expired records are reaped everywhere', async (t) => {
  const nodes = await startCluster(t, 3, ['--anti-entropy-interval-ms', '0', '--tombstone-grace-ms', '1', '--hint-max-age-ms', '1']);
  await waitForMembers(nodes, 3);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  const put = await kvctl(['put', 'session:1', 'token', '--ttl', '15s', '--w', '3', '--addr', a.addr, '--json']);
  t.equal(put.code, 0, put.stderr);
  const deadline = json(put.out).expiresAt as string;
  t.ok(Math.abs(Date.parse(deadline) - (Date.now() + 15_000)) < 5000, `deadline ${deadline} about 15 s from now`);
  t.equal((await kvctl(['put', 'user:1', 'ada', '--w', '3', '--addr', a.addr])).code, 0);
  for (const node of [b, c]) {
    const got = await kvctl(['get', 'session:1', '--r', '3', '--addr', node.addr, '--json']);
    t.equal(got.code, 0, got.stderr);
    t.same(json(got.out).expiresAt, [deadline], `${node.name} reports the same deadline`);
  }
  const scanLines = async (node: Daemon) =>
    (await kvctl(['scan', '--prefix', 'session:', '--values', '--addr', node.addr, '--json'])).out
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map(json);
  const before = await scanLines(b);
  t.same(
    before.map((l) => [l.key, l.values, l.expiresAt]),
    [['session:1', ['token'], [deadline]]],
    'scan shows the value with its deadline',
  );
  await waitFor(async () => (await kvctl(['get', 'session:1', '--addr', c.addr])).code === 1, 'the value to expire', 40_000);
  t.same(await scanLines(c), [], 'scan hides it from the deadline on');
  t.ok(Date.now() >= Date.parse(deadline) - 50, 'not before its deadline (give or take the clocks of one host)');
  for (const node of nodes) {
    const got = await kvctl(['get', 'session:1', '--addr', node.addr, '--json']);
    t.equal(got.code, 1, `${node.name}: exit 1, not found`);
    t.equal(json(got.out).found, false);
  }
  t.equal((await kvctl(['get', 'user:1', '--addr', b.addr])).out, 'ada', 'a value without TTL is unaffected');
  // The reaper runs after a repair round: every replica holds the expired record until then.
  for (const node of nodes) t.equal((await stats(node)).keys, 2, `${node.name} holds both records`);
  const repair = await kvctl(['repair', '--addr', a.addr, '--json']);
  t.equal(repair.code, 0, repair.stderr);
  await waitFor(
    async () => (await Promise.all(nodes.map(async (n) => (await stats(n)).keys))).every((k) => k === 1),
    'the expired record to be reaped on every replica',
  );
});

t.test('the deadline is stored: a restarted node still hides the expired value, and bad TTLs are refused', async (t) => {
  const daemon = await startDaemon(t);
  t.equal((await kvctl(['put', 'k', 'v', '--ttl', '1500ms', '--addr', daemon.addr])).code, 0);
  t.equal((await kvctl(['put', 'long', 'v', '--ttl', '1h', '--addr', daemon.addr])).code, 0);
  killHard(daemon.pid);
  const again = await startDaemon(t, { dataDir: daemon.dataDir });
  const long = json((await kvctl(['get', 'long', '--addr', again.addr, '--json'])).out);
  t.equal(long.found, true, 'a value with time left survives the restart');
  t.ok(Date.parse((long.expiresAt as string[])[0] as string) > Date.now() + 3_500_000, 'with its deadline');
  await waitFor(async () => (await kvctl(['get', 'k', '--addr', again.addr])).code === 1, 'k to expire after the restart', 10_000);
  for (const ttl of ['0', '-5s', '1.5s', 'soon']) {
    const bad = await kvctl(['put', 'k', 'v', '--ttl', ttl, '--addr', again.addr, '--json']);
    t.equal(bad.code, 2, `--ttl ${ttl}: usage error`);
    t.equal((json(bad.out).error as { code: string }).code, 'KV_USAGE');
  }
  const batch = await kvctl(['put', '--stdin', '--addr', again.addr], {
    input: `${JSON.stringify({ key: 'b1', value: 'x', ttlMs: 60_000 })}\n${JSON.stringify({ key: 'b2', value: 'x', ttlMs: 0 })}\n`,
  });
  const lines = batch.out.trim().split('\n').map(json);
  t.equal(lines[0]?.ok, true, 'a batch line with ttlMs');
  t.equal((lines[1]?.error as { code: string } | undefined)?.code, 'KV_BAD_TTL', 'ttlMs 0 refused with its own code; the batch goes on');
  t.equal((await kvctl(['get', 'b1', '--addr', again.addr])).out, 'x');
});
