/**
 * Applies membership changes to the ring at most once per interval. Gossip reports a ring change
 * with every merge that learns of a join or a departure, and on a cold start of n nodes the seed
 * hears of n - 1 joins within a few rounds: each applied alone would move the ring n - 1 times and
 * restart the ownership transfer and the tree rebuilds as often. The first change after a quiet
 * interval applies at once (a lone join or leave waits for nothing); those that follow within the
 * interval apply together when it ends, from the member table as it is then.
 */
import type { Clock, Timer } from '../env/clock.js';
import type { ClusterState } from '../membership/cluster-state.js';

export interface RingRefreshDeps {
  state: ClusterState;
  clock: Clock;
  /** Least time between two ring changes (the gossip interval: changes arrive a round at a time). */
  intervalMs: number;
  /** Called after the ring changed (starts the transfer and the tree rebuild). */
  onChanged: () => void;
}

export class RingRefresh {
  private appliedAt = Number.NEGATIVE_INFINITY;
  private timer: Timer | undefined;
  private stopped = false;
  /** Times the ring was recomputed, and times it changed (for tests and the bench). */
  refreshes = 0;
  changes = 0;

  constructor(private readonly deps: RingRefreshDeps) {}

  /** The table's ring members changed: the ring follows now, or when the interval ends. */
  request(): void {
    if (this.stopped || this.timer !== undefined) return; // a refresh is due already: it reads the table then
    const { clock, intervalMs } = this.deps;
    // Capped: a wall clock set back must not hold the ring for longer than one interval.
    const wait = Math.min(intervalMs, this.appliedAt + intervalMs - clock.now());
    if (wait <= 0) {
      this.apply();
      return;
    }
    this.timer = clock.setTimer(wait, () => {
      this.timer = undefined;
      if (!this.stopped) this.apply();
    });
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private apply(): void {
    this.appliedAt = this.deps.clock.now();
    this.refreshes++;
    if (!this.deps.state.refreshRing()) return;
    this.changes++;
    this.deps.onChanged();
  }
}
