/**
 * Cluster settings that follow the cluster (seeded simulation of real KvNodes): while the ring has
 * fewer nodes than N each key lives on all of them with quorums capped at the ring's size; a
 * `cluster.set` spreads by gossip and a raised N copies every key to its new replicas; a restarted
 * node knows the ring it was part of before gossip reaches it, so it never caps quorums at one.
 */
import t from 'tap';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 7;

t.test(`N=3 on two nodes: every key on both, W and R capped at 2 (seed ${SEED})`, async (t) => {
  const sim = new SimCluster({ seed: SEED, nodes: 2, settings: { n: 3, w: 3, r: 3, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  const [a, b] = sim.nodes as [SimNode, SimNode];
  for (let i = 0; i < 40; i++) await sim.settle(sim.request(i % 2 ? a : b, { op: 'put', key: `k${i}`, value: `v${i}` }));
  t.equal(a.built.replica.keys, 40, 'node1 holds every key');
  t.equal(b.built.replica.keys, 40, 'node2 holds every key');
  const view = await sim.settle(sim.request(a, { op: 'members' }));
  t.match(view.cluster, { n: 3, nodes: 2, copiesPerKey: 2 }, 'the members view says how many copies a key has');
  // A down node still counts: durability is never weakened silently.
  sim.crash(b);
  await runFor(sim.clock, 4000, 20);
  const refused = await sim.settle(sim.request(a, { op: 'put', key: 'k0', value: 'x' }).catch((err: { code: string }) => err));
  t.equal((refused as { code?: string }).code, 'KV_QUORUM_UNAVAILABLE', 'with one of two nodes down, W (capped at 2) is not met');
  sim.stop();
});

t.test(`cluster.set raises N from 1 to 3 and every key gets three copies (seed ${SEED})`, async (t) => {
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings: { n: 1, w: 1, r: 1, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  const [a, b, c] = sim.nodes as [SimNode, SimNode, SimNode];
  for (let i = 0; i < 150; i++) await sim.settle(sim.request(sim.nodes[i % 3] as SimNode, { op: 'put', key: `k${i}`, value: `v${i}` }));
  const held = () => sim.nodes.map((n) => n.built.replica.keys);
  t.equal(
    held().reduce((x, y) => x + y, 0),
    150,
    'N=1: one copy of each key',
  );
  const reply = await sim.settle(sim.request(b, { op: 'cluster.set', n: 3, w: 2, r: 2 }));
  t.equal(reply.changed, true);
  t.match(reply.previous, { n: 1 });
  await runFor(sim.clock, 5000, 20);
  t.same(held(), [150, 150, 150], 'N=3: every node holds every key');
  for (const n of sim.nodes) t.match(n.built.state.settings, { n: 3, w: 2, r: 2 }, `${n.name} adopted the settings through gossip`);
  t.equal(a.built.state.previousRing, undefined, 'transfers settled');
  const got = await sim.settle(sim.request(c, { op: 'get', key: 'k5', r: 3 }));
  t.same(got.values, ['v5'], 'a read at R=3 finds the key on all three');

  const bad = await sim.settle(sim.request(a, { op: 'cluster.set', w: 4 }).catch((err: { code: string }) => err));
  t.equal((bad as { code?: string }).code, 'KV_INVALID_QUORUM', 'W above N is refused');
  t.equal(a.built.state.settings.w, 2, 'and changes nothing');

  // Lowering N again drops the extra copies once their keys' replicas have them.
  await sim.settle(sim.request(c, { op: 'cluster.set', n: 2, w: 1, r: 1 }));
  await runFor(sim.clock, 5000, 20);
  t.equal(
    held().reduce((x, y) => x + y, 0),
    300,
    'N=2: two copies of each key',
  );
  sim.stop();
});

t.test(`a restarted node knows its ring before gossip reaches it (seed ${SEED})`, async (t) => {
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings: { n: 3, w: 2, r: 2, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  const [a, b] = sim.nodes as [SimNode, SimNode, SimNode];
  sim.crash(a);
  sim.pause(b); // and nobody can answer a's first gossip from b
  await runFor(sim.clock, 500, 20);
  await sim.restart(a);
  t.equal(a.built.state.ring.members.length, 3, 'the restarted node places keys on all three nodes at once');
  const write = await sim.settle(sim.request(a, { op: 'put', key: 'early', value: 'x', w: 3 }).catch((err: { code: string }) => err));
  t.not((write as { siblings?: number }).siblings, 1, 'a W=3 write is not acknowledged by the restarted node alone');
  sim.resume(b);
  await runFor(sim.clock, 3000, 20);
  const later = await sim.settle(sim.request(a, { op: 'put', key: 'later', value: 'y', w: 3 }));
  t.equal(later.siblings, 1, 'once gossip arrives, writes reach all three');
  sim.stop();
});
