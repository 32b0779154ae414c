/**
 * What `kvctl top` shows of a node, from two of its `stats` replies: ops per second by op and
 * errors per second (counter deltas over the time between them), p50/p99 latency of the reads and
 * writes in that interval (bucket deltas), the cache hit ratio in it, and the node's gauges
 * (hints held, handoff backlog, disk, keys). Pure: readings carry the time they were taken.
 */
import { numberAt as num } from '../json.js';
import { errorCount, mergedBuckets, parseRequestMetricsSnapshot, quantileMs, type RequestMetricsSnapshot, requestCount } from './request-metrics.js';

/** The ops `top` shows rates of, and whose latencies make its p50/p99. */
export const TOP_OPS = ['get', 'put', 'delete'] as const;
export type TopOp = (typeof TOP_OPS)[number];

/** A node's stats reply and when it arrived (ms since the epoch). */
export interface TopReading {
  at: number;
  stats: Record<string, unknown>;
}

export interface TopRates {
  /** Seconds the rates are over. */
  intervalSec: number;
  opsPerSec: Record<TopOp, number>;
  errorsPerSec: number;
  /** Latency quantiles of the gets, puts and deletes in the interval; null when there were none. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Hits over lookups in the interval; the node's lifetime ratio when it had none. */
  cacheHitRatio: number;
}

export interface TopGauges {
  keys: number;
  hintsHeld: number;
  handoffPending: number;
  diskBytes: number;
  /** The node's own storage health: up, or degraded while it refuses writes. */
  health: string;
}

function requestsOf(stats: Record<string, unknown>): RequestMetricsSnapshot {
  return parseRequestMetricsSnapshot(stats.requests) ?? { boundsMs: [], ops: {} };
}

export function topGauges(stats: Record<string, unknown>): TopGauges {
  return {
    keys: num(stats, 'keys'),
    hintsHeld: num(stats, 'hints', 'held'),
    handoffPending: num(stats, 'handoff', 'pending'),
    diskBytes: num(stats, 'store', 'diskBytes'),
    health: typeof stats.health === 'string' ? stats.health : 'up',
  };
}

/**
 * The rates between two readings of one node; undefined when they cannot be compared: no time
 * between them, or counters that went back (the node restarted in between).
 */
export function topRates(prev: TopReading, cur: TopReading): TopRates | undefined {
  const intervalSec = (cur.at - prev.at) / 1000;
  if (intervalSec <= 0 || num(cur.stats, 'uptimeMs') < num(prev.stats, 'uptimeMs')) return undefined;
  const before = requestsOf(prev.stats);
  const after = requestsOf(cur.stats);
  const rate = (op: TopOp) => Math.max(0, requestCount(after.ops[op]) - requestCount(before.ops[op])) / intervalSec;
  const opsPerSec: Record<TopOp, number> = { get: rate('get'), put: rate('put'), delete: rate('delete') };
  let errors = 0;
  for (const op of Object.keys(after.ops)) errors += Math.max(0, errorCount(after.ops[op]) - errorCount(before.ops[op]));
  const bounds = after.boundsMs;
  const sameBounds = before.boundsMs.length === 0 || before.boundsMs.join() === bounds.join();
  const now = mergedBuckets(after, TOP_OPS);
  const then = sameBounds && before.boundsMs.length > 0 ? mergedBuckets(before, TOP_OPS) : now.map(() => 0);
  const inInterval = now.map((n, i) => Math.max(0, n - (then[i] ?? 0)));
  const hits = num(cur.stats, 'cache', 'hits') - num(prev.stats, 'cache', 'hits');
  const misses = num(cur.stats, 'cache', 'misses') - num(prev.stats, 'cache', 'misses');
  return {
    intervalSec,
    opsPerSec,
    errorsPerSec: errors / intervalSec,
    p50Ms: quantileMs(inInterval, bounds, 0.5) ?? null,
    p99Ms: quantileMs(inInterval, bounds, 0.99) ?? null,
    cacheHitRatio: hits + misses > 0 ? hits / (hits + misses) : num(cur.stats, 'cache', 'hitRatio'),
  };
}
