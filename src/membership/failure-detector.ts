/**
 * Phi-accrual failure detection (Hayashibara, Défago, Yared, Katayama, "The φ Accrual Failure
 * Detector", 2004), in the form Cassandra's FailureDetector uses: per member, a window of the
 * intervals between the moments its heartbeat was seen to advance; inter-arrival times are taken
 * as exponentially distributed with the window's mean, so the suspicion level after `age` ms
 * without news is φ = age / mean · log10(e) (the probability of a silence this long is 10^-φ).
 *
 * With gossip, news of a member reaches us through intermediaries: the intervals we observe are
 * those of the epidemic (shorter when many peers relay, longer under loss or in a large cluster),
 * not the member's own heartbeat period, and the window learns them as they are.
 *
 * Thresholds are given as times at the gossip interval (`suspectAfterMs`, `downAfterMs`: how long
 * a member is silent before suspect and down when news arrives once a gossip interval) and turned
 * into φ levels: φ_down = downAfterMs / intervalMs · log10(e) (6.5 with the defaults, 3000 and 200).
 * A mean below the gossip interval counts as the interval, so a member is never judged sooner
 * than the configured times; longer observed intervals stretch both times in proportion, up to
MAX_STRETCH times. As in
 * Cassandra, intervals longer than MAX_INTERVAL_FACTOR gossip intervals are not learned (a pause or
 * a partition, not the usual pace), and the first arrival seeds no interval: until the window has
 * some, the mean is the gossip interval. Pure: time is passed in.
 */

import type { MembershipSettings } from '../config.js';

/** Intervals a member's window remembers (Cassandra keeps 1,000; a few dozen give a stable mean here). */
export const ARRIVAL_WINDOW = 32;
/** Intervals above this many gossip intervals are not learned (Cassandra's max interval: twice its initial value). */
export const MAX_INTERVAL_FACTOR = 4;
const LOG10_E = Math.LOG10E;

export interface PhiSettings {
  /** The gossip interval: the pace news arrives at when nothing is lost. */
  intervalMs: number;
  suspectAfterMs: number;
  downAfterMs: number;
}

/** Arrival times of one member's heartbeat advances, as a bounded window of intervals. */
export class ArrivalWindow {
  private readonly intervals = new Float64Array(ARRIVAL_WINDOW);
  private count = 0;
  private next = 0;
  private sum = 0;

  constructor(
    /** When the heartbeat last advanced (or when the member was learned). */
    public lastArrival: number,
  ) {}

  /** Records an advance at `now`; the interval since the last one is learned if plausible. */
  arrive(now: number, maxIntervalMs: number): void {
    const interval = now - this.lastArrival;
    this.lastArrival = Math.max(this.lastArrival, now);
    if (!(interval > 0) || interval > maxIntervalMs) return;
    if (this.count === ARRIVAL_WINDOW) this.sum -= this.intervals[this.next] as number;
    else this.count++;
    this.intervals[this.next] = interval;
    this.sum += interval;
    this.next = (this.next + 1) % ARRIVAL_WINDOW;
  }

  /** Mean observed interval, or undefined before any. */
  mean(): number | undefined {
    return this.count === 0 ? undefined : this.sum / this.count;
  }
}

/** φ after `ageMs` of silence when news arrives every `meanMs` on average (exponential inter-arrivals). */
export function phi(ageMs: number, meanMs: number): number {
  return (Math.max(0, ageMs) / meanMs) * LOG10_E;
}

/**
 * How far the observed pace may stretch the configured times: a crash is still called down within
 * twice `downAfterMs`, however slowly news of a member came before it (in simulations of 200 gossiping nodes
 * under 10 % loss the slowest news of a live member was 1.9 s old, against 6 s).
 */
export const MAX_STRETCH = 2;

/** The interval φ is computed against: the observed mean, never below the gossip interval nor above MAX_STRETCH of it. */
export function expectedInterval(window: ArrivalWindow | undefined, settings: PhiSettings): number {
  return Math.min(settings.intervalMs * MAX_STRETCH, Math.max(settings.intervalMs, window?.mean() ?? settings.intervalMs));
}

/** φ levels at which a member becomes suspect and down (see the module header). */
export function phiThresholds(settings: PhiSettings): { suspect: number; down: number } {
  return { suspect: phi(settings.suspectAfterMs, settings.intervalMs), down: phi(settings.downAfterMs, settings.intervalMs) };
}

/** The detector's settings as a node's membership settings give them (the daemon's, and every simulation's). */
export function detectorSettings(membership: MembershipSettings): PhiSettings {
  return { suspectAfterMs: membership.suspectAfterMs, downAfterMs: membership.downAfterMs, intervalMs: membership.gossipIntervalMs };
}

export type Suspicion = 'alive' | 'suspect' | 'down';

/** How a member stands after `ageMs` without news, given its window. */
export function judge(ageMs: number, window: ArrivalWindow | undefined, settings: PhiSettings): Suspicion {
  const level = phi(ageMs, expectedInterval(window, settings));
  const { suspect, down } = phiThresholds(settings);
  // A small epsilon: a silence of exactly downAfterMs at the gossip pace is down, as it always was.
  if (level >= down - 1e-9) return 'down';
  if (level >= suspect - 1e-9) return 'suspect';
  return 'alive';
}

/** Longest interval a window learns. */
export function maxInterval(settings: PhiSettings): number {
  return settings.intervalMs * MAX_INTERVAL_FACTOR;
}
