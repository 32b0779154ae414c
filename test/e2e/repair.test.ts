/**
 * Merkle anti-entropy through `kvctl repair`: replicas diverged in exactly k of 10,000 keys
 * (changed values, missing keys, tombstones, siblings) converge, every pair's Merkle roots end
 * equal, and the keys transferred equal k (k = 0 transfers nothing). Also: a node whose data dir
 * was wiped comes back as a new incarnation and loses no one's writes.
 */

import { rmSync } from 'node:fs';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, isAlive, killHard, kvctl, startDaemon, waitFor } from '../helpers/cli.js';
import { clusterSecretFile, heal, isolate, replicaReader, startCluster, stats, waitForMembers } from '../helpers/cluster.js';

const FAULTS = ['--testing-faults', '--anti-entropy-interval-ms', '0'];

async function rootsAgree(nodes: Daemon[]): Promise<boolean> {
  const roots = new Map<string, Record<string, string>>();
  for (const d of nodes) roots.set(d.name, ((await stats(d)).antiEntropy as { roots: Record<string, string> }).roots);
  for (const a of nodes) for (const b of nodes) if (a !== b && roots.get(a.name)?.[b.name] !== roots.get(b.name)?.[a.name]) return false;
  return true;
}

function lastJson(out: string): Record<string, number> {
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

t.test('repair transfers exactly the k diverged keys of 10,000, and the roots end equal', async (t) => {
  const nodes = await startCluster(t, 3, FAULTS);
  const [a, , c] = nodes as [Daemon, Daemon, Daemon];
  const lines = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ key: `d:${i}`, value: `v${i}` })).join('\n');
  t.equal((await kvctl(['put', '--stdin', '--addr', a.addr], { input: lines })).code, 0);
  await waitFor(() => rootsAgree(nodes), 'roots to agree after the load', 60_000).catch(async (err) => {
    for (const d of nodes) t.comment(JSON.stringify(await stats(d)));
    throw err;
  });
  const client = await KvClient.connect(a.addr, { timeoutMs: 10_000 });
  t.teardown(() => client.close());
  let next = 0;
  for (const k of [0, 1, 37, 1000]) {
    await isolate(nodes, c);
    // Divergence while node3 is cut off: a quarter each of changed values, new keys it misses,
    // deletes (tombstones) and concurrent writes (siblings).
    const ops: Promise<unknown>[] = [];
    for (let j = 0; j < k; j++, next++) {
      const kind = j % 4;
      const key = `d:${next}`;
      if (kind === 0) ops.push(client.get(key, { r: 2 }).then((g) => client.put(key, `changed${next}`, { context: g.context, w: 2 })));
      else if (kind === 1) ops.push(client.put(`new:${next}`, `n${next}`, { w: 2 }));
      else if (kind === 2) ops.push(client.delete(key, { w: 2 }));
      else ops.push(client.put(key, `sibling${next}`, { w: 2, keepSiblings: true }));
      if (ops.length >= 64) await Promise.all(ops.splice(0));
    }
    await Promise.all(ops);
    await heal(nodes);
    const dry = await kvctl(['repair', '--dry-run', '--addr', a.addr, '--json']);
    t.equal(lastJson(dry.out).keysDiffering, k, `k=${k}: the dry run finds ${k} differing keys`);
    t.equal(lastJson(dry.out).keysTransferred, 0, `k=${k}: the dry run transfers nothing`);
    const repair = await kvctl(['repair', '--addr', a.addr, '--json']);
    t.equal(repair.code, 0, repair.stderr);
    const summary = lastJson(repair.out);
    t.equal(summary.keysTransferred, k, `k=${k}: keys transferred = ${summary.keysTransferred}`);
    if (k === 0) t.equal(summary.bytesTransferred, 0, 'k=0: no bytes transferred');
    t.ok(await rootsAgree(nodes), `k=${k}: every pair's Merkle roots are equal after repair`);
    const progress = repair.out
      .trim()
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l));
    t.ok(
      progress.every((p) => p.event === 'progress'),
      `k=${k}: NDJSON progress events (${progress.length})`,
    );
  }
  // Node3 now agrees with the others on the diverged keys: ask it alone.
  const c1 = await replicaReader(c);
  t.teardown(() => c1.close());
  const direct = async (key: string) => {
    const reply = await c1.request({ op: 'kv.read', key: Buffer.from(key).toString('base64') });
    return reply.record as { siblings: unknown[] } | null;
  };
  t.ok(await direct('new:2'), 'a key node3 missed is now on node3');
  t.equal((await direct('d:4'))?.siblings.length, 2, 'the siblings made while node3 was away are on node3');
});

