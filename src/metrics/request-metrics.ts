/**
 * Per-op request metrics kept by a node: how many client requests of each op ended ok or with
 * each error code, and a latency histogram per op and quorum. Recording is a few array and
 * integer updates (no allocation once an op/quorum pair has been seen), so it runs on every
 * request; exporters (the `stats` reply, the Prometheus endpoint, `kvctl top`) read snapshots.
 * Pure: time comes in through `now` (a monotonic millisecond clock in the daemon, virtual time in
 * the simulator). Every label is bounded: ops are the protocol's, outcomes the error-code
 * registry's, quorums 1..MAX_REPLICAS.
 */
import { MAX_REPLICAS } from '../config.js';
import { isJsonObject } from '../json.js';

/**
 * Upper bounds of the latency buckets, ms (a last bucket takes everything slower). From a local
 * get (~50 µs) to a request that waits out a replica's timeout (seconds).
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/** The quorum label of an op that has none (views, admin ops). */
export const NO_QUORUM = 'none';

export interface LatencySnapshot {
  count: number;
  sumMs: number;
  /** Requests per bucket (not cumulative): one per bound in `boundsMs`, then one for slower ones. */
  buckets: number[];
}

export interface OpSnapshot {
  ok: number;
  /** Failed requests by error code. */
  errors: Record<string, number>;
  /** Latency by quorum label (`w2`, `r1`, `none`). */
  latency: Record<string, LatencySnapshot>;
}

