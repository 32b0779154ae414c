/**
 * Section 8: overwrites without contexts, as people write (`put k v` again and again), next to
 * inserts of the same run. A fresh daemon (4 connections, 16 in flight each) and a fresh 3-node
 * cluster (N=3 W=2 R=2, one connection per node) each take: 10,000 inserts (cold: the first
 * writes of a fresh store), then ten passes that overwrite those 10,000 keys with plain puts, then
 * 10,000 more inserts (warm, the baseline of the ratio). 1 KiB values of base64 text (brotli
 * saves about a quarter). Prints ops/s and p50/p99 per phase, overwrite/insert ratios, daemon RSS
 * and disk bytes per key afterwards, and how many keys were left holding siblings (a plain
 * overwrite supersedes what a read at R sees, so none should).
 */
import type { KvClient } from '../src/client/client.js';
import type { BenchContext } from './bench-context.js';
import { type LoopResult, runClosedLoop } from './closed-loop.js';
import { startCluster, stopCluster } from './cluster.js';
import { base64TextValues, seededRng } from './json-documents.js';
import { closeLanes, IN_FLIGHT, keyOf, type Lanes, openClusterLanes, openLanes } from './kv-workload.js';
import { type Cell, fmt, mib } from './report.js';

const KEYS = 10_000;
const PASSES = 10;
const VALUE_TEXT_BYTES = 1024;

interface SetupFigures {
  label: string;
  coldInsert: LoopResult;
  passes: LoopResult[];
  warmInsert: LoopResult;
  rssBytes: number[];
  diskBytes: number;
  keysHeld: number;
  withSiblings: number;
}

async function runSetup(label: string, lanes: Lanes, values: string[]): Promise<Omit<SetupFigures, 'rssBytes' | 'diskBytes' | 'keysHeld'>> {
  const { clients } = lanes;
  const put = (prefix: string, pass: number) => async (i: number, worker: number) => {
    await (clients[worker % clients.length] as KvClient).put(keyOf(prefix, i), values[(i + pass) % values.length] as string);
  };
  const coldInsert = await runClosedLoop(KEYS, IN_FLIGHT, put('ow', 0));
  const passes: LoopResult[] = [];
  for (let p = 1; p <= PASSES; p++) passes.push(await runClosedLoop(KEYS, IN_FLIGHT, put('ow', p)));
  const warmInsert = await runClosedLoop(KEYS, IN_FLIGHT, put('ins', 0));
  // Every overwritten key should hold one value: the last pass's.
  let withSiblings = 0;
  await runClosedLoop(KEYS, IN_FLIGHT, async (i, worker) => {
    const got = await (clients[worker % clients.length] as KvClient).get(keyOf('ow', i));
    if (got.values.length !== 1) withSiblings++;
  });
  return { label, coldInsert, passes, warmInsert, withSiblings };
}

async function daemonFigures(statsClients: KvClient[]): Promise<{ rssBytes: number[]; diskBytes: number; keysHeld: number }> {
  const stats = await Promise.all(statsClients.map((c) => c.stats()));
  return {
    rssBytes: stats.map((s) => (s.memory as { rssBytes: number }).rssBytes),
    diskBytes: stats.reduce((sum, s) => sum + (s.store as { diskBytes: number }).diskBytes, 0),
    keysHeld: stats.reduce((sum, s) => sum + Number(s.keys), 0),
  };
}

export async function overwriteSection(ctx: BenchContext): Promise<void> {
  const { report, resources, config } = ctx;
  report.heading(
    `8. Overwrites without contexts: ${fmt(KEYS)} keys overwritten ${PASSES} times with plain puts, next to inserts (1 KiB base64 text, ${IN_FLIGHT} in flight, no warm-up)`,
  );
  // A tenth as many distinct values as keys, cycled.
  const values = base64TextValues(seededRng(8), KEYS / 10, VALUE_TEXT_BYTES);
  const figures: SetupFigures[] = [];

  const single = await resources.startDaemon(resources.tempDir('overwrite-single'), [], config.daemonEnv);
  const singleLanes = await openLanes(single.addr, single.pid, 4);
  try {
    const run = await runSetup('single node, 4 connections', singleLanes, values);
    figures.push({ ...run, ...(await daemonFigures(singleLanes.statsClients)) });
  } finally {
    await closeLanes([singleLanes]);
    await resources.stopDaemons([single]);
  }

  const cluster = await startCluster(ctx, 'overwrite-cluster');
  const clusterLanes = await openClusterLanes('1 per node', cluster.nodes, cluster.nodes);
  try {
    const run = await runSetup('3 nodes N=3 W=2 R=2, 1 connection per node', clusterLanes, values);
    figures.push({ ...run, ...(await daemonFigures(clusterLanes.statsClients)) });
  } finally {
    await closeLanes([clusterLanes]);
    await stopCluster(ctx, cluster);
  }

  const rows: Cell[][] = [];
  for (const f of figures) {
    const line = (phase: string, r: LoopResult): Cell[] => [
      f.label,
      phase,
      fmt(r.opsPerSec),
      fmt(r.p50Us),
      fmt(r.p99Us),
      `${fmt(r.opsPerSec / f.warmInsert.opsPerSec, 2)}x`,
    ];
    rows.push(line('insert, cold (fresh store)', f.coldInsert));
    f.passes.forEach((r, p) => {
      rows.push(line(`overwrite pass ${p + 1}`, r));
    });
    rows.push(line('insert, warm (after the passes)', f.warmInsert));
  }
  report.table(['setup', 'phase', 'ops/s', 'p50 µs', 'p99 µs', 'vs warm insert'], rows);
  report.table(
    ['setup', 'daemon RSS after', 'disk bytes / key held', 'keys held (all replicas)', 'keys left with siblings'],
    figures.map((f) => [f.label, f.rssBytes.map((b) => mib(b)).join(' / '), fmt(f.diskBytes / Math.max(1, f.keysHeld)), fmt(f.keysHeld), fmt(f.withSiblings)]),
  );
  for (const [f, target] of [
    [figures[0], 0.8],
    [figures[1], 0.6],
  ] as const) {
    if (!f) continue;
    const overwrite = f.passes.reduce((sum, r) => sum + r.ops, 0) / (f.passes.reduce((sum, r) => sum + r.elapsedMs, 0) / 1000);
    report.target(`overwrite / insert, ${f.label} (all ${PASSES} passes vs warm insert)`, overwrite / f.warmInsert.opsPerSec, '≥', target);
  }
  report.note("disk bytes are LevelDB's own estimate (approximateSize), summed over the daemons, before any compaction the passes did not trigger");
}
