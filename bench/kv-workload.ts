/**
 * Put and get phases against a running kvctl daemon over NDJSON/TCP, driven by the closed loop
 * from this (client) process. Every put writes a fresh key (a put without a context to an existing
 * key would add a sibling, not replace it); gets read keys written earlier, in a seeded shuffled
 * order, and check every value byte for byte. The workload remembers what it wrote, so the same
 * data can be loaded into a raw LevelDB for the bytes-on-disk comparison.
 */
import { readFileSync } from 'node:fs';
import { KvClient } from '../src/client/client.js';
import type { ClientOptions } from '../src/net/line-connection.js';
import { type LoopResult, type Median, medianRun, runClosedLoop } from './closed-loop.js';
import type { Rng } from './json-documents.js';
import type { BenchDaemon } from './resources.js';

export const IN_FLIGHT = 64;

/**
 * The connections a phase spreads its 64 requests over (worker w uses client w mod count): e.g. one
 * connection with 64 in flight or 4 with 16 each to one daemon, or one connection to each node of a
 * cluster. CPU and counters are taken over `daemonPids` and `statsClients` (one per daemon).
 */
export interface Lanes {
  label: string;
  clients: KvClient[];
  daemonPids: number[];
  statsClients: KvClient[];
}

/**
 * A bench connection to a daemon: a long deadline (a loaded machine answers slowly), with what the
 * daemon asks of its clients (`options`: TLS and a token for a secured daemon; none by default).
 */
export function connectClient(addr: string, options: ClientOptions = {}): Promise<KvClient> {
  return KvClient.connect(addr, { timeoutMs: 30_000, ...options });
}

/** `connections` connections to one daemon. */
export async function openLanes(addr: string, daemonPid: number, connections: number, options: ClientOptions = {}): Promise<Lanes> {
  const clients: KvClient[] = [];
  for (let c = 0; c < connections; c++) clients.push(await connectClient(addr, options));
  return { label: `${connections}x${IN_FLIGHT / connections}`, clients, daemonPids: [daemonPid], statsClients: [clients[0] as KvClient] };
}

/**
 * Requests go to `targets` (one connection each, the 64 in flight spread evenly), while CPU and
 * counters cover every daemon in `daemons` (e.g. the whole cluster when only one node is sent to).
 */
export async function openClusterLanes(
  label: string,
  targets: readonly BenchDaemon[],
  daemons: readonly BenchDaemon[],
  options: ClientOptions = {},
): Promise<Lanes> {
  const clients: KvClient[] = [];
  for (const t of targets) clients.push(await connectClient(t.addr, options));
  const statsClients: KvClient[] = [];
  for (const d of daemons) {
    const i = targets.indexOf(d);
    statsClients.push(i >= 0 ? (clients[i] as KvClient) : await connectClient(d.addr, options));
  }
  return { label, clients, daemonPids: daemons.map((d) => d.pid), statsClients };
}

export async function closeLanes(lanes: Lanes[]): Promise<void> {
  for (const { clients, statsClients } of lanes) await Promise.all([...new Set([...clients, ...statsClients])].map((c) => c.close()));
}

/** A measured phase: the loop's figures, CPU per request on each side, and daemon counters. */
export interface PhaseResult extends LoopResult {
  /** Daemon process CPU (user + system, summed over the lanes' daemons) per request, µs, at clock-tick (10 ms) resolution. */
  daemonCpuUsPerOp: number;
  /** This (client) process's CPU per request, µs. */
  clientCpuUsPerOp: number;
  /** Gets: the daemon's cache hits over lookups during the phase. */
  cacheHitRatio?: number;
  /** Puts: writes per LevelDB group commit during the phase. */
  opsPerBatch?: number;
}

/** Runs `measured` and adds the CPU both processes spent and the change in daemon stats. */
async function measure(lanes: Lanes, measured: () => Promise<LoopResult>): Promise<PhaseResult & { stats: [Counters, Counters] }> {
  const statsBefore = await counters(lanes.statsClients);
  const daemonBefore = daemonsCpuUs(lanes.daemonPids);
  const clientBefore = process.cpuUsage();
  const result = await measured();
  const clientCpu = process.cpuUsage(clientBefore);
  const daemonCpu = daemonsCpuUs(lanes.daemonPids) - daemonBefore;
  const statsAfter = await counters(lanes.statsClients);
  return {
    ...result,
    daemonCpuUsPerOp: daemonCpu / result.ops,
    clientCpuUsPerOp: (clientCpu.user + clientCpu.system) / result.ops,
    stats: [statsBefore, statsAfter],
  };
}

/** The key prefix of the last measured put round. */
export function lastRound(prefix: string, rounds: number): string {
  return `${prefix}.${rounds - 1}`;
}

export function keyOf(prefix: string, i: number): string {
  return `${prefix}:${String(i).padStart(8, '0')}`;
}

