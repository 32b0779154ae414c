/**
 * What a plain write (no context) supersedes: the merged version vectors of R of the key's
 * replicas, gathered with kv.clocks. The coordinating replica counts itself (its own vector is
 * merged under the key's lock as it writes), so it waits for R-1 others here.
 */
import { decodeContext, emptyVector, mergeVectors, type VersionVector } from '../clock/index.js';
import type { Clock, Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';
import { KvError } from '../errors.js';

/** A replica's answer to kv.clocks for one key: a context token or null; anything else is a bad peer reply. */
export function parseClockResult(name: string, result: unknown): VersionVector {
  if (result === null) return emptyVector;
  if (typeof result !== 'string') throw new KvError('KV_BAD_REQUEST', `${name} sent a malformed clock`);
  return decodeContext(result);
}

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

  /** A replica's answer (a context token or null); a malformed one counts as a failure. */
  answer(name: string, result: unknown): void {
    let clock: VersionVector;
    try {
      clock = parseClockResult(name, result);
    } catch {
      this.fail();
      return;
    }
    if (this.done) return;
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
