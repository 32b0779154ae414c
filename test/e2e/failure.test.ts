/**
 * Failure handling through real daemons: strict quorums fail fast when a key's replicas are cut
 * off, sloppy quorums write to fallbacks with durable hints that are delivered after healing (even
 * across a kill -9 of the hint holder), and a replica killed under load catches up through repair.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, isAlive, killHard, kvctl, startDaemon, waitFor } from '../helpers/cli.js';
import { heal, isolate, replicaReader, startCluster, stats, waitForHealth, waitForMembers } from '../helpers/cluster.js';

const FAULTS = ['--testing-faults', '--anti-entropy-interval-ms', '0'];

async function primariesOf(d: Daemon, key: string): Promise<string[]> {
  const ring = JSON.parse((await kvctl(['ring', 'show', '--key', key, '--addr', d.addr, '--json'])).out);
  return ring.preferenceList.filter((e: { role: string }) => e.role === 'primary').map((e: { name: string }) => e.name);
}

/** The record a node holds for a key (data and hints), read directly from that node. */
async function heldBy(d: Daemon, key: string): Promise<boolean> {
  const c = await replicaReader(d);
  try {
    const reply = await c.request({ op: 'kv.read', key: Buffer.from(key).toString('base64') });
    return reply.record !== null;
  } finally {
    await c.close();
  }
}

t.test('strict: with one node of three cut off, requests needing it fail fast; the rest succeed', async (t) => {
  const nodes = await startCluster(t, 3, FAULTS);
  const [a, , c] = nodes as [Daemon, Daemon, Daemon];
  await isolate(nodes, c);
  await waitForHealth(a, c.name, 'down');
  const started = Date.now();
  const w3 = await kvctl(['put', 'k', 'v', '--w', '3', '--addr', a.addr, '--json']);
  const elapsed = Date.now() - started;
  t.equal(w3.code, 5);
  const error = JSON.parse(w3.out).error;
  t.equal(error.code, 'KV_QUORUM_UNAVAILABLE');
  t.same([error.details.needed, error.details.reachable], [3, 2], 'says needed vs reachable');
  t.ok(elapsed < 1500, `failed fast (${elapsed} ms, whole CLI process) rather than waiting for a timeout`);
  t.notOk(await heldBy(a, 'k'), 'no partial write was made');
  const r3 = await kvctl(['get', 'k', '--r', '3', '--addr', a.addr, '--json']);
  t.equal(JSON.parse(r3.out).error.code, 'KV_QUORUM_UNAVAILABLE');
  for (let i = 0; i < 50; i++) {
    const put = await kvctl(['put', `ok:${i}`, 'v', '--addr', a.addr]);
    t.equal(put.code, 0, `W=2 write ${i} ${put.stderr}`);
  }
  const got = await kvctl(['get', 'ok:7', '--addr', a.addr]);
  t.equal(got.out, 'v');
});

t.test('sloppy: writes succeed with hints; after healing every key is on its owners and hints are gone', async (t) => {
  const nodes = await startCluster(t, 4, [...FAULTS, '--consistency', 'sloppy']);
  const victim = nodes[3] as Daemon;
  const live = nodes.slice(0, 3);
  await isolate(nodes, victim);
  for (const d of live) await waitForHealth(d, victim.name, 'down');
  const client = await KvClient.connect((nodes[0] as Daemon).addr);
  t.teardown(() => client.close());
  const n = 200;
  let hinted = 0;
  for (let i = 0; i < n; i++) {
    const result = await client.put(`s:${i}`, `v${i}`, { w: 3 });
    if (result.hinted.includes(victim.name)) hinted++;
  }
  t.ok(hinted > 0, `${hinted} writes at W=3 were hinted for ${victim.name}`);
  const held = await Promise.all(live.map(async (d) => ((await stats(d)).hints as { held: number }).held));
  t.equal(
    held.reduce((x, y) => x + y, 0),
    hinted,
    'one hint per hinted write, held by fallbacks',
  );
  const members = JSON.parse((await kvctl(['members', '--addr', (nodes[0] as Daemon).addr, '--json'])).out);
  t.equal(
    members.members.reduce((s: number, m: { hintBacklog: number }) => s + m.hintBacklog, 0),
    hinted,
    'kvctl members shows the hint backlog',
  );
  const strict = await kvctl(['put', 'x', 'y', '--w', '3', '--consistency', 'strict', '--addr', (nodes[0] as Daemon).addr]);
  t.equal(strict.code, 5, 'a request can override the cluster mode to strict');

  await heal(nodes);
  await waitFor(async () => {
    const counts = await Promise.all(live.map(async (d) => ((await stats(d)).hints as { held: number }).held));
    return counts.every((x) => x === 0);
  }, 'every hint to be delivered');
  let misplaced = 0;
  for (let i = 0; i < n; i++) {
    const key = `s:${i}`;
    const owners = await primariesOf(victim, key);
    if (owners.includes(victim.name) && !(await heldBy(victim, key))) misplaced++;
  }
  t.equal(misplaced, 0, `every key whose replicas include ${victim.name} is now held by it`);
  const victimStats = await stats(victim);
  t.equal((victimStats.hints as { held: number }).held, 0);
});

