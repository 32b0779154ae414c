/**
 * Power losses (seeded simulation of three real KvNodes, N=3 W=2 R=2): what an acknowledged write
 * survives with and without fsync (the guarantees are stated in src/sim/sim-store.ts).
 */
import t from 'tap';
import { AckLedger, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 3;
const settings = { n: 3, w: 2, r: 2, consistency: 'strict' as const };

function cluster(sync: boolean) {
  const ledger = new AckLedger();
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings, sync, checkEveryStep: true, ledger });
  /** A put through `node`, noted in the ledger; resolves to whether it was acknowledged. */
  const put = async (node: SimNode, key: string, value: string, keepSiblings = false): Promise<boolean> => {
    const write = ledger.issue(key, value, keepSiblings ? [] : 'plain', sim.clock.now());
    const acked = await sim.request(node, { op: 'put', key, value, ...(keepSiblings ? { keepSiblings } : {}) }).then(
      () => true,
      () => false,
    );
    ledger.settle(write, acked, sim.clock.now());
    return acked;
  };
  /** The values a strict read at R (through `node`) returns. */
  const read = async (node: SimNode, key: string, r = 2): Promise<string[]> => {
    const got = await sim.settle(sim.request(node, { op: 'get', key, r }));
    return (got.values as string[] | undefined) ?? [];
  };
  return { sim, ledger, put, read };
}

t.test(`with fsync, a power loss of any one node at any moment loses no acknowledged write (seed ${SEED})`, async (t) => {
  const { sim, ledger, put, read } = cluster(true);
  await sim.start();
  await sim.run(3000, 20);
  const { random } = sim;
  let lostBatches = 0;
  for (let round = 0; round < 40; round++) {
    const writes: Promise<boolean>[] = [];
    for (let i = 0; i < 8; i++) {
      const node = sim.nodes[random.int(3)] as SimNode;
      const live = sim.isDown(node) ? (sim.nodes.find((n) => !sim.isDown(n)) as SimNode) : node;
      writes.push(random.next() < 0.5 ? put(live, `p${random.int(20)}`, `p-r${round}-${i}`) : put(live, `k${random.int(20)}`, `k-r${round}-${i}`, true));
    }
    // Some moment while the writes are under way: before, during or after their fsyncs.
    await sim.run(random.int(25) + 1, 1);
    const victim = sim.nodes[random.int(3)] as SimNode;
    lostBatches += sim.powerLoss(victim, { partial: random.next() < 0.5 }).batches;
    await sim.settle(Promise.all(writes));
    await sim.run(200 + random.int(800), 10);
    await sim.restart(victim);
    await sim.run(500, 10);
    if (sim.violations.length > 0) break;
  }
  t.ok(lostBatches > 0, `power losses came while writes were being fsynced (${lostBatches} unacknowledged writes lost)`);
  t.ok(ledger.ackedCount > 100, `${ledger.ackedCount} writes acknowledged, ${ledger.failedCount} not`);
  t.same(sim.violations, [], 'every acknowledged value stayed on disk, every step');
  await sim.run(3000, 20);
  for (const a of sim.nodes) for (const b of sim.nodes) if (a.name < b.name) await sim.settle(a.built.antiEntropy.exchange(b.name));
  const missing: string[] = [];
  for (const key of ledger.keys()) {
    const lost = ledger.lost(key, new Set(await read(sim.nodes[0] as SimNode, key, 3)));
    missing.push(...lost.map((w) => w.value));
  }
  t.same(missing, [], 'after repair, a read at R=3 returns every acknowledged value not replaced');
  sim.stop();
});

t.test(`without fsync, a power loss loses one node's recent writes; the other replicas still hold them (seed ${SEED})`, async (t) => {
  const { sim, ledger, put, read } = cluster(false);
  await sim.start();
  await sim.run(3000, 20);
  const [node1, node2] = sim.nodes as [SimNode, SimNode, SimNode];
  t.ok(await sim.settle(put(node1, 'old', 'written back')), 'an early write is acknowledged');
  await sim.run(node2.disk.writebackMs + 1000, 100); // the OS writes it back
  for (let i = 0; i < 40; i++) t.ok(await sim.settle(put(sim.nodes[i % 3] as SimNode, `key${i}`, `value${i}`)), `key${i} acknowledged`);
  await sim.run(100, 10); // every replica has taken every write

  const report = sim.powerLoss(node2);
  const lostData = report.keys.filter((k) => k.startsWith('d'));
  t.ok(lostData.length >= 40, `node2 lost its copy of the ${lostData.length} keys written since the write-back`);
  t.equal(node2.disk.peek('dkey0'), undefined, 'key0 is gone from its disk');
  t.ok(node2.disk.peek('dold'), 'the write older than the write-back time is still there');
  t.same(sim.violations, [], 'every acknowledged value is still on another disk');
  for (let i = 0; i < 40; i++) t.same(await read(node1, `key${i}`), [`value${i}`], `with node2 down, a read at R=2 still sees key${i}`);

  await sim.restart(node2);
  await sim.run(2000, 20);
  for (const peer of ['node1', 'node3']) await sim.settle(node2.built.antiEntropy.exchange(peer));
  t.equal(node2.built.replica.keys, 41, 'anti-entropy gives node2 its copies back');
  const missing: string[] = [];
  for (const key of ledger.keys()) missing.push(...ledger.lost(key, new Set(await read(node2, key, 3))).map((w) => w.value));
  t.same(missing, [], 'and a read at R=3 sees every acknowledged value');
  t.same(sim.violations, []);
  sim.stop();
});

t.test(`without fsync, a node that lost a key's latest write to a power loss never mints its dot again (seed ${SEED})`, async (t) => {
  // A key's counter for this node lives in the record the power loss took; the counter lease
  // (src/replica/counter-lease.ts) keeps the next dot above it anyway.
  const { sim, ledger, put, read } = cluster(false);
  await sim.start();
  await sim.run(3000, 20);
  const [node1, node2] = sim.nodes as [SimNode, SimNode, SimNode];
  await sim.run(node2.disk.writebackMs + 1000, 100); // identity and membership written back, as on a node up for a while
  t.ok(await sim.settle(put(node2, 'cart', 'first', true)), 'a write coordinated by node2 is acknowledged');
  await sim.run(100, 10);
  const report = sim.powerLoss(node2);
  t.ok(report.keys.includes('dcart'), "the power loss took node2's copy of the key");
  await sim.restart(node2);
  await sim.run(100, 10);
  t.ok(await sim.settle(put(node2, 'cart', 'second', true)), 'after the restart, a second write through node2 is acknowledged');
  t.same(
    sim.violations.filter((v) => v.invariant === 'dot-unique'),
    [],
    'no dot minted twice',
  );
  sim.crash(node2);
  t.same((await read(node1, 'cart')).sort(), ['first', 'second'], 'with node2 down, a read at R=2 sees both acknowledged writes (siblings)');
  t.same(ledger.lost('cart', new Set(['first', 'second'])), []);
  t.same(sim.violations, []);
  sim.stop();
});
