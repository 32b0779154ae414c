/**
 * The scale run (src/sim/scale-run.ts) at CI size: 200 real nodes booted at once on a network
 * losing 10 % of messages converge, never see a live node down, detect every crash in every live
 * view, lose no acknowledged write, send a bounded number of bytes a node in the steady state, and
 * replay exactly from their seed. `npm run sim -- --nodes 1000` runs the large size.
 * SIM_SCALE_NODES=<n> and SIM_SEED=<n> override size and seed for one run.
 */
import t from 'tap';
import { scaleRun } from '../../src/sim/index.js';

const NODES = process.env.SIM_SCALE_NODES ? Number(process.env.SIM_SCALE_NODES) : 200;
/** What a node may send a second once the boot's news has gone out (probes, full syncs, the crashes' news): it does not grow with the cluster. */
const STEADY_BYTES_BOUND = 16 * 1024;
const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 1;
/** The replay pair runs smaller: it tests determinism, which does not depend on size. */
const REPLAY_NODES = 12;

t.test(`${NODES} nodes, 10 % loss, 3 crashes (seed ${SEED})`, async (t) => {
  const crashes = 3;
  const o = await scaleRun({ nodes: NODES, seconds: 25, lossRate: 0.1, seed: SEED, crashes, opsPerSecond: 40, keys: 300 });
  t.comment(
    `converged in ${o.convergenceRounds} rounds; ${Math.round(o.bytesPerNodePerSec / 1000)} KB/node/s (steady ${Math.round((o.steadyBytesPerNodePerSec ?? 0) / 1000)}); rejoin ${o.rejoinRounds} rounds; detection p50 ${o.detectionMs.p50} p99 ${o.detectionMs.p99} max ${o.detectionMs.max} ms; ${o.acked} acked; wall ${o.wallSeconds} s, CPU ${o.cpuSeconds} s`,
  );
  t.not(o.convergenceRounds, null, 'every node came to see every member alive');
  t.ok((o.convergenceRounds ?? Number.POSITIVE_INFINITY) <= 4 * Math.log2(NODES), `within O(log n) gossip rounds (${o.convergenceRounds})`);
  t.equal(o.falseDown, 0, 'no live node was seen down');
  t.equal(o.crashed.length, crashes, 'the crashes happened');
  t.equal(o.undetected, 0, 'every live node saw every crashed node down');
  t.ok(o.detectionMs.count >= crashes * (NODES - crashes), 'a detection per crash and live observer (and by a node crashed later, of an earlier crash)');
  t.ok(o.detectionMs.max <= 10_000, `within seconds (max ${o.detectionMs.max} ms)`);
  t.ok(o.acked > o.ops / 2, `the client got most writes acknowledged (${o.acked} of ${o.ops} ops)`);
  t.equal(o.unreadable, 0, 'every key read back at R');
  t.equal(o.lost, 0, 'no acknowledged write was lost');
  t.ok(o.gossipBytesPerNodePerSec > 0 && o.otherBytesPerNodePerSec > 0, 'frame bytes counted, gossip and the rest');
  t.not(o.steadyBytesPerNodePerSec, null, "the boot's news settled");
  t.ok((o.steadyBytesPerNodePerSec ?? Number.POSITIVE_INFINITY) < STEADY_BYTES_BOUND, `steady state: ${o.steadyBytesPerNodePerSec} bytes a node a second`);
  t.not(o.rejoinRounds, null, 'the restarted nodes were seen alive by all');
});

t.test(`the scale run replays exactly from its seed, values compressed (${REPLAY_NODES} nodes)`, async (t) => {
  const options = { nodes: REPLAY_NODES, seconds: 12, lossRate: 0.1, crashes: 2, opsPerSecond: 40, keys: 100, valueBytes: 600, trace: 'full' as const };
  const first = await scaleRun({ ...options, seed: SEED });
  const again = await scaleRun({ ...options, seed: SEED });
  const other = await scaleRun({ ...options, seed: SEED + 1 });
  t.equal(again.traceHash, first.traceHash, 'the same seed gives the same trace');
  const measured = (o: typeof first) => ({ ...o, wallSeconds: 0, cpuSeconds: 0, cpuSecondsPer1000Ops: 0, harnessCpuSeconds: 0 });
  t.same(measured(again), measured(first), 'and the same figures');
  t.not(other.traceHash, first.traceHash, 'another seed gives another trace');
  t.equal(first.lost, 0, 'no acknowledged write was lost');
});
