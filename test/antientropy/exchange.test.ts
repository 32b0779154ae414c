/**
 * Exchanges range by range (seeded simulation, 6 nodes, N=3: each pair shares some ranges of the
 * ring and not others): keys only one replica holds are found exactly where the two replicas share
 * a range, within the positions asked (`kvctl repair --range`), a dry run moves nothing, a repair
 * moves them, and the pair's roots then agree.
 */
import t from 'tap';
import { Ring } from '../../src/ring/index.js';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

t.test('an exchange compares the ranges both replicas hold, within the positions asked', async (t) => {
  const sim = new SimCluster({ seed: 3, nodes: 6, settings: { n: 3, w: 3, r: 1, consistency: 'strict' }, latencyMs: [1, 3] });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  const [a, b] = sim.nodes as [SimNode, SimNode];
  for (let i = 0; i < 300; i++) await sim.settle(sim.request(sim.nodes[i % 6] as SimNode, { op: 'put', key: `k${i}`, value: `v${i}` }));
  await runFor(sim.clock, 500, 10);
  for (let i = 0; i < 50 && !sim.nodes.every((n) => n.built.trees.ready); i++) await runFor(sim.clock, 100, 10);
  t.ok(
    sim.nodes.every((n) => n.built.trees.ready),
    'every node has its trees',
  );
  t.equal(a.built.trees.pairRoot(b.name), b.built.trees.pairRoot(a.name), 'after the writes, the pair agrees');

  // Keys written to node a's replica alone, as if the others had lost them.
  const ring = a.built.state.ring;
  const planted: string[] = [];
  for (let i = 0; planted.length < 60; i++) {
    const key = Buffer.from(`only-a:${i}`);
    if (!ring.primaries(key, 3).includes(a.name)) continue;
    await sim.settle(a.built.replica.write(key, Buffer.from('x'), undefined));
    planted.push(key.toString('base64'));
  }
  const sharedWithB = (k: string) => ring.primaries(Buffer.from(k, 'base64'), 3).includes(b.name);
  const half: [number, number] = [0, 2 ** 31 - 1];
  const inHalf = (k: string) => Ring.keyHash(Buffer.from(k, 'base64')) <= half[1];
  const expectedAll = planted.filter(sharedWithB).sort();
  const expectedHalf = expectedAll.filter(inHalf);
  t.ok(expectedAll.length > 5 && expectedAll.length < planted.length, `${expectedAll.length} of ${planted.length} planted keys are shared with ${b.name}`);
  t.ok(expectedHalf.length > 0 && expectedHalf.length < expectedAll.length, `${expectedHalf.length} of them in the first half of the ring`);

  const dryHalf = await sim.settle(a.built.antiEntropy.exchange(b.name, { dryRun: true, range: half }));
  t.same([...dryHalf.keys].sort(), expectedHalf, 'a dry run over half the ring finds exactly the keys of that half both replicas hold');
  t.equal(dryHalf.keysTransferred, 0, 'and moves nothing');
  t.not(a.built.trees.pairRoot(b.name), b.built.trees.pairRoot(a.name), 'the roots still differ');

  const repair = await sim.settle(a.built.antiEntropy.exchange(b.name));
  t.same([...repair.keys].sort(), expectedAll, 'a repair of the whole ring finds exactly the keys both replicas hold');
  t.equal(repair.keysTransferred, expectedAll.length, 'and moves them');
  t.ok(repair.rootsEqualAfter, 'its roots agree after it');
  t.equal(a.built.trees.pairRoot(b.name), b.built.trees.pairRoot(a.name), 'so do the pair roots');
  for (const k of expectedAll) {
    const record = await sim.settle(b.built.replica.read(Buffer.from(k, 'base64'), false));
    if (!record) t.fail(`${b.name} lacks ${k}`);
  }
  sim.stop();
});
