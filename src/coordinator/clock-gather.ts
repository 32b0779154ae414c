/**
 * What a plain write (no context) supersedes: the merged version vectors of R of the key's
 * replicas, gathered with kv.clocks (validated below the peer contract). The coordinating replica counts itself (its own vector is
 * merged under the key's lock as it writes), so it waits for R-1 others here.
 */
import { emptyVector, mergeVectors, type VersionVector } from '../clock/index.js';
import type { Clock, Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';

/**
 * The clocks of a plain write's replicas: `decided` resolves with the merge of the answers once
 * `needed` answered, every replica answered or failed, or the deadline passed.
 */
export class ClockGather {
  private merged: VersionVector = emptyVector;
  private answered = 0;
  private remaining: number;
  private done = false;
  private readonly resolve: (clock: VersionVector) => void;
  private readonly timer: Timer;
  readonly decided: Promise<VersionVector>;

  constructor(
    private readonly needed: number,
    asked: number,
    clock: Clock,
    timeoutMs: number,
  ) {
    this.remaining = asked;
    const { promise, resolve } = withResolvers<VersionVector>();
    this.decided = promise;
    this.resolve = resolve;
    this.timer = clock.setTimer(timeoutMs, () => this.finish());
  }

  /** A replica's version vector for the key (undefined: it holds none). */
  answer(clock: VersionVector | undefined): void {
    if (this.done) return;
    if (!clock) clock = emptyVector;
    this.merged = this.merged.size === 0 ? clock : mergeVectors(this.merged, clock);
    this.answered++;
    this.remaining--;
    if (this.answered >= this.needed || this.remaining === 0) this.finish();
  }

  fail(): void {
    if (this.done) return;
    this.remaining--;
    if (this.remaining === 0) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.timer.cancel();
    this.resolve(this.merged);
  }
}
