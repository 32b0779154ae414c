/**
 * Section 9: what TLS and client tokens cost a cluster. Two 3-node clusters (N=3 W=2 R=2) run side
 * by side: "plain", as `kvctl start --nodes 3` makes it (a cluster secret, no TLS, no tokens), and
 * "TLS+auth" (the same, plus TLS 1.3 on the listener and on peer links with mutual TLS, and client
 * tokens; the bench presents a `write` token). Both take the same load, alternating phase by phase
 * (plain, TLS+auth, then TLS+auth, plain the next round) so the shared machine's noise falls on
 * both, and each round's two phases give one paired ratio (the targets take their median): 1 KiB base64
 * text values, fresh keys for puts, then gets of the keys just written, checked byte for byte, 64
 * in flight over one connection per node and over four per node. The first puts and gets of the
 * fresh clusters are reported as the cold phase; the measured rounds follow. Also: what opening a
 * connection costs, plain against TLS and a token, before any load.
 */
import type { KvClient } from '../src/client/client.js';
import type { ClientOptions } from '../src/net/line-connection.js';
import { type BenchContext, VALUE_BYTES } from './bench-context.js';
import { medianRun } from './closed-loop.js';
import { type BenchCluster, startCluster, stopCluster } from './cluster.js';
import { base64TextValues, seededRng } from './json-documents.js';
import { ROW_HEADERS, row } from './kv-sections.js';
import { closeLanes, connectClient, IN_FLIGHT, KvWorkload, type Lanes, lastRound, openClusterLanes, type PhaseResult } from './kv-workload.js';
import { LatencyRecorder } from './latency-recorder.js';
import { type Cell, fmt } from './report.js';
import type { BenchDaemon } from './resources.js';
import { securedClusterMaterial } from './tls-material.js';

/** Connections opened per variant to time the set-up; the table shows the median and p90. */
const CONNECT_SAMPLES = 50;
const DISTINCT_VALUES = 1000;
const PHASES = ['put', 'get'] as const;
type Phase = (typeof PHASES)[number];

interface Setup {
  label: string;
  cluster: BenchCluster;
  workload: KvWorkload;
  /** Lane sets in LAYOUTS order. */
  lanes: Lanes[];
}

/** How the 64 requests in flight are spread: connections per node. */
const LAYOUTS = [
  { label: '1 per node', perNode: 1 },
  { label: '4 per node', perNode: 4 },
] as const;

/** Every measured run, in the order taken, by setup, phase and layout (resultKey). */
type Runs = Map<string, PhaseResult[]>;
const COLD = 'cold, 1 per node';
const ROW_LAYOUTS = [COLD, ...LAYOUTS.map((l) => l.label)];
const resultKey = (setup: Setup, phase: Phase, layout: string) => `${setup.label}|${phase}|${layout}`;

/** The secured/plain throughput ratio of each round (the two phases taken back to back), sorted. */
function pairedRatios(runs: Runs, plain: Setup, secured: Setup, phase: Phase, layout: string): number[] {
  const p = runs.get(resultKey(plain, phase, layout)) ?? [];
  const s = runs.get(resultKey(secured, phase, layout)) ?? [];
  return p.map((r, i) => (s[i] as PhaseResult).opsPerSec / r.opsPerSec).sort((a, b) => a - b);
}

