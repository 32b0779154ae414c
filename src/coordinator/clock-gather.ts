/**
 * What a plain write (no context) supersedes: the merged version vectors of R of the key's
 * replicas, gathered with kv.clocks (validated below the peer contract). The coordinating replica counts itself (its own vector is
 * merged under the key's lock as it writes), so it waits for R-1 others here.
 */
import { emptyVector, mergeVectors, type VersionVector } from '../clock/index.js';
import type { Clock, Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';

/** What a gather decided: the merged clocks, and the replicas that had not answered by the deadline (empty when decided before it). */
export interface GatheredClocks {
  clock: VersionVector;
  missed: string[];
}

/**
 * The clocks of a plain write's replicas: `decided` resolves with the merge of the answers once
 * `needed` answered, every replica answered or failed, or the deadline passed.
 */
export class ClockGather {
  private merged: VersionVector = emptyVector;
  private answered = 0;
  private readonly waiting: Set<string>;
  private done = false;
  private readonly resolve: (gathered: GatheredClocks) => void;
  private readonly timer: Timer;
  readonly decided: Promise<GatheredClocks>;

  constructor(
    private readonly needed: number,
    asked: readonly string[],
    clock: Clock,
    timeoutMs: number,
  ) {
    this.waiting = new Set(asked);
    const { promise, resolve } = withResolvers<GatheredClocks>();
    this.decided = promise;
    this.resolve = resolve;
    this.timer = clock.setTimer(timeoutMs, () => this.finish([...this.waiting]));
  }

  /** A replica's version vector for the key (undefined: it holds none). */
  answer(name: string, clock: VersionVector | undefined): void {
    if (this.done || !this.waiting.delete(name)) return;
    if (!clock) clock = emptyVector;
    this.merged = this.merged.size === 0 ? clock : mergeVectors(this.merged, clock);
    this.answered++;
    if (this.answered >= this.needed || this.waiting.size === 0) this.finish([]);
  }

  fail(name: string): void {
    if (this.done || !this.waiting.delete(name)) return;
    if (this.waiting.size === 0) this.finish([]);
  }

  private finish(missed: string[]): void {
    if (this.done) return;
    this.done = true;
    this.timer.cancel();
    this.resolve({ clock: this.merged, missed });
  }
}