t.test('hints survive a kill -9 of the node holding them and are delivered after it restarts', async (t) => {
  const nodes = await startCluster(t, 4, [...FAULTS, '--consistency', 'sloppy']);
  const victim = nodes[3] as Daemon;
  await isolate(nodes, victim);
  for (const d of nodes.slice(0, 3)) await waitForHealth(d, victim.name, 'down');
  const client = await KvClient.connect((nodes[0] as Daemon).addr);
  for (let i = 0; i < 100; i++) await client.put(`h:${i}`, `v${i}`, { w: 3 });
  await client.close();
  const holders: [Daemon, number][] = [];
  for (const d of nodes.slice(0, 3)) holders.push([d, ((await stats(d)).hints as { held: number }).held]);
  const [holder, count] = holders.sort((x, y) => y[1] - x[1])[0] as [Daemon, number];
  t.ok(count > 0, `${holder.name} holds ${count} hints`);
  killHard(holder.pid);
  await waitFor(() => !isAlive(holder.pid), 'the hint holder to die');
  await heal(nodes.filter((d) => d !== holder));
  const restarted = await startDaemon(t, { dataDir: holder.dataDir, port: holder.port, args: [...FAULTS, '--consistency', 'sloppy'] });
  t.equal(restarted.name, holder.name);
  await waitForMembers([restarted, victim], 4);
  await waitFor(async () => ((await stats(restarted)).hints as { held: number }).held === 0, 'the restarted holder to deliver its hints');
  const delivered = ((await stats(restarted)).hints as { delivered: number }).delivered;
  t.equal(delivered, count, `all ${count} hints delivered after the restart`);
  let missing = 0;
  for (let i = 0; i < 100; i++) {
    const key = `h:${i}`;
    if ((await primariesOf(victim, key)).includes(victim.name) && !(await heldBy(victim, key))) missing++;
  }
  t.equal(missing, 0, `${victim.name} holds every key it replicates`);
});

t.test('kill -9 a replica under W=2 load, restart, repair: 0 acknowledged writes lost, 0 invented', async (t) => {
  const nodes = await startCluster(t, 3, FAULTS);
  const victim = nodes[2] as Daemon;
  const clients = await Promise.all(nodes.slice(0, 2).map((d) => KvClient.connect(d.addr, { timeoutMs: 10_000 })));
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });
  const acknowledged = new Set<string>();
  const attempted = new Set<string>();
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const key = `load:${w}:${i}`;
      attempted.add(key);
      try {
        await (clients[w % 2] as KvClient).put(key, key, { w: 2 });
        acknowledged.add(key);
      } catch {
        // not acknowledged: may or may not exist
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));
  await waitFor(() => acknowledged.size >= 1500, '1500 acknowledged writes', 60_000);
  killHard(victim.pid);
  await waitFor(() => !isAlive(victim.pid), 'the replica to die');
  const atKill = acknowledged.size;
  await waitFor(() => acknowledged.size >= atKill + 1500, '1500 more acknowledged writes with a replica dead', 60_000);
  stop = true;
  await Promise.all(writers);
  const restarted = await startDaemon(t, { dataDir: victim.dataDir, port: victim.port, args: FAULTS });
  await waitForMembers([...nodes.slice(0, 2), restarted], 3);
  const repair = await kvctl(['repair', '--addr', (nodes[0] as Daemon).addr, '--json']);
  t.equal(
    repair.code,
    0,
    `repair: ${repair.stderr} ${repair.out
      .split('\n')
      .filter((l) => l.includes('"error"'))
      .join(' ')}`,
  );
  const summary = JSON.parse(repair.out.trim().split('\n').at(-1) as string);
  t.ok(summary.keysTransferred >= 1500, `repair transferred ${summary.keysTransferred} keys to the restarted replica`);
  let lost = 0;
  for (const key of acknowledged) if (!(await heldBy(restarted, key))) lost++;
  t.equal(lost, 0, `0 of ${acknowledged.size} acknowledged writes missing on the restarted replica`);
  for (const d of [...nodes.slice(0, 2), restarted]) {
    const keys = (await stats(d)).keys as number;
    t.ok(
      keys >= acknowledged.size && keys <= attempted.size,
      `${d.name}: ${keys} keys, between ${acknowledged.size} acknowledged and ${attempted.size} attempted (none invented)`,
    );
  }
});
