/**
 * Expiry on virtual time (seeded simulation, real KvNodes): a put's deadline is set once, on the
 * node the client asked, and every replica, a forwarded write, a hint and an anti-entropy repair
 * carry the same deadline; from the deadline on no node returns the value; a record whose every
 * version expired is reaped as a tombstone is, once past the grace period, on every replica.
 */
import t from 'tap';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 15;
const GRACE_MS = 5_000;

async function startCluster(nodes: number, consistency: 'strict' | 'sloppy' = 'strict'): Promise<SimCluster> {
  const sim = new SimCluster({ seed: SEED, nodes, settings: { n: 3, w: 2, r: 2, consistency }, tombstoneGraceMs: GRACE_MS });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  return sim;
}

/** The deadline of each copy of the key's one value, per node holding it (undefined: no deadline; 'none': no copy). */
async function deadlines(sim: SimCluster, key: string): Promise<Record<string, number | undefined | 'none'>> {
  const out: Record<string, number | undefined | 'none'> = {};
  for (const node of sim.nodes) {
    const record = await sim.settle(node.built.replica.read(Buffer.from(key), false));
    out[node.name] = record ? record.siblings.find((s) => s.value !== null)?.expiresAt : 'none';
  }
  return out;
}

const replicasOf = (sim: SimCluster, key: string): SimNode[] => {
  const state = (sim.nodes[0] as SimNode).built.state;
  const names = state.ring.primaries(Buffer.from(key), state.settings.n);
  return sim.nodes.filter((n) => names.includes(n.name));
};

t.test(`a deadline is set once and holds on every replica and coordinator (seed ${SEED})`, async (t) => {
  const sim = await startCluster(4);
  // A key the first node does not replicate: its put is forwarded to a replica (kv.coordinate).
  let key = '';
  for (let i = 0; !key; i++) if (!replicasOf(sim, `session:${i}`).includes(sim.nodes[0] as SimNode)) key = `session:${i}`;
  const asked = sim.nodes[0] as SimNode;
  const before = sim.clock.now();
  const put = await sim.settle(sim.request(asked, { op: 'put', key, value: 'token', ttlMs: 10_000, w: 3 }));
  t.equal(put.ok, true, JSON.stringify(put));
  t.equal(put.expiresAt, before + 10_000, "the deadline is the asked node's clock plus the TTL");
  await sim.settle(sim.request(asked, { op: 'put', key: 'forever', value: 'stays', w: 3 }));
  await runFor(sim.clock, 500, 10);
  const held = await deadlines(sim, key);
  const replicas = replicasOf(sim, key).map((n) => n.name);
  t.same(
    replicas.map((name) => held[name]),
    replicas.map(() => before + 10_000),
    'every replica holds the same deadline, though another node coordinated the write',
  );
  for (const node of sim.nodes) {
    const got = await sim.settle(sim.request(node, { op: 'get', key }));
    t.same([got.found, got.values, got.expiresAt], [true, ['token'], [before + 10_000]], `${node.name} reads it before the deadline`);
  }
  await runFor(sim.clock, before + 10_000 - sim.clock.now(), 10);
  for (const node of sim.nodes) {
    const got = await sim.settle(sim.request(node, { op: 'get', key }));
    t.equal(got.found, false, `${node.name}: not found from the deadline on`);
    t.not(got.context, 'W10', 'the context still covers the expired version');
    const forever = await sim.settle(sim.request(node, { op: 'get', key: 'forever' }));
    t.equal(forever.found, true, `${node.name}: a value without TTL stays`);
  }
  // A put with the context of the expired read replaces it: the new value has no deadline.
  const expired = await sim.settle(sim.request(asked, { op: 'get', key }));
  await sim.settle(sim.request(asked, { op: 'put', key, value: 'renewed', context: expired.context }));
  const renewed = await sim.settle(sim.request(sim.nodes[3] as SimNode, { op: 'get', key, r: 3 }));
  t.same([renewed.values, renewed.expiresAt], [['renewed'], undefined], 'renewed without a deadline');
  sim.stop();
});

t.test(`a hint and an anti-entropy repair carry the deadline; expired records are reaped everywhere after the grace period (seed ${SEED})`, async (t) => {
  const sim = await startCluster(4, 'sloppy');
  const [a, b, c, d] = sim.nodes as [SimNode, SimNode, SimNode, SimNode];
  sim.pause(d);
  await runFor(sim.clock, 5000, 20);
  const keys = Array.from({ length: 20 }, (_, i) => `temp:${i}`);
  const deadline = sim.clock.now() + 20_000;
  for (const [i, key] of keys.entries()) {
    const via = [a, b, c][i % 3] as SimNode;
    const reply = await sim.settle(sim.request(via, { op: 'put', key, value: `v${i}`, ttlMs: deadline - sim.clock.now() }));
    t.equal(reply.ok, true);
  }
  t.ok(sim.nodes.reduce((sum, n) => sum + n.built.hints.total(), 0) > 0, 'fallbacks hold hints for d');
  sim.resume(d);
  await runFor(sim.clock, 10_000, 20);
  t.equal(
    sim.nodes.reduce((sum, n) => sum + n.built.hints.total(), 0),
    0,
    'hints delivered',
  );
  const atD = keys.filter((k) => replicasOf(sim, k).includes(d));
  t.ok(atD.length > 0, `d replicates ${atD.length} of the keys`);
  for (const key of atD) t.equal((await deadlines(sim, key))[d.name], deadline, `${key}: d got the deadline with the hint`);

  // d loses one key's record; anti-entropy brings it back with its deadline.
  const lost = atD[0] as string;
  await sim.settle(d.built.replica.forget(Buffer.from(lost), (await sim.settle(d.built.replica.read(Buffer.from(lost), false))) as never));
  t.equal((await deadlines(sim, lost))[d.name], 'none', 'd lost its copy');
  for (const peer of [a, b, c]) await sim.settle(d.built.antiEntropy.exchange(peer.name));
  t.equal((await deadlines(sim, lost))[d.name], deadline, 'repaired with the same deadline');

  const held = () => sim.nodes.reduce((sum, n) => sum + n.built.replica.keys, 0);
  t.equal(held(), keys.length * 3, 'three copies of each key');
  // Past the deadline but within the grace period: hidden, not reaped.
  await runFor(sim.clock, deadline - sim.clock.now() + 1000, 20);
  for (const node of sim.nodes) await sim.settle(sim.request(node, { op: 'reap' }));
  t.equal(held(), keys.length * 3, 'kept during the grace period');
  t.equal((await sim.settle(sim.request(a, { op: 'get', key: lost }))).found, false, 'hidden');
  await runFor(sim.clock, GRACE_MS, 20);
  for (const node of sim.nodes) await sim.settle(sim.request(node, { op: 'reap' }));
  t.equal(held(), 0, 'every replica dropped every expired record after the grace period');
  sim.stop();
});
