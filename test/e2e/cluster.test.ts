/**
 * A cluster through the real CLI: 3 and 5 daemons on loopback. Quorum reads see quorum writes
 * across coordinators, concurrent writers become siblings, a killed node does not stop W=2 of N=3,
 * a joining node takes its keys, and a leaving node hands every key over.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, isAlive, killHard, kvctl, startDaemon, waitFor } from '../helpers/cli.js';
import { clusterSecretFile, startCluster, waitForHandoff, waitForMembers } from '../helpers/cluster.js';

async function clients(t: { teardown: (fn: () => Promise<void>) => void }, daemons: Daemon[]): Promise<KvClient[]> {
  const out = await Promise.all(daemons.map((d) => KvClient.connect(d.addr, { timeoutMs: 10_000 })));
  t.teardown(async () => {
    for (const c of out) await c.close();
  });
  return out;
}

t.test('three nodes: reads at R see writes at W across coordinators', async (t) => {
  const nodes = await startCluster(t, 3);
  const [a, b, c] = await clients(t, nodes);
  const all = [a, b, c] as KvClient[];
  const members = JSON.parse((await kvctl(['members', '--addr', (nodes[0] as Daemon).addr, '--json'])).out);
  t.same(members.cluster.n, 3);
  t.same(
    members.members.map((m: { name: string; health: string }) => [m.name, m.health]),
    [
      ['node1', 'alive'],
      ['node2', 'alive'],
      ['node3', 'alive'],
    ],
  );

  for (const [w, r] of [
    [2, 2],
    [3, 1],
    [1, 3],
  ] as const) {
    let stale = 0;
    for (let i = 0; i < 60; i++) {
      const writer = all[i % 3] as KvClient;
      const reader = all[(i + 1) % 3] as KvClient;
      const key = `ryw:${w}${r}:${i % 7}`;
      const value = `v${i}`;
      const { context } = await writer.get(key, { r: 3 }).then((g) => ({ context: g.context }));
      await writer.put(key, value, { w, context });
      const got = await reader.get(key, { r });
      if (got.values.length !== 1 || got.values[0]?.toString() !== value) stale++;
    }
    t.equal(stale, 0, `W=${w} R=${r}: every read saw the latest write, across coordinators`);
  }

  const badW = await kvctl(['put', 'k', 'v', '--w', '4', '--addr', (nodes[0] as Daemon).addr]);
  t.equal(badW.code, 2, 'W above N is a usage error');
  t.match(badW.stderr, /KV_INVALID_QUORUM/);

  const ring = JSON.parse((await kvctl(['ring', 'show', '--key', 'user:1', '--addr', (nodes[1] as Daemon).addr, '--json'])).out);
  t.equal(ring.preferenceList.filter((e: { role: string }) => e.role === 'primary').length, 3);
  t.equal(new Set(ring.preferenceList.map((e: { name: string }) => e.name)).size, 3, 'distinct physical nodes');
  const total = ring.nodes.reduce((s: number, n: { ownership: number }) => s + n.ownership, 0);
  t.ok(Math.abs(total - 3) < 1e-9, 'ownership sums to N');
  const plain = await kvctl(['members', '--addr', (nodes[2] as Daemon).addr]);
  t.match(plain.out, /node3\*\s+up/);
  const ringPlain = await kvctl(['ring', 'show', '--addr', (nodes[2] as Daemon).addr]);
  t.match(ringPlain.out, /^ring: 3 nodes, N=3/);
});

t.test('concurrent writers through different coordinators both survive as siblings, then resolve', async (t) => {
  const nodes = await startCluster(t, 3);
  const [a, b, c] = await clients(t, nodes);
  await (a as KvClient).put('doc', 'base');
  const ctx = (await (a as KvClient).get('doc')).context;
  // Same context, two coordinators, at the same time.
  await Promise.all([(a as KvClient).put('doc', 'from-a', { context: ctx }), (b as KvClient).put('doc', 'from-b', { context: ctx })]);
  const both = await (c as KvClient).get('doc', { r: 3 });
  t.same(both.values.map(String).sort(), ['from-a', 'from-b'], 'both concurrent writes are siblings');
  // No context, same coordinator: plain puts are ordered by it; keepSiblings puts are kept side by side.
  await Promise.all([(c as KvClient).put('plain', 'x'), (c as KvClient).put('plain', 'y')]);
  t.equal((await (a as KvClient).get('plain', { r: 2 })).values.length, 1, 'plain puts through one coordinator leave one version');
  await Promise.all([(c as KvClient).put('blind', 'x', { keepSiblings: true }), (c as KvClient).put('blind', 'y', { keepSiblings: true })]);
  t.same((await (a as KvClient).get('blind', { r: 2 })).values.map(String).sort(), ['x', 'y']);
  // Resolve through the CLI with the context.
  const json = JSON.parse((await kvctl(['get', 'doc', '--addr', (nodes[2] as Daemon).addr, '--json', '--r', '3'])).out);
  t.equal(json.values.length, 2);
  t.equal((await kvctl(['put', 'doc', 'merged', '--context', json.context, '--addr', (nodes[0] as Daemon).addr])).code, 0);
  t.same((await (b as KvClient).get('doc', { r: 3 })).values.map(String), ['merged']);
});

t.test('kill -9 one node of three: W=2 and R=2 still succeed; W=3 reports the quorum', async (t) => {
  const nodes = await startCluster(t, 3);
  const [a, b] = await clients(t, nodes.slice(0, 2));
  for (let i = 0; i < 100; i++) await (a as KvClient).put(`pre:${i}`, `v${i}`);
  killHard((nodes[2] as Daemon).pid);
  await waitFor(() => !isAlive((nodes[2] as Daemon).pid), 'node3 to die');
  for (let i = 0; i < 100; i++) await (b as KvClient).put(`post:${i}`, `w${i}`, { w: 2 });
  let missing = 0;
  for (let i = 0; i < 100; i++) {
    if ((await (a as KvClient).get(`pre:${i}`, { r: 2 })).values[0]?.toString() !== `v${i}`) missing++;
    if ((await (b as KvClient).get(`post:${i}`, { r: 2 })).values[0]?.toString() !== `w${i}`) missing++;
  }
  t.equal(missing, 0, 'every key readable at R=2 with one replica dead');
  const w3 = await kvctl(['put', 'k', 'v', '--w', '3', '--addr', (nodes[0] as Daemon).addr, '--json']);
  t.equal(w3.code, 5, 'W=3 with a dead replica: quorum not met, exit 5');
  // Before gossip marks node3 down the write is tried and times out; after, strict mode refuses it at once.
  const error = JSON.parse(w3.out).error;
  t.ok(['KV_QUORUM_NOT_MET', 'KV_QUORUM_UNAVAILABLE'].includes(error.code), error.code);
  t.equal(error.code === 'KV_QUORUM_NOT_MET' ? error.details.replied : error.details.reachable, 2, 'says how many replicas could take it');
  t.equal(error.details.needed, 3);
  await waitFor(async () => {
    const m = JSON.parse((await kvctl(['members', '--addr', (nodes[0] as Daemon).addr, '--json'])).out);
    return m.members.find((x: { name: string }) => x.name === 'node3').health === 'down';
  }, 'node3 to be seen down');
  t.pass('the dead node is marked down by gossip');
});

t.test('a 4th node joins: keys move to it and every key stays readable', async (t) => {
  const nodes = await startCluster(t, 3);
  const [a] = await clients(t, nodes.slice(0, 1));
  const n = 600;
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ key: `j:${i}`, value: `val${i}` })).join('\n');
  const load = await kvctl(['put', '--stdin', '--addr', (nodes[0] as Daemon).addr], { input: lines });
  t.equal(load.code, 0, load.stderr);
  const fourth = await startDaemon(t, {
    args: ['--name', 'node4', '--join', (nodes[1] as Daemon).addr, '--secret-file', clusterSecretFile(nodes[1] as Daemon)],
  });
  const all = [...nodes, fourth];
  await waitForMembers(all, 4);
  await waitForHandoff(all);
  const four = await KvClient.connect(fourth.addr);
  t.teardown(() => four.close());
  const stats = await four.stats();
  t.ok((stats.keys as number) > n * 0.5, `node4 received its share of keys (${stats.keys} of ${n} keys x N=3 over 4 nodes)`);
  let missing = 0;
  for (let i = 0; i < n; i++) if ((await four.get(`j:${i}`, { r: 2 })).values[0]?.toString() !== `val${i}`) missing++;
  t.equal(missing, 0, 'every key readable after the join');
  let held = 0;
  for (const d of all) {
    const c = await KvClient.connect(d.addr);
    held += (await c.stats()).keys as number;
    await c.close();
  }
  t.equal(held, n * 3, 'exactly N copies of every key across the cluster after handoff');
  void a;
});

t.test('leave hands every key to the remaining nodes; nothing is lost', async (t) => {
  const nodes = await startCluster(t, 5);
  const n = 500;
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ key: `l:${i}`, value: `val${i}` })).join('\n');
  t.equal((await kvctl(['put', '--stdin', '--addr', (nodes[0] as Daemon).addr], { input: lines })).code, 0);
  const leaver = nodes[4] as Daemon;
  const left = await kvctl(['leave', '--addr', leaver.addr, '--json']);
  t.equal(left.code, 0, left.stderr);
  t.equal(JSON.parse(left.out).left, true);
  await waitFor(() => !isAlive(leaver.pid), 'the leaving daemon to exit');
  const rest = nodes.slice(0, 4);
  await waitForHandoff(rest);
  const c = await KvClient.connect((nodes[1] as Daemon).addr);
  t.teardown(() => c.close());
  let missing = 0;
  for (let i = 0; i < n; i++) if ((await c.get(`l:${i}`, { r: 3 })).values[0]?.toString() !== `val${i}`) missing++;
  t.equal(missing, 0, 'every key readable at R=3 after the leave');
  const members = JSON.parse((await kvctl(['members', '--addr', (nodes[0] as Daemon).addr, '--json'])).out);
  t.equal(members.members.find((m: { name: string }) => m.name === leaver.name).status, 'left');
  const ring = JSON.parse((await kvctl(['ring', 'show', '--addr', (nodes[0] as Daemon).addr, '--json'])).out);
  t.equal(ring.nodes.find((x: { name: string }) => x.name === leaver.name).vnodes, 0, 'the leaver holds no vnodes');
});

t.test('a node started with conflicting settings refuses to join', async (t) => {
  const nodes = await startCluster(t, 3);
  const result = await kvctl([
    'start',
    '--port',
    '0',
    '--data-dir',
    `${(nodes[0] as Daemon).dataDir}-x`,
    '--join',
    (nodes[0] as Daemon).addr,
    '--secret-file',
    clusterSecretFile(nodes[0] as Daemon),
    '--n',
    '5',
  ]);
  t.equal(result.code, 6);
  t.match(result.stderr, /KV_CLUSTER_MISMATCH/);
  t.match(result.stderr, /N=3/);
  t.match(result.stderr, /N=5/);
});
