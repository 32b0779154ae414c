/**
 * Which replicas a request uses, and how many must answer: pure decisions the coordinator engine
 * makes for every put, get and delete (time and liveness passed in).
 */
import { type ClusterSettings, type Consistency, REPLICA_DEADLINE_SHARE } from '../config.js';
import { KvError } from '../errors.js';
import type { PreferenceSequence } from '../ring/index.js';

/** Who takes a copy: a replica itself, or a fallback holding a hint for a down replica. */
export interface Slot {
  holder: string;
  hintFor: string | undefined;
}

export interface ReplicaPlan {
  /** The key's own replicas (its first N distinct nodes). */
  primaries: string[];
  /** The replicas this request uses: reachable primaries, and fallbacks standing in for down ones when sloppy. */
  slots: Slot[];
}

/** Copies each key has: N, or fewer while the ring has fewer distinct nodes (down ones included). */
export function copiesPerKey(settings: ClusterSettings, ringSize: number): number {
  return Math.max(1, Math.min(settings.n, ringSize));
}

/** W or R for a request: 1..N, capped at the copies each key has while the ring is smaller than N. */
export function quorumSize(settings: ClusterSettings, ringSize: number, field: 'w' | 'r', requested: number | undefined): number {
  const { n } = settings;
  const value = requested ?? settings[field];
  if (value < 1 || value > n) throw new KvError('KV_INVALID_QUORUM', `${field}=${value} must be between 1 and N=${n}`, { field, value, n });
  return Math.min(value, copiesPerKey(settings, ringSize));
}

/**
 * The replicas a request uses, from the key's preference list. Strict: only the key's own
 * replicas, and KV_QUORUM_UNAVAILABLE when fewer than `needed` are reachable. Sloppy: each down
 * primary gets the next reachable fallback, which keeps a hint for it. The list is read only as
 * far as that: the primaries, then fallbacks until each down primary has one (with all primaries
 * up, the first fallback only, which says where the primaries end), so a lazy walk of the ring
 * goes no further.
 */
export function planReplicas(
  prefs: PreferenceSequence,
  self: string,
  isUp: (name: string) => boolean,
  mode: Consistency,
  needed: number,
  field: 'w' | 'r',
): ReplicaPlan {
  // Plain loops: this runs on every request, and closures made per call were recompiled again and again.
  const primaries: string[] = [];
  const spare: string[] = [];
  const slots: Slot[] = [];
  const down: string[] = [];
  for (let i = 0; ; i++) {
    const p = prefs.at(i);
    if (p === undefined) break;
    if (p.role === 'primary') {
      primaries.push(p.name);
      if (p.name === self || isUp(p.name)) slots.push({ holder: p.name, hintFor: undefined });
      else down.push(p.name);
      continue;
    }
    // Past the primaries: a fallback is read only while a down primary still needs a stand-in.
    if (mode !== 'sloppy' || spare.length >= down.length) break;
    if (p.name === self || isUp(p.name)) spare.push(p.name);
    if (spare.length >= down.length) break;
  }
  if (primaries.length === 0) throw new KvError('KV_NOT_MEMBER', 'this node has no ring to place keys on (it left the cluster)');
  if (mode === 'strict' && slots.length < needed) {
    throw new KvError(
      'KV_QUORUM_UNAVAILABLE',
      `strict ${field.toUpperCase()}=${needed} needs ${needed} of the key's replicas; only ${slots.length} of ${primaries.length} are reachable (down: ${down.join(', ')})`,
      { needed, reachable: slots.length, replicas: primaries, down },
    );
  }
  if (mode === 'sloppy') {
    for (const hintFor of down) {
      const holder = spare.shift();
      if (holder) slots.push({ holder, hintFor });
    }
  }
  return { primaries, slots };
}

/**
 * The node that stands in for a replica that failed within a request (sloppy mode): the first
 * node after the key's primaries in its preference list that this request has not used yet and
 * that `healthy` accepts (this node always is). Undefined when none is left.
 */
export function nextStandIn(prefs: PreferenceSequence, used: ReadonlySet<string>, self: string, healthy: (name: string) => boolean): string | undefined {
  for (let i = 0; ; i++) {
    const p = prefs.at(i);
    if (p === undefined) return undefined;
    if (p.role === 'primary' || used.has(p.name)) continue;
    if (p.name === self || healthy(p.name)) return p.name;
  }
}

/** How long one replica has to answer before it counts as failed for the request (see REPLICA_DEADLINE_SHARE). */
export function replicaDeadlineMs(requestTimeoutMs: number, mode: Consistency): number {
  return mode === 'sloppy' ? Math.max(1, Math.floor(requestTimeoutMs * REPLICA_DEADLINE_SHARE)) : requestTimeoutMs;
}

/** Refusals of the record itself: any other node would refuse it too, so no stand-in is asked. */
const RECORD_REFUSALS: ReadonlySet<string> = new Set<string>([
  'KV_TOO_MANY_SIBLINGS',
  'KV_RECORD_TOO_LARGE',
  'KV_BAD_REQUEST',
  'KV_LINE_TOO_LONG',
  'KV_VALUE_TOO_LARGE',
  'KV_KEY_TOO_LARGE',
]);

/** True when a replica's failure (its error code) is one a stand-in may do better than. */
export function standInMayHelp(code: string | undefined): boolean {
  return code === undefined || !RECORD_REFUSALS.has(code);
}

/** Replicas in the order a read asks them: this node first, then the healthy ones, then those that just failed (preference order kept within each). */
export function readOrder(holders: readonly string[], self: string, recentlyFailed: (name: string) => boolean): string[] {
  const rank = (name: string) => (name === self ? 0 : recentlyFailed(name) ? 2 : 1);
  return [...holders].sort((a, b) => rank(a) - rank(b));
}