t.test("a node whose data dir was wiped restarts as a new incarnation and loses no one's writes", async (t) => {
  const nodes = await startCluster(t, 3, FAULTS);
  const [a, , c] = nodes as [Daemon, Daemon, Daemon];
  const cClient = await KvClient.connect(c.addr);
  // Writes coordinated by node3 carry dots of its first incarnation.
  for (let i = 0; i < 50; i++) await cClient.put(`w:${i}`, `old${i}`);
  const before = await stats(c);
  await cClient.close();
  killHard(c.pid);
  await waitFor(() => !isAlive(c.pid), 'node3 to die');
  rmSync(c.dataDir, { recursive: true, force: true });
  const reborn = await startDaemon(t, {
    dataDir: c.dataDir,
    port: c.port,
    args: ['--name', c.name, '--join', a.addr, '--secret-file', clusterSecretFile(a), ...FAULTS],
  });
  t.not((await stats(reborn)).incarnation, before.incarnation, 'a new incarnation');
  await waitForMembers([a, reborn], 3);
  // New writes through node3 that keep what is there: with a reused actor their dots would collide with old ones.
  const r = await KvClient.connect(reborn.addr);
  t.teardown(() => r.close());
  for (let i = 0; i < 50; i++) await r.put(`w:${i}`, `new${i}`, { keepSiblings: true });
  const repair = await kvctl(['repair', '--addr', a.addr, '--json']);
  t.equal(repair.code, 0, repair.stderr);
  let lost = 0;
  for (let i = 0; i < 50; i++) {
    const got = (await r.get(`w:${i}`, { r: 3 })).values.map(String).sort();
    if (got.join() !== [`new${i}`, `old${i}`].sort().join()) lost++;
  }
  t.equal(lost, 0, 'both the old and the new writes survive (as siblings): nothing lost to a reused clock entry');
});

t.test('read repair: a read brings a replica that missed writes up to date (digest or full read)', async (t) => {
  const nodes = await startCluster(t, 3, FAULTS);
  const [a, , c] = nodes as [Daemon, Daemon, Daemon];
  // Let the hand-off for node3's join finish first: one still pending keeps retrying during the
  // partition and would deliver the writes below to node3 itself, racing the read repair.
  await waitFor(
    async () => (await Promise.all(nodes.map(async (d) => ((await stats(d)).handoff as { done: boolean }).done))).every(Boolean),
    'join hand-offs to finish',
  );
  await isolate(nodes, c);
  const client = await KvClient.connect(a.addr);
  t.teardown(() => client.close());
  for (let i = 0; i < 20; i++) await client.put(`rr:${i}`, `v${i}`, { w: 2 });
  await heal(nodes);
  const cClient = await replicaReader(c);
  t.teardown(() => cClient.close());
  const held = async (i: number) => (await cClient.request({ op: 'kv.read', key: Buffer.from(`rr:${i}`).toString('base64') })).record !== null;
  t.notOk(await held(0), 'node3 missed the writes');
  for (let i = 0; i < 20; i++) t.same((await client.get(`rr:${i}`, { r: 2 })).values.map(String), [`v${i}`]);
  await waitFor(async () => {
    for (let i = 0; i < 20; i++) if (!(await held(i))) return false;
    return true;
  }, 'read repair to reach node3');
  t.pass('every key read was repaired on node3');
  const ops = await Promise.all(nodes.map(async (d) => (await stats(d)).ops as { readRepairs: number; merges: number; gets: number }));
  t.equal(ops[0]?.gets, 20, 'the coordinator counted the 20 gets');
  t.equal(ops[2]?.merges, 20, 'node3 merged each missed key once');
  t.equal(ops[0]?.readRepairs, 20, 'each through a read repair by the coordinator');
});
