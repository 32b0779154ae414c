/**
 * Failure detection by probing, in the manner of SWIM (Das, Gupta, Motivala, "SWIM: Scalable
 * Weakly-consistent Infection-style Process Group Membership Protocol", 2002) and HashiCorp's
 * memberlist, with Lifeguard's suspicion that lasts longer in larger clusters. What a node sends
 * to watch the others no longer grows with the cluster: each gossip round it probes one member
 * (an exchange it waits an answer for), not every member's heartbeat.
 *
 * A member goes through three stages in one node's view:
 * - unanswered: a probe of ours got no answer. We probe it again every round, and any answer
 *   clears it. Under message loss a single probe fails often, so it is still alive, here as
 *   everywhere.
 * - suspected: still unanswered `suspectAfterMs` later, we tell the cluster (a suspicion, spread
 *   like any news); a node that hears it suspects the member from then on. The member, hearing it
 *   of itself (or from a node that suspects it and exchanges with it), refutes it with a new
 *   `refuted` stamp on its entry, which clears the suspicion wherever it arrives.
 * - down: suspected for long enough, as Lifeguard (Dadgar, Phillips, Currey, "Lifeguard: Local
 *   Health Awareness for More Accurate Failure Detection", 2018) and memberlist time it: a
 *   suspicion told by one node alone lasts MAX_SUSPICION_FACTOR times the minimum, and each other
 *   node that suspects the member on its own (a confirmation) shortens it, down to the minimum at
 *   CONFIRMATIONS. A crash is soon suspected by several probers; a node that was unlucky with its
 *   probes (or is itself the trouble) is alone, and the member has all the time it needs to refute.
 *   The minimum is downAfterMs - suspectAfterMs, times log10 of the members known above 10, so a
 *   refutation can cross a large cluster.
 *
 * With the defaults (gossip every 200 ms, down after 3,000 ms), simulated under 10 % loss, a crash
 * is down about 4 s after it in a small cluster, 5 s in one of 100 and 7 s in one of 1,000. Pure.
 */

import type { MembershipSettings } from '../config.js';

export interface DetectorSettings {
  /** The gossip interval: a node probes one member this often. */
  intervalMs: number;
  /** How long a member stays unanswered before we suspect it to the cluster. */
  suspectAfterMs: number;
  /** How long after it stops answering a member is down, in a cluster of 10 or fewer. */
  downAfterMs: number;
}

/** The detector's settings as a node's membership settings give them (the daemon's, and every simulation's). */
export function detectorSettings(membership: MembershipSettings): DetectorSettings {
  return { suspectAfterMs: membership.suspectAfterMs, downAfterMs: membership.downAfterMs, intervalMs: membership.gossipIntervalMs };
}

/** Other nodes' suspicions (confirmations) that bring a suspicion down to its shortest (memberlist: SuspicionMult - 2). */
export const CONFIRMATIONS = 2;
/** How much longer than the shortest a suspicion nobody confirms lasts (memberlist's SuspicionMaxTimeoutMult). */
export const MAX_SUSPICION_FACTOR = 6;

/** The shortest a suspicion lasts before the member is down, with `members` known (longer in larger clusters). */
export function suspicionMs(settings: DetectorSettings, members: number): number {
  const base = Math.max(settings.downAfterMs - settings.suspectAfterMs, settings.intervalMs);
  return base * Math.max(1, Math.log10(Math.max(1, members)));
}

/**
 * How long a suspicion lasts with `confirmations` (suspecting nodes beyond the first), as
 * memberlist's suspicion timer: from MAX_SUSPICION_FACTOR times the shortest, down to the shortest
 * at CONFIRMATIONS, logarithmically. In a cluster too small to confirm, the shortest.
 */
export function suspicionTimeoutMs(settings: DetectorSettings, members: number, confirmations: number): number {
  const min = suspicionMs(settings, members);
  const expected = members - 2 < CONFIRMATIONS ? 0 : CONFIRMATIONS;
  if (expected === 0) return min;
  const max = min * MAX_SUSPICION_FACTOR;
  const fraction = Math.log(Math.min(confirmations, expected) + 1) / Math.log(expected + 1);
  return Math.max(min, max - fraction * (max - min));
}

/** How long a probe waits for its answer: two gossip intervals, at least 500 ms (a busy peer is slow, not dead). */
export function probeTimeoutMs(intervalMs: number): number {
  return Math.max(intervalMs * 2, 500);
}

export type Suspicion = 'alive' | 'suspect' | 'down';

/** A member's state against us: when our probes went unanswered, when the cluster suspected it and who. */
export interface DetectorState {
  unansweredSince?: number;
  suspectedAt?: number;
  /** The nodes that suspected it on their own (the first, then confirmations), CONFIRMATIONS + 1 at most. */
  suspectedBy?: readonly string[];
}

/** How a member stands now, with `members` known. */
export function judge(state: DetectorState, now: number, settings: DetectorSettings, members: number): Suspicion {
  if (state.suspectedAt === undefined) return 'alive';
  const confirmations = Math.max(0, (state.suspectedBy?.length ?? 1) - 1);
  return now - state.suspectedAt >= suspicionTimeoutMs(settings, members, confirmations) ? 'down' : 'suspect';
}
