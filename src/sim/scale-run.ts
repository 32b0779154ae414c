/**
 * The scale run: a whole cluster of real KvNodes (N=3 W=2 R=2) booted at once on a lossy simulated
 * network, joining through the seeds, with a client workload throughout and a few nodes crashed at
 * known times. It measures what membership costs as the cluster grows:
 * - convergence: virtual time (and gossip rounds) until every node's table holds every member alive;
 * - frame bytes every node sends per virtual second (gossip and the rest);
 * - detection: for each crashed node and each live observer, the time from the crash until the
 *   observer sees it `down` (p50 / p99 / max);
 * - false downs: transitions of a live, never-crashed node to `down` in some node's view (sampled
 *   every `scanMs`, so an episode shorter than that may go unseen);
 * - acknowledged writes, and those an R read no longer returns at the end (`lost`);
 * - a trace hash (the same on every replay of the seed), wall-clock and CPU seconds.
 * The CLI entry is bench/sim-scale.ts (`npm run sim -- --nodes 1000 --seconds 60 --loss 0.1 --seed 1`).
 */
import { type ClusterSettings, defaultMembershipSettings } from '../config.js';
import type { KvError } from '../errors.js';
import { AckLedger } from './ack-ledger.js';
import { SimCluster, type SimNode } from './sim-cluster.js';

export interface ScaleOptions {
  nodes: number;
  /** Virtual seconds of the run, from the cold start; default 60. */
  seconds?: number;
  /** Probability that one message is lost; default 0.1. */
  lossRate?: number;
  seed: number;
  /** Client operations per virtual second, over the whole cluster; default 50. */
  opsPerSecond?: number;
  /** Keys the client spreads its writes over; default 500. */
  keys?: number;
  /** Values padded to this many bytes (512 or more are compressed); default unpadded. */
  valueBytes?: number;
  /** Nodes crashed (kill -9, never restarted), spread over the middle of the run; default 3. */
  crashes?: number;
  /** Seed nodes every node joins through; default 3. */
  seeds?: number;
  /** How often every view of every live node is scanned for false downs, virtual ms; default 500. */
  scanMs?: number;
  /** Hash whole messages ('full') or only their headers (default 'headers', see SimCluster). */
  trace?: 'full' | 'headers';
  /**
   * Start every node knowing every other (a cluster that has converged) rather than joining at
   * once through the seeds: for large clusters, whose cold start costs minutes of CPU to simulate.
   * Convergence is then 0; `rejoinRounds` still measures how fast news spreads.
   */
  joined?: boolean;
  /** Told of progress now and then (virtual seconds done), for a long run's console. */
  onProgress?: (line: string) => void;
}

export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ScaleOutcome {
  nodes: number;
  seed: number;
  lossRate: number;
  virtualSeconds: number;
  /** Virtual ms from the cold start until every node's table held every member alive (null: never). */
  convergenceMs: number | null;
  /** convergenceMs in gossip rounds. */
  convergenceRounds: number | null;
  /** Gossip rounds from the restart of the crashed nodes (without loss) until every live node sees them alive (null: not within the read-back wait). */
  rejoinRounds: number | null;
  /** Frame bytes sent per node per virtual second, over the whole run. */
  bytesPerNodePerSec: number;
  gossipBytesPerNodePerSec: number;
  otherBytesPerNodePerSec: number;
  /** Virtual ms from the cold start until, after convergence, no node had news left to tell (the boot's news had all gone out). */
  settledMs: number | null;
  /** Frame bytes per node per virtual second from then to the end (the steady state: probes, full syncs, the crashes' news, client traffic). */
  steadyBytesPerNodePerSec: number | null;
  /** Crash to `down`, per (crashed node, live observer), virtual ms. */
  detectionMs: Distribution;
  /** Observer views that never saw a crashed node down by the end of the run. */
  undetected: number;
  crashed: string[];
  /** Transitions of a live, never-crashed node to `down` in some node's view. */
  falseDown: number;
  ops: number;
  acked: number;
  failed: number;
  /** Acknowledged writes an R read at the end no longer returns. */
  lost: number;
  /** Keys whose R read at the end failed three times (their acknowledged writes count as lost). */
  unreadable: number;
  traceHash: string;
  wallSeconds: number;
  cpuSeconds: number;
  /** CPU seconds of the whole run per 1,000 client operations. */
  cpuSecondsPer1000Ops: number;
  /** CPU seconds the harness spent scanning views (included in cpuSeconds). */
  harnessCpuSeconds: number;
}

