/**
 * Background anti-entropy under a steady stream of writes (seeded simulation): replicas' trees
 * always differ in leaves whose writes are still on their way, so an exchange that lists every
 * leaf differing at one moment reads records for nothing. A settled exchange compares the
 * differing leaves again after pauses and lists only those that kept differing: far fewer leaves,
 * and a real difference (a key only one replica holds) is still found and repaired.
 */
import t from 'tap';
import { BACKGROUND_SETTLE_MS } from '../../src/antientropy/anti-entropy.js';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 5;
const IN_FLIGHT = 48;

t.test(`settled background exchanges list only leaves that keep differing under writes (seed ${SEED})`, async (t) => {
  // W=1 and 5-20 ms links: a put is answered by its coordinator while its replicas are still behind.
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings: { n: 3, w: 1, r: 1, consistency: 'strict' }, latencyMs: [5, 20] });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  const [a, b] = sim.nodes as [SimNode, SimNode, SimNode];

  let running = true;
  let written = 0;
  const writer = async (w: number) => {
    while (running) {
      const node = sim.nodes[(w + written) % sim.nodes.length] as SimNode;
      await sim.request(node, { op: 'put', key: `load:${w}:${written++}`, value: 'v' }).catch(() => undefined);
      // A W=1 put can be answered without virtual time passing: pace each writer (~24k puts/s in all).
      await new Promise((resolve) => sim.clock.setTimer(2, () => resolve(undefined)));
    }
  };
  const writers = Array.from({ length: IN_FLIGHT }, (_, w) => writer(w));
  await runFor(sim.clock, 1000, 5);

  // A real difference: a key only node1 holds (written to its replica alone, as if the others lost it).
  const planted = Buffer.from('planted');
  await sim.settle(a.built.replica.write(planted, Buffer.from('only here'), undefined));
  const plantedB64 = planted.toString('base64');

  const listed = () => a.built.antiEntropy.counters.leavesListed;
  const before = listed();
  const unsettled = await sim.settle(a.built.antiEntropy.exchange(b.name, { dryRun: true }));
  const unsettledLeaves = listed() - before;
  const settled = await sim.settle(a.built.antiEntropy.exchange(b.name, { dryRun: true, settleMs: BACKGROUND_SETTLE_MS }));
  const settledLeaves = listed() - before - unsettledLeaves;
  t.comment(`${written} puts so far; leaves listed: ${unsettledLeaves} at once, ${settledLeaves} settled`);
  t.ok(unsettledLeaves >= 10, `writes in flight make many leaves differ at one moment (${unsettledLeaves})`);
  t.ok(settledLeaves * 5 <= unsettledLeaves, `a settled exchange lists far fewer (${settledLeaves} vs ${unsettledLeaves})`);
  t.ok(unsettled.keys.includes(plantedB64), 'the real difference is found at once');
  t.ok(settled.keys.includes(plantedB64), 'and after settling');

  // Settled, not dry: the key reaches the peer while the writes go on.
  await sim.settle(a.built.antiEntropy.exchange(b.name, { settleMs: BACKGROUND_SETTLE_MS }));
  const atPeer = await sim.settle(b.built.replica.read(planted, false));
  t.equal(atPeer?.siblings.length, 1, 'the peer now holds the planted key');

  running = false;
  await sim.settle(Promise.all(writers));
  sim.stop();
});
