/**
 * Section 6: a 3-node cluster on loopback (N=3 W=2 R=2, the `--nodes 3` defaults) under section 1's
 * load (the same 1 KiB random values, fresh keys per put round, gets checked byte for byte, 64 in
 * flight from this process): spread over one connection per node, and all sent to node1. Printed
 * next to the single-node figures of the same run, with ratios, and etcd's figures measured separately
 * for scale (not measured here).
 */
import type { BenchContext } from './bench-context.js';
import type { Median } from './closed-loop.js';
import { startCluster, stopCluster } from './cluster.js';
import { seededRng } from './json-documents.js';
import { type DaemonUnderTest, ROW_HEADERS, row } from './kv-sections.js';
import { closeLanes, KvWorkload, type Lanes, lastRound, openClusterLanes, type PhaseResult } from './kv-workload.js';
import { type Cell, fmt } from './report.js';
import type { BenchDaemon } from './resources.js';

/** etcd 3.4 (Debian's etcd-server), three members on loopback, 64 in flight, 1 KiB: measured separately on the same kind of machine. */
const ETCD = { put: 5_600, get: 10_500 };

interface Measured {
  lanes: Lanes;
  put: Median<PhaseResult>;
  get: Median<PhaseResult>;
}

export async function clusterSection(ctx: BenchContext, values: readonly Buffer[], single: DaemonUnderTest): Promise<void> {
  const { report, config } = ctx;
  report.heading('6. Cluster: 3 nodes on 127.0.0.1 (N=3 W=2 R=2), 1 KiB random values, 64 in flight from this process');
  const cluster = await startCluster(ctx, 'cluster');
  const lanes: Lanes[] = [];
  const measured: Measured[] = [];
  try {
    const node1 = cluster.nodes[0] as BenchDaemon;
    lanes.push(await openClusterLanes('1 per node', cluster.nodes, cluster.nodes));
    lanes.push(await openClusterLanes('node1 1x64', [node1], cluster.nodes));
    const workload = new KvWorkload(values);
    const { keys, getOps, warmOps, freshWarmOps, rounds } = config;
    // Each layout reads what it just wrote, so its gets find the latest round in the caches (as in section 1).
    for (const [l, lane] of lanes.entries()) {
      const put = await workload.put(lane, `c${l}`, keys, l === 0 ? freshWarmOps : warmOps, rounds);
      const get = await workload.get(lane, lastRound(`c${l}`, rounds), keys, getOps, warmOps, rounds, seededRng(61 + l));
      measured.push({ lanes: lane, put, get });
    }
  } finally {
    await closeLanes(lanes);
    await stopCluster(ctx, cluster);
  }

  report.table(ROW_HEADERS, [...measured.map((m) => row('put', '3-node', m.lanes, m.put)), ...measured.map((m) => row('get', '3-node', m.lanes, m.get))]);
  report.note('"1 per node": one connection to each node, the 64 requests spread evenly (22/21/21); "node1 1x64": every request to node1, which coordinates');
  report.note('daemon cpu and counters are summed over the three daemons (each put is stored by all three replicas; a get reads all three, answers at two)');

  // Next to the single-node daemon of section 1 (cache on, the default, as in the cluster).
  const bestSingle = (phase: 'puts' | 'gets') => Math.max(...single[phase].map((r) => r.opsPerSec));
  const lines: Cell[][] = [];
  for (const phase of ['put', 'get'] as const) {
    const base = bestSingle(`${phase}s`);
    const line = (setup: string, r: Median<PhaseResult>): Cell[] => [
      phase,
      setup,
      fmt(r.opsPerSec),
      fmt(r.p50Us),
      fmt(r.p99Us),
      `${fmt(r.opsPerSec / base, 2)}x`,
    ];
    single[`${phase}s`].forEach((r, l) => {
      lines.push(line(`single node (section 1, cache-on), ${single.lanes[l]?.label}`, r));
    });
    for (const m of measured) lines.push(line(`3-node cluster, ${m.lanes.label}`, m[phase]));
  }
  report.table(['phase', 'setup', 'ops/s', 'p50 µs', 'p99 µs', 'vs best single node'], lines);
  const spread = measured[0] as Measured;
  report.target('cluster put / single-node put (1 per node vs best single layout)', spread.put.opsPerSec / bestSingle('puts'), '≥', 0.3);
  report.target('cluster get / single-node get (1 per node vs best single layout)', spread.get.opsPerSec / bestSingle('gets'), '≥', 0.4);
  const prof = config.daemonEnv.BENCH_CPU_PROF;
  if (prof) report.note(`CPU profiles of the cluster daemons: ${cluster.nodes.map((n) => `${n.name} ${prof}/daemon-${n.pid}.cpuprofile`).join(', ')}`);
  report.note(
    `for scale: etcd 3.4, three members on this kind of machine: put ${fmt(ETCD.put)}/s, linearizable get ${fmt(ETCD.get)}/s — measured separately, not in this run`,
  );
  report.note(
    `kvctl cluster ("1 per node") / etcd: put ${fmt(spread.put.opsPerSec / ETCD.put, 2)}x, get ${fmt(spread.get.opsPerSec / ETCD.get, 2)}x ` +
      '(not like for like: a kvctl R=2 get is not linearizable, and kvctl acknowledges writes from the page cache where etcd by default fsyncs its log)',
  );
}
