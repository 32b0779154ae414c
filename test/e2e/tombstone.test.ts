/**
 * Tombstones: a delete replicates and repairs like a value, is reaped only once every replica
 * holds it (and it is past its grace period), and a late hint carrying the deleted value neither
 * resurrects it nor hides a value written after the delete.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, kvctl } from '../helpers/cli.js';
import { heal, isolate, replicaReader, startCluster, stats, waitForHealth } from '../helpers/cluster.js';

const ARGS = ['--testing-faults', '--anti-entropy-interval-ms', '0', '--tombstone-grace-ms', '1', '--hint-max-age-ms', '1'];

t.test('tombstones are reaped only after every replica has them', async (t) => {
  const nodes = await startCluster(t, 3, ARGS);
  const [a, , c] = nodes as [Daemon, Daemon, Daemon];
  const client = await KvClient.connect(a.addr);
  t.teardown(() => client.close());
  for (let i = 0; i < 20; i++) await client.put(`t:${i}`, `v${i}`, { w: 3 });
  await isolate(nodes, c);
  await waitForHealth(a, c.name, 'down');
  for (let i = 0; i < 20; i++) await client.delete(`t:${i}`, { w: 2 });
  const partial = await kvctl(['repair', '--node', a.name, '--addr', a.addr, '--json']);
  t.equal(partial.code, 3, 'repair reports the unreachable node');
  t.equal((await stats(a)).keys, 20, 'tombstones kept while a replica lacks them');
  t.equal((await stats(c)).keys, 20, 'the cut-off replica still has the old values');
  await heal(nodes);
  await waitForHealth(a, c.name, 'alive');
  const repair = await kvctl(['repair', '--addr', a.addr, '--json']);
  t.equal(repair.code, 0, repair.stderr);
  for (const d of nodes) t.equal((await stats(d)).keys, 0, `${d.name}: tombstones reaped once every replica held them`);
  const got = await client.get('t:3', { r: 3 });
  t.equal(got.found, false, 'the deleted key stays deleted');
});

t.test('delete, re-create, then a late hint: neither resurrects the old value nor loses the new one', async (t) => {
  const nodes = await startCluster(t, 4, ['--testing-faults', '--anti-entropy-interval-ms', '0', '--consistency', 'sloppy']);
  const [a, , , d] = nodes as [Daemon, Daemon, Daemon, Daemon];
  const client = await KvClient.connect(a.addr);
  t.teardown(() => client.close());
  // Find a key that d replicates, so that cutting d off makes a fallback hold a hint for it.
  let key = '';
  for (let i = 0; !key; i++) {
    const ring = JSON.parse((await kvctl(['ring', 'show', '--key', `late:${i}`, '--addr', a.addr, '--json'])).out);
    if (ring.preferenceList.slice(0, 3).some((e: { name: string }) => e.name === d.name)) key = `late:${i}`;
  }
  await isolate(nodes, d);
  for (const n of nodes.slice(0, 3)) await waitForHealth(n, d.name, 'down');
  await client.put(key, 'old', { w: 3 }); // a fallback now holds a hint with "old" for d
  const ctx1 = (await client.get(key, { r: 3 })).context;
  await client.delete(key, { context: ctx1, w: 3 });
  const ctx2 = (await client.get(key, { r: 3 })).context;
  await client.put(key, 'new', { context: ctx2, w: 3 });
  await heal(nodes); // the hints (merged: old, its tombstone, new) reach d late
  await waitForHealth(a, d.name, 'alive');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const held = await Promise.all(nodes.map(async (n) => ((await stats(n)).hints as { held: number }).held));
    if (held.every((h) => h === 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const dc = await replicaReader(d);
  t.teardown(() => dc.close());
  const atD = await dc.request({ op: 'kv.read', key: Buffer.from(key).toString('base64') });
  t.ok(atD.record, 'd received the late hint');
  const got = await client.get(key, { r: 3 });
  t.same(got.values.map(String), ['new'], 'only the value written after the delete is live');
});