export async function securitySection(ctx: BenchContext): Promise<void> {
  const { report, resources, config } = ctx;
  report.heading(
    `9. TLS and authentication: two 3-node clusters (N=3 W=2 R=2) in the same run, plain vs TLS 1.3 + mutual TLS between nodes + client token, ` +
      `${VALUE_BYTES} B base64 text, ${IN_FLIGHT} in flight`,
  );
  const material = securedClusterMaterial(resources.tempDir('security-material'));
  const values = base64TextValues(seededRng(9), DISTINCT_VALUES, VALUE_BYTES);
  const setups: Setup[] = [];
  try {
    for (const [label, options] of [
      ['plain', {}],
      ['TLS+auth', { flags: material.flags, client: material.client }],
    ] as const) {
      const cluster = await startCluster(ctx, `security-${label === 'plain' ? 'plain' : 'tls'}`, options);
      setups.push({ label, cluster, workload: new KvWorkload(values), lanes: [] });
    }
    const [plain, secured] = setups as [Setup, Setup];
    // Before any load, so the handshakes are timed on idle daemons.
    const connectRows = await connectionSetup(plain.cluster, secured.cluster);
    for (const setup of setups) {
      const { nodes, client } = setup.cluster;
      for (const layout of LAYOUTS) {
        const targets = Array.from({ length: layout.perNode }, () => nodes).flat();
        setup.lanes.push(await openClusterLanes(layout.label, targets, nodes, client));
      }
    }
    const runs = await measureAlternating(ctx, plain, secured);
    const median = (setup: Setup, phase: Phase, layout: string) => {
      const list = runs.get(resultKey(setup, phase, layout));
      return list ? medianRun(list) : undefined;
    };

    report.note(
      `${fmt(config.keys)} puts (fresh keys) and ${fmt(config.getOps)} gets per measured phase; each row is the median of ${config.rounds} round(s), ` +
        `the cold rows one phase of ${fmt(config.keys)} each (the first requests of a fresh cluster)`,
    );
    const rows: Cell[][] = [];
    for (const phase of PHASES) {
      for (const layout of ROW_LAYOUTS) {
        for (const setup of setups) {
          const r = median(setup, phase, layout);
          if (r) rows.push(row(phase, setup.label, { ...(setup.lanes[0] as Lanes), label: layout }, r));
        }
      }
    }
    report.table(ROW_HEADERS, rows);
    report.note(
      'daemon cpu is summed over the three daemons of the cluster measured; client cpu is this process (which also does TLS for its own connections)',
    );

    const ratioRows: Cell[][] = [];
    for (const phase of PHASES) {
      for (const layout of ROW_LAYOUTS) {
        const p = median(plain, phase, layout);
        const s = median(secured, phase, layout);
        if (!p || !s) continue;
        const paired = pairedRatios(runs, plain, secured, phase, layout);
        ratioRows.push([
          phase,
          layout,
          `${fmt(medianOf(paired), 2)}x`,
          `${fmt(paired[0] ?? Number.NaN, 2)}–${fmt(paired.at(-1) ?? Number.NaN, 2)}`,
          `${fmt(s.opsPerSec / p.opsPerSec, 2)}x`,
          `${fmt(s.p50Us / p.p50Us, 2)}x`,
          `${fmt(s.p99Us / p.p99Us, 2)}x`,
          signed(s.daemonCpuUsPerOp - p.daemonCpuUsPerOp),
          signed(s.clientCpuUsPerOp - p.clientCpuUsPerOp),
        ]);
      }
    }
    report.table(
      ['TLS+auth / plain', 'conns', 'ops/s, paired', 'rounds min–max', 'ops/s, of medians', 'p50', 'p99', 'daemon cpu µs/op added', 'client cpu µs/op added'],
      ratioRows,
    );
    report.note(
      '"paired": the median over rounds of each round\'s ratio (the two clusters measured back to back, which goes first swapped every round), ' +
        "less moved by the machine's other load than the ratio of the two medians; p50, p99 and cpu compare the median rounds",
    );
    report.table(['CPU over every phase', 'requests', 'daemons s', 'client s', 'daemons µs/request', 'client µs/request'], cpuRows(runs, [plain, secured]));
    report.note('each cluster served the same requests, so its total CPU is the steadiest comparison on a busy machine (throughput moves with what else runs)');
    for (const phase of PHASES) {
      report.target(`TLS+auth / plain, ${phase}`, medianOf(pairedRatios(runs, plain, secured, phase, LAYOUTS[0].label)), '≥', 0.7);
    }
    report.note('targets: 1 connection per node, paired ratio; both clusters run on 127.0.0.1 and share the same cores');

    report.table(['connection set-up (node1, idle)', 'connected, median ms', 'p90 ms', 'connected + first ping, median ms', 'p90 ms'], connectRows);
    report.note(
      `${CONNECT_SAMPLES} connections per variant, alternating variant by variant; each opened, pinged and closed in turn (a full TLS handshake every time: ` +
        'the client keeps no session tickets). A node opens its peer connections once and keeps them, so peer handshakes are not on the request path.',
    );
  } finally {
    await closeLanes(setups.flatMap((s) => s.lanes));
    for (const setup of setups) await stopCluster(ctx, setup.cluster);
  }
}

/** CPU spent over every measured phase (cold included), per setup: its daemons, and this process on its behalf. */
function cpuRows(runs: Runs, setups: readonly Setup[]): Cell[][] {
  const rows = setups.map((setup) => {
    const mine = [...runs].filter(([key]) => key.startsWith(`${setup.label}|`)).flatMap(([, list]) => list);
    const requests = mine.reduce((sum, r) => sum + r.ops, 0);
    const daemonUs = mine.reduce((sum, r) => sum + r.daemonCpuUsPerOp * r.ops, 0);
    const clientUs = mine.reduce((sum, r) => sum + r.clientCpuUsPerOp * r.ops, 0);
    return { label: setup.label, requests, daemonUs, clientUs };
  });
  const [base] = rows;
  const out: Cell[][] = rows.map((r) => [
    r.label,
    fmt(r.requests),
    fmt(r.daemonUs / 1e6, 1),
    fmt(r.clientUs / 1e6, 1),
    fmt(r.daemonUs / r.requests, 1),
    fmt(r.clientUs / r.requests, 1),
  ]);
  for (const r of rows.slice(1)) {
    if (!base) break;
    out.push([
      `${r.label} / ${base.label}`,
      '',
      `${fmt(r.daemonUs / base.daemonUs, 2)}x`,
      `${fmt(r.clientUs / base.clientUs, 2)}x`,
      signed((r.daemonUs - base.daemonUs) / r.requests),
      signed((r.clientUs - base.clientUs) / r.requests),
    ]);
  }
  return out;
}

