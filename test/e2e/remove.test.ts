/**
 * kvctl remove through real daemons: a live node is refused; a node killed with kill -9 and never
 * restarted is removed, every key ends with N live copies on the survivors, and its old data dir
 * cannot put it back in the ring. A live node removed with --force exits on its own.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, isAlive, killHard, kvctl, waitFor } from '../helpers/cli.js';
import { replicaReader, startCluster, stats, waitForHealth } from '../helpers/cluster.js';
import type { TestPeer } from '../helpers/peer-frames.js';

const KEYS = 200;
const keyOf = (i: number) => `key:${i}`;

/** Whether `d` itself stores the key (read from that node alone). */
async function holds(client: TestPeer, key: string): Promise<boolean> {
  const reply = await client.request({ op: 'kv.read', key: Buffer.from(key).toString('base64') });
  return reply.record !== null;
}

async function membersOf(d: Daemon): Promise<{ name: string; status: string; health: string }[]> {
  return JSON.parse((await kvctl(['members', '--addr', d.addr, '--json'])).out).members;
}

async function ringOf(d: Daemon): Promise<{ nodes: { name: string; vnodes: number }[] }> {
  return JSON.parse((await kvctl(['ring', 'show', '--addr', d.addr, '--json'])).out);
}

t.test('a dead node is removed; every key it held ends with N live copies; its data dir cannot bring it back', async (t) => {
  const nodes = await startCluster(t, 4, ['--n', '3', '--w', '2', '--r', '2', '--down-after-ms', '1500']);
  const [a, , , dead] = nodes as [Daemon, Daemon, Daemon, Daemon];
  const survivors = nodes.slice(0, 3);
  const client = await KvClient.connect(a.addr);
  t.teardown(() => client.close());
  for (let i = 0; i < KEYS; i++) await client.put(keyOf(i), `value ${i}`, { w: 3 });
  t.ok(((await stats(dead)).keys as number) > 0, 'the node to kill holds some of the keys');

  const refused = await kvctl(['remove', dead.name, '--addr', a.addr, '--json']);
  t.equal(refused.code, 4, 'a live node is refused');
  t.equal(JSON.parse(refused.out).error.code, 'KV_NODE_UP');
  t.match(JSON.parse(refused.out).error.message, /kvctl leave/);
  t.equal((await ringOf(a)).nodes.find((n) => n.name === dead.name)?.vnodes, 64, 'and stays on the ring');

  killHard(dead.pid);
  await waitFor(() => !isAlive(dead.pid), 'the node to die');
  await waitForHealth(a, dead.name, 'down');
  const removed = await kvctl(['remove', dead.name, '--addr', a.addr, '--json'], { timeoutMs: 120_000 });
  t.equal(removed.code, 0, removed.stderr);
  t.same(JSON.parse(removed.out), { ok: true, node: dead.name, removedBy: a.name, already: false, copied: true });

  for (const d of survivors) {
    const members = await membersOf(d);
    t.equal(members.find((m) => m.name === dead.name)?.status, 'removed', `${d.name} heard of the removal`);
    t.equal((await ringOf(d)).nodes.find((n) => n.name === dead.name)?.vnodes, 0, `${d.name}: off the ring`);
  }
  // Three survivors and N=3: each must now hold every key itself.
  for (const d of survivors) {
    const c = await replicaReader(d);
    try {
      let held = 0;
      for (let i = 0; i < KEYS; i++) if (await holds(c, keyOf(i))) held++;
      t.equal(held, KEYS, `${d.name} holds every key`);
    } finally {
      await c.close();
    }
  }
  let readable = 0;
  for (let i = 0; i < KEYS; i++) {
    const got = await client.get(keyOf(i), { r: 3, consistency: 'strict' });
    if (got.found && got.values[0]?.toString() === `value ${i}`) readable++;
  }
  t.equal(readable, KEYS, 'every key reads back at R=3, strict');

  const again = await kvctl(['remove', dead.name, '--addr', a.addr, '--json']);
  t.equal(again.code, 0);
  t.equal(JSON.parse(again.out).already, true, 'removing twice is harmless');

  const restart = await kvctl(['start', '--data-dir', dead.dataDir, '--port', '0']);
  t.equal(restart.code, 6, 'the old data dir refuses to start');
  t.match(restart.stderr, /was removed from cluster .*wipe .* --join .*\[KV_REMOVED\]/);
  for (const d of survivors) {
    const entry = (await membersOf(d)).find((m) => m.name === dead.name);
    t.equal(entry?.status, 'removed', `${d.name} still has it removed`);
    t.equal((await ringOf(d)).nodes.find((n) => n.name === dead.name)?.vnodes, 0);
  }
});

t.test('remove --force on a live node: it hears of it and exits, and stays out', async (t) => {
  const nodes = await startCluster(t, 3, ['--n', '2', '--w', '1', '--r', '1']);
  const [a, b, victim] = nodes as [Daemon, Daemon, Daemon];
  const noName = await kvctl(['remove', '--addr', a.addr]);
  t.equal(noName.code, 2);
  t.match(noName.stderr, /name the node to remove/);
  const unknown = await kvctl(['remove', 'nobody', '--addr', a.addr]);
  t.equal(unknown.code, 4);
  t.match(unknown.stderr, /unknown node nobody/);
  const self = await kvctl(['remove', a.name, '--addr', a.addr]);
  t.equal(self.code, 4);
  t.match(self.stderr, /cannot remove itself/);

  const forced = await kvctl(['remove', victim.name, '--force', '--addr', a.addr, '--json'], { timeoutMs: 120_000 });
  t.equal(forced.code, 0, forced.stderr);
  await waitFor(() => !isAlive(victim.pid), 'the removed node to exit', 20_000);
  t.equal((await membersOf(b)).find((m) => m.name === victim.name)?.status, 'removed');
  const restart = await kvctl(['start', '--data-dir', victim.dataDir]);
  t.equal(restart.code, 6);
  t.match(restart.stderr, /KV_REMOVED/);
});
