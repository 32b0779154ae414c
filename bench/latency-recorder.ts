/**
 * Per-request latencies of one measured phase: one hrtime reading per request, kept in a
 * preallocated array (no allocation while measuring), percentiles by nearest rank on a sorted copy.
 */
export class LatencyRecorder {
  private readonly samplesUs: Float64Array;
  private count = 0;

  /** @param capacity most samples this recorder keeps; later ones are dropped, not wrapped */
  constructor(capacity: number) {
    this.samplesUs = new Float64Array(capacity);
  }

  /** Records the time since `startNs` (a `process.hrtime.bigint()` reading), in microseconds. */
  recordSince(startNs: bigint): void {
    if (this.count >= this.samplesUs.length) return;
    this.samplesUs[this.count++] = Number(process.hrtime.bigint() - startNs) / 1000;
  }

  get size(): number {
    return this.count;
  }

  /** Nearest-rank percentiles, `ps` in 0..100, in microseconds; NaN when nothing was recorded. */
  percentilesUs(...ps: number[]): number[] {
    if (this.count === 0) return ps.map(() => Number.NaN);
    const sorted = this.samplesUs.slice(0, this.count).sort();
    return ps.map((p) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil((p / 100) * this.count) - 1))] as number);
  }
}