/** The middle of a sorted list (the upper middle of an even count, as medianRun). */
function medianOf(sorted: readonly number[]): number {
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * The cold phase (the first puts, then gets, of each fresh cluster, plain first), then `rounds`
 * rounds of each layout: plain and TLS+auth take turns phase by phase, and which goes first is
 * swapped every round so a drift in the machine's other load does not always fall on the same one.
 */
async function measureAlternating(ctx: BenchContext, plain: Setup, secured: Setup): Promise<Runs> {
  const { keys, getOps, warmOps, rounds } = ctx.config;
  const runs: Runs = new Map();
  const record = (setup: Setup, phase: Phase, layout: string, r: PhaseResult) => {
    const key = resultKey(setup, phase, layout);
    runs.set(key, [...(runs.get(key) ?? []), r]);
  };
  const both = [plain, secured];
  for (const setup of both) record(setup, 'put', COLD, await setup.workload.put(setup.lanes[0] as Lanes, 'cold', keys, 0, 1));
  for (const [i, setup] of both.entries()) {
    // Each cold key read once, in a shuffled order.
    record(setup, 'get', COLD, await setup.workload.get(setup.lanes[0] as Lanes, lastRound('cold', 1), keys, keys, 0, 1, seededRng(90 + i)));
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? both : [secured, plain];
    for (const [l, layout] of LAYOUTS.entries()) {
      // Warm-up requests before the first round of each layout only: later rounds follow load anyway.
      const warm = round === 0 ? warmOps : 0;
      const prefix = `l${l}r${round}`;
      for (const setup of order) record(setup, 'put', layout.label, await setup.workload.put(setup.lanes[l] as Lanes, prefix, keys, warm, 1));
      for (const setup of order) {
        const rng = seededRng(900 + 100 * l + 10 * round + both.indexOf(setup));
        record(setup, 'get', layout.label, await setup.workload.get(setup.lanes[l] as Lanes, lastRound(prefix, 1), keys, getOps, warm, 1, rng));
      }
    }
  }
  return runs;
}

/** A difference with its sign, one decimal. */
function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${fmt(n, 1)}`;
}

interface ConnectVariant {
  label: string;
  node: BenchDaemon;
  options: ClientOptions;
}

/** Times opening a connection (and its first reply) to node1 of each cluster: plain TCP, TLS only, TLS and a token. */
async function connectionSetup(plain: BenchCluster, secured: BenchCluster): Promise<Cell[][]> {
  const securedNode = secured.nodes[0] as BenchDaemon;
  const { token, ...tlsOnly } = secured.client;
  const variants: ConnectVariant[] = [
    { label: 'plain TCP', node: plain.nodes[0] as BenchDaemon, options: plain.client },
    { label: 'TLS 1.3 handshake, no token', node: securedNode, options: tlsOnly },
    { label: 'TLS 1.3 handshake + auth (token)', node: securedNode, options: secured.client },
  ];
  const timings = variants.map(() => ({ connected: new LatencyRecorder(CONNECT_SAMPLES), firstReply: new LatencyRecorder(CONNECT_SAMPLES) }));
  for (let s = 0; s < CONNECT_SAMPLES; s++) {
    for (const [v, variant] of variants.entries()) {
      const timing = timings[v] as (typeof timings)[number];
      const started = process.hrtime.bigint();
      const client: KvClient = await connectClient(variant.node.addr, variant.options);
      timing.connected.recordSince(started);
      await client.ping();
      timing.firstReply.recordSince(started);
      await client.close();
    }
  }
  const ms = (us: number | undefined) => fmt((us ?? Number.NaN) / 1000, 2);
  return variants.map((variant, v) => {
    const timing = timings[v] as (typeof timings)[number];
    const [connected50, connected90] = timing.connected.percentilesUs(50, 90);
    const [reply50, reply90] = timing.firstReply.percentilesUs(50, 90);
    return [variant.label, ms(connected50), ms(connected90), ms(reply50), ms(reply90)];
  });
}
