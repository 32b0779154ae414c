/**
 * A closed-loop load driver: exactly `inFlight` requests outstanding until `ops` have been issued
 * (each of `inFlight` workers issues its next request when its previous one answers). Bounded: the
 * loop ends after `ops` requests, and the first failure stops every worker and is rethrown.
 */
import { LatencyRecorder } from './latency-recorder.js';

export interface LoopResult {
  ops: number;
  elapsedMs: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

/** One request: `i` is the request's index (0..ops-1), `worker` its worker (0..inFlight-1). */
export type Operation = (i: number, worker: number) => Promise<void>;

export async function runClosedLoop(ops: number, inFlight: number, op: Operation): Promise<LoopResult> {
  const recorder = new LatencyRecorder(ops);
  let next = 0;
  let failed = false;
  const worker = async (w: number): Promise<void> => {
    while (!failed && next < ops) {
      const i = next++;
      const start = process.hrtime.bigint();
      try {
        await op(i, w);
      } catch (err) {
        failed = true;
        throw err;
      }
      recorder.recordSince(start);
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inFlight, ops) }, (_, w) => worker(w)));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const [p50Us = Number.NaN, p99Us = Number.NaN, p999Us = Number.NaN] = recorder.percentilesUs(50, 99, 99.9);
  return { ops, elapsedMs, opsPerSec: (ops / elapsedMs) * 1000, p50Us, p99Us, p999Us };
}

/** A run picked as the median of several, with the throughput of the slowest and fastest. */
export type Median<T extends LoopResult> = T & { rounds: number; minOpsPerSec: number; maxOpsPerSec: number };

/** The run with the median throughput (the upper one of an even count), figures and all. */
export function medianRun<T extends LoopResult>(runs: readonly T[]): Median<T> {
  if (runs.length === 0) throw new RangeError('medianRun needs at least one run');
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const median = sorted[Math.floor(sorted.length / 2)] as T;
  return { ...median, rounds: runs.length, minOpsPerSec: (sorted[0] as T).opsPerSec, maxOpsPerSec: (sorted.at(-1) as T).opsPerSec };
}
