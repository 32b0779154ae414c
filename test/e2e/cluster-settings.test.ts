/**
 * Cluster settings that follow the cluster, through the real CLI and real daemons: a new cluster
 * is N=3 W=2 R=2; a lone node keeps one copy per key and says so; nodes that join bring every key
 * up to N copies; `kvctl cluster set` changes N on a running cluster and keys follow.
 */
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';
import { stats, waitForHandoff, waitForMembers } from '../helpers/cluster.js';

const KEYS = 120;

async function writeKeys(addr: string, prefix: string): Promise<void> {
  const client = await KvClient.connect(addr);
  try {
    for (let i = 0; i < KEYS; i++) await client.put(`${prefix}${i}`, `v${i}`);
  } finally {
    await client.close();
  }
}

/** Keys each daemon holds (its own copies, hints excluded). */
async function held(nodes: Daemon[]): Promise<number[]> {
  return Promise.all(nodes.map(async (d) => Number((await stats(d)).keys)));
}

t.test('start, then two joins: N=3 by default, one copy while alone, three once three nodes run', async (t) => {
  const dir = tempDir(t);
  const first = await startDaemon(t, { dataDir: join(dir, 'a'), args: ['--name', 'a'] });
  const members = JSON.parse((await kvctl(['members', '--addr', first.addr, '--json'])).out);
  t.match(members.cluster, { n: 3, w: 2, r: 2, consistency: 'strict', nodes: 1, copiesPerKey: 1 }, 'a new cluster is N=3 W=2 R=2');
  const status = await kvctl(['status', '--addr', first.addr]);
  t.match(status.out, /N=3 but 1 node: 1 copy per key/, 'status says how many copies a key has');
  await writeKeys(first.addr, 'k');
  t.equal((await kvctl(['get', 'k7', '--addr', first.addr])).out, 'v7', 'W=2 and R=2 are capped at the one node there is');

  const second = await startDaemon(t, { dataDir: join(dir, 'b'), args: ['--name', 'b', '--join', first.addr] });
  const third = await startDaemon(t, { dataDir: join(dir, 'c'), args: ['--name', 'c', '--join', first.addr] });
  const nodes = [first, second, third];
  await waitForMembers(nodes, 3);
  await waitForHandoff(nodes);
  await waitFor(async () => (await held(nodes)).every((n) => n === KEYS), 'every node to hold every key', 30_000);
  t.same(await held(nodes), [KEYS, KEYS, KEYS], 'every key has three copies');
  const joined = JSON.parse((await kvctl(['members', '--addr', third.addr, '--json'])).out);
  t.match(joined.cluster, { n: 3, nodes: 3, copiesPerKey: 3 });
  t.notMatch((await kvctl(['status', '--addr', first.addr])).out, /copy per key/, 'no warning once the ring has N nodes');
});

t.test('kvctl cluster set: N 1 -> 3 on three nodes gives every key three copies; gossip carries the settings', async (t) => {
  const dir = tempDir(t);
  const result = await kvctl(['start', '--nodes', '3', '--port', '0', '--data-dir', join(dir, 'cluster'), '--n', '1', '--json']);
  t.equal(result.code, 0, result.stderr);
  const nodes = (JSON.parse(result.out) as { nodes: Daemon[] }).nodes;
  t.teardown(() => {
    for (const d of nodes) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {}
    }
  });
  await waitForMembers(nodes, 3);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  await writeKeys(a.addr, 'u');
  t.equal(
    (await held(nodes)).reduce((x, y) => x + y, 0),
    KEYS,
    'N=1: one copy of each key',
  );

  const bad = await kvctl(['cluster', 'set', '--w', '2', '--addr', b.addr, '--json']);
  t.equal(bad.code, 2, 'W above N is refused');
  t.equal(JSON.parse(bad.out).error.code, 'KV_INVALID_QUORUM');

  const set = await kvctl(['cluster', 'set', '--n', '3', '--w', '2', '--r', '2', '--addr', b.addr]);
  t.equal(set.code, 0, set.stderr);
  t.match(set.out, /N=3 W=2 R=2 strict \(were N=1 W=1 R=1 strict\)/);
  await waitFor(
    async () => {
      const views = await Promise.all(nodes.map(async (d) => JSON.parse((await kvctl(['members', '--addr', d.addr, '--json'])).out).cluster.n));
      return views.every((n) => n === 3);
    },
    'every node to adopt N=3',
    20_000,
  );
  await waitFor(async () => (await held(nodes)).every((n) => n === KEYS), 'every node to hold every key', 30_000);
  t.same(await held(nodes), [KEYS, KEYS, KEYS], 'N=3: every key has three copies');
  const client = await KvClient.connect(c.addr);
  t.same((await client.get('u5', { r: 3 })).values.map(String), ['v5'], 'a read at R=3 finds it on all three');
  await client.close();
});
