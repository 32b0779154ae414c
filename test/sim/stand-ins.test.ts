/**
 * A replica cut off for less time than gossip needs to call it down (seeded simulation, virtual
 * time): sloppy reads and writes that need it keep succeeding (it counts as failed at its replica
 * deadline, a fallback stands in within the same request, and later requests plan around it at
 * once); strict ones that need it fail, saying which replica did not answer. Gossip never calls
 * the node down for it.
 */
import t from 'tap';
import type { Consistency } from '../../src/config.js';
import type { KvError } from '../../src/errors.js';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 11;
const REQUEST_TIMEOUT_MS = 500;
const CUT_MS = 2500; // under the 3 s after which gossip calls a silent node down

interface Tally {
  ok: number;
  failed: KvError[];
  fallbacks: number;
}

/** Puts at W=3 and gets at R=3 through the three connected nodes, one of each every 20 ms, while d is cut off. */
async function cutAndLoad(consistency: Consistency): Promise<{ sim: SimCluster; tally: Tally; d: SimNode; sawDown: boolean }> {
  const sim = new SimCluster({ seed: SEED, nodes: 4, settings: { n: 3, w: 2, r: 2, consistency }, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  const [a, b, c, d] = sim.nodes as [SimNode, SimNode, SimNode, SimNode];
  for (let i = 0; i < 30; i++) await sim.settle(sim.request(a, { op: 'put', key: `k${i}`, value: `v${i}` }));
  const tally: Tally = { ok: 0, failed: [], fallbacks: 0 };
  const count = (reply: Promise<Record<string, unknown>>) =>
    reply.then(
      (r) => {
        tally.ok++;
        if (Array.isArray(r.fallbacks) || Array.isArray(r.hinted)) tally.fallbacks++;
      },
      (err: unknown) => {
        tally.failed.push(err as KvError);
      },
    );
  sim.partition([d], [a, b, c]);
  const until = sim.clock.now() + CUT_MS;
  const all: Promise<void>[] = [];
  let sawDown = false;
  for (let i = 0; sim.clock.now() < until; i++) {
    const via = [a, b, c][i % 3] as SimNode;
    all.push(count(sim.request(via, { op: 'put', key: `k${i % 30}`, value: `w${i}`, w: 3 })));
    all.push(count(sim.request(via, { op: 'get', key: `k${(i * 7) % 30}`, r: 3 })));
    await runFor(sim.clock, 20, 5);
    if (!a.built.state.table.isUp(d.name, sim.clock.now())) sawDown = true;
  }
  sim.heal();
  await sim.settle(Promise.all(all));
  return { sim, tally, d, sawDown };
}

t.test(`sloppy: requests that need a cut replica succeed through stand-ins before gossip calls it down (seed ${SEED})`, async (t) => {
  const { sim, tally, d, sawDown } = await cutAndLoad('sloppy');
  t.notOk(sawDown, 'gossip never called the cut node down');
  t.same(
    tally.failed.map((e) => `${e.code} ${e.message}`),
    [],
    'no request failed',
  );
  t.ok(tally.ok > 200, `${tally.ok} requests answered`);
  t.ok(tally.fallbacks > 0, `${tally.fallbacks} of them through fallbacks`);
  let standIns = 0;
  for (const n of sim.nodes.filter((n) => n !== d)) {
    const stats = await sim.settle(sim.request(n, { op: 'stats' }));
    standIns += (stats.ops as { standIns: number }).standIns;
  }
  t.ok(standIns > 0, `${standIns} stand-ins asked within a request`);
  sim.stop();
});

t.test(`strict: requests that need a cut replica fail, naming it; the others succeed (seed ${SEED})`, async (t) => {
  const { sim, tally, d } = await cutAndLoad('strict');
  t.ok(tally.failed.length > 0, `${tally.failed.length} requests failed`);
  t.ok(tally.ok > 0, `${tally.ok} requests that did not need ${d.name} succeeded`);
  t.same([...new Set(tally.failed.map((e) => e.code))], ['KV_QUORUM_NOT_MET'], 'each a quorum error');
  t.same(
    tally.failed.filter((e) => !e.message.includes(`${d.name}: `)).map((e) => e.message),
    [],
    'each naming the replica that did not answer',
  );
  sim.stop();
});