export class KvWorkload {
  /** Key ranges written so far: keys `keyOf(prefix, 0..count-1)`, value `i % values.length`. */
  readonly written: Array<{ prefix: string; count: number }> = [];
  private readonly valueBytes: Buffer[];

  /** Buffer values travel base64-encoded (with their keys); string values as UTF-8 JSON strings. */
  constructor(readonly values: ReadonlyArray<Buffer | string>) {
    this.valueBytes = values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  }

  valueAt(i: number): Buffer {
    return this.valueBytes[i % this.valueBytes.length] as Buffer;
  }

  /**
   * After `warmOps` writes to `prefix-warm:…`, `rounds` measured rounds each write fresh keys
   * `prefix.R:0..ops-1`; returns the median round. Gets then read `lastRound(prefix, rounds)`.
   */
  async put(lanes: Lanes, prefix: string, ops: number, warmOps: number, rounds: number): Promise<Median<PhaseResult>> {
    const { clients } = lanes;
    const putOp = (p: string) => async (i: number, worker: number) => {
      await (clients[worker % clients.length] as KvClient).put(keyOf(p, i), this.values[i % this.values.length] as Buffer | string);
    };
    if (warmOps > 0) await runClosedLoop(warmOps, IN_FLIGHT, putOp(`${prefix}-warm`));
    this.written.push({ prefix: `${prefix}-warm`, count: warmOps });
    const runs: PhaseResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const roundPrefix = `${prefix}.${r}`;
      const { stats, ...result } = await measure(lanes, () => runClosedLoop(ops, IN_FLIGHT, putOp(roundPrefix)));
      this.written.push({ prefix: roundPrefix, count: ops });
      const batches = stats[1].batches - stats[0].batches;
      runs.push({ ...result, opsPerBatch: batches > 0 ? (stats[1].batchedOps - stats[0].batchedOps) / batches : 0 });
    }
    return medianRun(runs);
  }

  /**
   * `rounds` measured rounds of `ops` reads each (after `warmOps` unmeasured) of keys drawn from
   * `prefix:0..keyCount-1` in a seeded shuffled order, every value checked; the median round.
   */
  async get(lanes: Lanes, prefix: string, keyCount: number, ops: number, warmOps: number, rounds: number, rng: Rng): Promise<Median<PhaseResult>> {
    const { clients } = lanes;
    const order = shuffled(keyCount, rng);
    const getOp = (offset: number) => async (i: number, worker: number) => {
      const k = order[(i + offset) % keyCount] as number;
      const result = await (clients[worker % clients.length] as KvClient).get(keyOf(prefix, k));
      const [value] = result.values;
      if (!result.found || result.values.length !== 1 || !value?.equals(this.valueAt(k))) {
        throw new Error(`get ${keyOf(prefix, k)}: expected one ${this.valueAt(k).length}-byte value, got found=${result.found} x${result.values.length}`);
      }
    };
    if (warmOps > 0) await runClosedLoop(warmOps, IN_FLIGHT, getOp(0));
    const runs: PhaseResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const { stats, ...result } = await measure(lanes, () => runClosedLoop(ops, IN_FLIGHT, getOp(warmOps + r * ops)));
      const [before, after] = stats;
      const hits = after.hits - before.hits;
      const lookups = hits + after.misses - before.misses;
      runs.push({ ...result, cacheHitRatio: lookups > 0 ? hits / lookups : 0 });
    }
    return medianRun(runs);
  }

  /** Every key and value written, in write order. */
  *entries(): Generator<[string, Buffer]> {
    for (const { prefix, count } of this.written) for (let i = 0; i < count; i++) yield [keyOf(prefix, i), this.valueAt(i)];
  }
}

interface Counters {
  hits: number;
  misses: number;
  batches: number;
  batchedOps: number;
}

/** The daemons' cache and group-commit counters, from their `stats` replies, summed. */
async function counters(clients: readonly KvClient[]): Promise<Counters> {
  const sum: Counters = { hits: 0, misses: 0, batches: 0, batchedOps: 0 };
  for (const stats of await Promise.all(clients.map((c) => c.stats()))) {
    const cache = stats.cache as { hits?: number; misses?: number } | undefined;
    const store = stats.store as { batches?: number; batchedOps?: number } | undefined;
    sum.hits += Number(cache?.hits ?? 0);
    sum.misses += Number(cache?.misses ?? 0);
    sum.batches += Number(store?.batches ?? 0);
    sum.batchedOps += Number(store?.batchedOps ?? 0);
  }
  return sum;
}

function daemonsCpuUs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuUs(pid), 0);
}

/** Linux USER_HZ: /proc reports CPU time in ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

/** User + system CPU of another process so far, µs (from /proc; 0 where there is none). */
export function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
  } catch {
    return 0;
  }
}

/** 0..n-1 in a seeded random order (Fisher-Yates). */
export function shuffled(n: number, rng: Rng): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}