export const SCALE_SETTINGS: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };

/** Virtual time per step of the run: engines continue after each reply within this much. */
const STEP_MS = 10;
/** How often convergence and the detection of crashed nodes are checked, virtual ms. */
const CHECK_MS = 50;
/** Virtual time from the restart of the crashed nodes to the read-back: several suspect timeouts. */
const READ_BACK_AFTER_MS = 5000;
/** Keys read back side by side. */
const READ_BACK_BATCH = 200;

export async function scaleRun(options: ScaleOptions): Promise<ScaleOutcome> {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  let harnessMicros = 0;
  const harness = <T>(work: () => T): T => {
    const before = process.cpuUsage();
    try {
      return work();
    } finally {
      const used = process.cpuUsage(before);
      harnessMicros += used.user + used.system;
    }
  };

  const n = options.nodes;
  const seconds = options.seconds ?? 60;
  const lossRate = options.lossRate ?? 0.1;
  const opsPerSecond = options.opsPerSecond ?? 50;
  const keyCount = options.keys ?? 500;
  const scanMs = options.scanMs ?? 500;
  const intervalMs = defaultMembershipSettings.gossipIntervalMs;
  const ledger = new AckLedger();
  const sim = new SimCluster({
    seed: options.seed,
    nodes: n,
    settings: SCALE_SETTINGS,
    lossRate,
    trace: options.trace ?? 'headers',
    bootTogether: true,
    joined: options.joined ?? false,
    seedCount: options.seeds ?? 3,
  });
  const { random, clock } = sim;
  const start = clock.now();
  const end = start + seconds * 1000;
  const names = Array.from({ length: n }, (_, i) => `node${i + 1}`);

  // Crashes: non-seed nodes, spread over the middle of the run (40 % to 70 %), so each has time to be detected.
  const crashCount = Math.min(options.crashes ?? 3, Math.max(0, n - (options.seeds ?? 3) - 3));
  const crashPlan: { at: number; victim: number }[] = [];
  const victims = new Set<number>();
  for (let c = 0; c < crashCount; c++) {
    let victim: number;
    do victim = (options.seeds ?? 3) + random.int(n - (options.seeds ?? 3));
    while (victims.has(victim));
    victims.add(victim);
    const at = start + Math.round(seconds * 1000 * (0.4 + (crashCount === 1 ? 0 : (0.3 * c) / (crashCount - 1))));
    crashPlan.push({ at, victim });
  }
  const crashedAt = new Map<number, number>();
  /** Per crashed node: observers (by index) that have seen it down, and when. */
  const detected = new Map<number, Map<number, number>>();
  const detections: number[] = [];

  await sim.start();
  const nodes = sim.nodes;
  const tableOf = (node: SimNode) => node.built.state.table;
  const live = () => nodes.filter((_, i) => !crashedAt.has(i));

  // Convergence: every node's table holds every member alive (checked until it first happens).
  let convergedAt: number | null = null;
  let settledAt: number | null = null;
  let bytesAtSettled = 0;
  const checkConvergence = (now: number) => {
    for (const node of nodes) {
      const table = tableOf(node);
      for (const name of names) if (table.health(name, now) !== 'alive') return; // undefined: not known yet
    }
    convergedAt = now;
  };
  const checkSettled = (now: number) => {
    if (nodes.some((node, i) => !crashedAt.has(i) && node.built.gossiper.pendingNews > 0)) return;
    settledAt = now;
    bytesAtSettled = sim.network.stats.frameBytes;
  };

  const checkDetection = (now: number) => {
    for (const [victim, at] of crashedAt) {
      const seen = detected.get(victim) as Map<number, number>;
      const name = names[victim] as string;
      for (let i = 0; i < n; i++) {
        if (crashedAt.has(i) || seen.has(i)) continue;
        if (tableOf(nodes[i] as SimNode).health(name, now) === 'down') {
          seen.set(i, now);
          detections.push(now - at);
        }
      }
    }
  };

  // False downs: the previous scan's view, one byte per (observer, subject).
  const wasDown = new Uint8Array(n * n);
  let falseDown = 0;
  const scanFalseDowns = (now: number) => {
    for (let i = 0; i < n; i++) {
      if (crashedAt.has(i)) continue;
      const table = tableOf(nodes[i] as SimNode);
      for (let j = 0; j < n; j++) {
        if (i === j || victims.has(j)) continue;
        const down = table.health(names[j] as string, now) === 'down' ? 1 : 0;
        if (down && !wasDown[i * n + j]) falseDown++;
        wasDown[i * n + j] = down;
      }
    }
  };

  // The client: writes (plain, or with a read's context) and reads through random live coordinators.
  let issued = 0;
  let inFlight = 0;
  const pad = (value: string) => (options.valueBytes ? `${value}|${filler(options.valueBytes - value.length - 1)}` : value);
  const put = async (node: SimNode, body: Record<string, unknown>, replaces: readonly string[] | 'plain') => {
    const write = ledger.issue(body.key as string, body.value as string, replaces, clock.now());
    let acked = false;
    try {
      await sim.request(node, body);
      acked = true;
    } catch {
      // refused, timed out or reset: not acknowledged
    }
    ledger.settle(write, acked, clock.now());
  };
  // Two key spaces, as the chaos workload has, so the ledger knows exactly what each write may
  // replace: plain overwrites on `p*` keys, writes with a read's context on `k*` keys.
  const op = async (i: number) => {
    const coordinators = live();
    const node = coordinators[random.int(coordinators.length)] as SimNode;
    if (random.next() < 0.3) {
      const key = `p${random.int(keyCount)}`;
      await put(node, { op: 'put', key, value: pad(`${key}=v${i}`) }, 'plain');
      return;
    }
    const key = `k${random.int(keyCount)}`;
    const value = pad(`${key}=v${i}`);
    let got: Record<string, unknown>;
    try {
      got = await sim.request(node, { op: 'get', key });
    } catch {
      return;
    }
    const seen = (got.values as string[] | undefined) ?? [];
    await put(node, { op: 'put', key, value, ...(got.context ? { context: got.context } : {}) }, seen);
  };

  const opIntervalMs = 1000 / opsPerSecond;
  let nextOpAt = start;
  let nextCheck = start;
  let nextScan = start + scanMs;
  let nextProgress = start + 10_000;
  while (clock.now() < end) {
    const now = clock.now();
    for (const plan of crashPlan) {
      if (plan.at > now || crashedAt.has(plan.victim)) continue;
      sim.crash(nodes[plan.victim] as SimNode);
      crashedAt.set(plan.victim, now);
      detected.set(plan.victim, new Map());
    }
    while (nextOpAt <= now) {
      const i = issued++;
      inFlight++;
      void op(i).finally(() => inFlight--);
      nextOpAt += opIntervalMs;
    }
    if (now >= nextCheck) {
      harness(() => {
        if (convergedAt === null) checkConvergence(now);
        else if (settledAt === null) checkSettled(now);
        checkDetection(now);
      });
      nextCheck += CHECK_MS;
    }
    if (now >= nextScan) {
      harness(() => scanFalseDowns(now));
      nextScan += scanMs;
    }
    if (now >= nextProgress) {
      options.onProgress?.(
        `virtual ${((now - start) / 1000).toFixed(0)} s: ${issued} ops, ${ledger.ackedCount} acked, converged ${convergedAt === null ? 'not yet' : `at ${((convergedAt - start) / 1000).toFixed(1)} s`}, ${falseDown} false downs, wall ${((performance.now() - wallStart) / 1000).toFixed(0)} s`,
      );
      nextProgress += 10_000;
    }
    await sim.run(STEP_MS, STEP_MS);
  }
  const frameBytes = sim.network.stats.frameBytes;
  const byOp = sim.network.frameBytesByOp();
  const gossipBytes = Object.entries(byOp).reduce((sum, [op, bytes]) => (op.startsWith('gossip.') ? sum + bytes : sum), 0);

  // Let the operations in flight finish; restart the crashed nodes from their disks (a crash loses
  // nothing written) and let gossip see them up; then read every key written back at R, without
  // loss now: the read-back tests what the cluster kept, not the network.
  while (inFlight > 0) await sim.run(STEP_MS, STEP_MS);
  sim.network.setLossRate(0);
  for (const i of crashedAt.keys()) await sim.restart(nodes[i] as SimNode);
  const restartedAt = clock.now();
  let rejoinedAt: number | null = null;
  const restarted = [...crashedAt.keys()].map((i) => names[i] as string);
  while (clock.now() < restartedAt + READ_BACK_AFTER_MS) {
    await sim.run(CHECK_MS, STEP_MS);
    const now = clock.now();
    if (rejoinedAt === null && restarted.length > 0 && nodes.every((node) => restarted.every((name) => tableOf(node).health(name, now) === 'alive')))
      rejoinedAt = now;
  }
  let lost = 0;
  let unreadable = 0;
  const keys = [...ledger.keys()];
  const readBack = async (key: string, reader: SimNode) => {
    let values: string[] | undefined;
    for (let attempt = 0; attempt < 3 && values === undefined; attempt++) {
      try {
        const got = await sim.request(reader, { op: 'get', key, r: SCALE_SETTINGS.r });
        values = (got.values as string[] | undefined) ?? [];
      } catch (err) {
        if ((err as KvError).code === undefined) throw err;
      }
    }
    if (values === undefined) unreadable++;
    lost += ledger.lost(key, new Set(values ?? [])).length;
  };
  // Side by side, a batch at a time, so the read-back takes a few virtual seconds at most.
  for (let from = 0; from < keys.length; from += READ_BACK_BATCH) {
    const batch = keys.slice(from, from + READ_BACK_BATCH).map((key, j) => readBack(key, nodes[(from + j) % nodes.length] as SimNode));
    await sim.settle(Promise.all(batch), STEP_MS);
  }
  sim.stop();

  let undetected = 0;
  for (const seen of detected.values()) for (let i = 0; i < n; i++) if (!crashedAt.has(i) && !seen.has(i)) undetected++;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const perNodeSecond = (bytes: number, ms: number) => Math.round(bytes / n / (ms / 1000));
  const convergenceMs = convergedAt === null ? null : (convergedAt as number) - start;
  return {
    nodes: n,
    seed: options.seed,
    lossRate,
    virtualSeconds: seconds,
    convergenceMs,
    convergenceRounds: convergenceMs === null ? null : round1(convergenceMs / intervalMs),
    rejoinRounds: rejoinedAt === null ? null : round1(((rejoinedAt as number) - restartedAt) / intervalMs),
    bytesPerNodePerSec: perNodeSecond(frameBytes, seconds * 1000),
    gossipBytesPerNodePerSec: perNodeSecond(gossipBytes, seconds * 1000),
    otherBytesPerNodePerSec: perNodeSecond(frameBytes - gossipBytes, seconds * 1000),
    settledMs: settledAt === null ? null : (settledAt as number) - start,
    steadyBytesPerNodePerSec: settledAt === null || end - settledAt < 1000 ? null : perNodeSecond(frameBytes - bytesAtSettled, end - (settledAt as number)),
    detectionMs: distribution(detections),
    undetected,
    crashed: [...crashedAt.keys()].map((i) => names[i] as string),
    falseDown,
    ops: issued,
    acked: ledger.ackedCount,
    failed: ledger.failedCount,
    lost,
    unreadable,
    traceHash: sim.traceHash(),
    wallSeconds: round1((performance.now() - wallStart) / 1000),
    cpuSeconds: round1(cpuSeconds),
    cpuSecondsPer1000Ops: round1((cpuSeconds / Math.max(1, issued)) * 1000),
    harnessCpuSeconds: round1(harnessMicros / 1e6),
  };
}

/** p50 / p99 / max of `xs` (nearest rank); zeros when empty. */
export function distribution(xs: readonly number[]): Distribution {
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { count: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Compressible filler text of `bytes` bytes (JSON-like). */
function filler(bytes: number): string {
  const unit = '{"item":"widget","qty":1,"tags":["a","b"]},';
  return unit.repeat(Math.ceil(Math.max(0, bytes) / unit.length)).slice(0, Math.max(0, bytes));
}