export interface RequestMetricsSnapshot {
  boundsMs: number[];
  ops: Record<string, OpSnapshot>;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/**
 * A snapshot as another node's `stats` reply carries it (`requests`), checked field by field: what
 * does not have the snapshot's shape is left out (an op, a quorum), and undefined when nothing does.
 */
export function parseRequestMetricsSnapshot(raw: unknown): RequestMetricsSnapshot | undefined {
  if (!isJsonObject(raw) || !Array.isArray(raw.boundsMs) || !raw.boundsMs.every(isCount) || !isJsonObject(raw.ops)) return undefined;
  const boundsMs = raw.boundsMs as number[];
  const ops: Record<string, OpSnapshot> = {};
  for (const [op, value] of Object.entries(raw.ops)) {
    if (!isJsonObject(value) || !isCount(value.ok) || !isJsonObject(value.errors) || !isJsonObject(value.latency)) continue;
    const errors: Record<string, number> = {};
    for (const [code, n] of Object.entries(value.errors)) if (isCount(n)) errors[code] = n;
    const latency: Record<string, LatencySnapshot> = {};
    for (const [quorum, series] of Object.entries(value.latency)) {
      if (!isJsonObject(series) || !isCount(series.count) || !isCount(series.sumMs) || !Array.isArray(series.buckets)) continue;
      const buckets = series.buckets;
      if (buckets.length !== boundsMs.length + 1 || !buckets.every(isCount)) continue;
      latency[quorum] = { count: series.count, sumMs: series.sumMs, buckets: buckets as number[] };
    }
    ops[op] = { ok: value.ok, errors, latency };
  }
  return { boundsMs, ops };
}

interface LatencySeries {
  count: number;
  sumMs: number;
  buckets: Float64Array;
}

interface OpSeries {
  ok: number;
  errors: Map<string, number>;
  latency: Map<string, LatencySeries>;
}

/** The bucket a latency falls in: the first bound it does not exceed (most requests stop within a few steps). */
export function bucketIndex(ms: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number {
  let i = 0;
  while (i < bounds.length && ms > (bounds[i] as number)) i++;
  return i;
}

/**
 * The quorum a request asked for, as the coordinator uses it: the requested (or default) W or R,
 * capped at the copies a key has while the ring is smaller than N. Out-of-range values (refused by
 * the coordinator) share one label.
 */
export function quorumLabel(field: 'w' | 'r', requested: number | undefined, byDefault: number, copiesPerKey: number): string {
  const value = requested ?? byDefault;
  if (!Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) return `${field}-invalid`;
  return `${field}${Math.min(value, copiesPerKey)}`;
}

export class RequestMetrics {
  private readonly ops = new Map<string, OpSeries>();
  private readonly bounds: readonly number[];

  constructor(
    /** Milliseconds on a monotonic clock; fractions welcome. */
    private readonly now: () => number,
    bounds: readonly number[] = LATENCY_BOUNDS_MS,
  ) {
    this.bounds = bounds;
  }

  /** When a request starts, for `record`. */
  start(): number {
    return this.now();
  }

  /** One request of `op` that started at `startedAt` ended with `outcome`: 'ok' or an error code. */
  record(op: string, quorum: string, startedAt: number, outcome: string): void {
    const elapsed = Math.max(0, this.now() - startedAt);
    let series = this.ops.get(op);
    if (!series) {
      series = { ok: 0, errors: new Map(), latency: new Map() };
      this.ops.set(op, series);
    }
    if (outcome === 'ok') series.ok++;
    else series.errors.set(outcome, (series.errors.get(outcome) ?? 0) + 1);
    let latency = series.latency.get(quorum);
    if (!latency) {
      latency = { count: 0, sumMs: 0, buckets: new Float64Array(this.bounds.length + 1) };
      series.latency.set(quorum, latency);
    }
    latency.count++;
    latency.sumMs += elapsed;
    (latency.buckets[bucketIndex(elapsed, this.bounds)] as number)++;
  }

  /** A copy of every series, as plain JSON. */
  snapshot(): RequestMetricsSnapshot {
    const ops: Record<string, OpSnapshot> = {};
    for (const [op, series] of this.ops) {
      const latency: Record<string, LatencySnapshot> = {};
      for (const [quorum, l] of series.latency) latency[quorum] = { count: l.count, sumMs: l.sumMs, buckets: Array.from(l.buckets) };
      ops[op] = { ok: series.ok, errors: Object.fromEntries(series.errors), latency };
    }
    return { boundsMs: [...this.bounds], ops };
  }
}

/** Requests of one op in a snapshot, ok and failed. */
export function requestCount(op: OpSnapshot | undefined): number {
  if (!op) return 0;
  let n = op.ok;
  for (const count of Object.values(op.errors)) n += count;
  return n;
}

/** Failed requests of one op in a snapshot. */
export function errorCount(op: OpSnapshot | undefined): number {
  if (!op) return 0;
  let n = 0;
  for (const count of Object.values(op.errors)) n += count;
  return n;
}

/** Bucket counts summed over the quorums of the given ops (a per-op or per-node histogram). */
export function mergedBuckets(snapshot: RequestMetricsSnapshot, ops: readonly string[]): number[] {
  const out = new Array<number>(snapshot.boundsMs.length + 1).fill(0);
  for (const op of ops) {
    for (const l of Object.values(snapshot.ops[op]?.latency ?? {})) {
      l.buckets.forEach((n, i) => {
        out[i] = (out[i] as number) + n;
      });
    }
  }
  return out;
}

/**
 * The q-quantile (0..1) of a bucketed distribution, interpolating linearly inside the bucket it
 * falls in (as Prometheus' histogram_quantile does); the slowest bucket answers its lower bound.
 * Undefined when there is nothing to measure.
 */
export function quantileMs(buckets: readonly number[], boundsMs: readonly number[], q: number): number | undefined {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] as number;
    if (n > 0 && seen + n >= rank) {
      if (i >= boundsMs.length) return boundsMs[boundsMs.length - 1];
      const lower = i === 0 ? 0 : (boundsMs[i - 1] as number);
      const upper = boundsMs[i] as number;
      return lower + (upper - lower) * Math.max(0, Math.min(1, (rank - seen) / n));
    }
    seen += n;
  }
  return boundsMs[boundsMs.length - 1];
}
