/**
 * Which replicas a request uses, and how many must answer: pure decisions the coordinator engine
 * makes for every put, get and delete (time and liveness passed in).
 */
import type { ClusterSettings, Consistency } from '../config.js';
import { KvError } from '../errors.js';
import type { PreferenceEntry } from '../ring/index.js';

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
 * primary gets the next reachable fallback, which keeps a hint for it.
 */
export function planReplicas(
  prefs: readonly PreferenceEntry[],
  self: string,
  isUp: (name: string) => boolean,
  mode: Consistency,
  needed: number,
  field: 'w' | 'r',
): ReplicaPlan {
  if (prefs.length === 0) throw new KvError('KV_NOT_MEMBER', 'this node has no ring to place keys on (it left the cluster)');
  // Plain loops: this runs on every request, and closures made per call were recompiled again and again.
  const primaries: string[] = [];
  const spare: string[] = [];
  const slots: Slot[] = [];
  const down: string[] = [];
  for (const p of prefs) {
    if (p.role === 'primary') {
      primaries.push(p.name);
      if (p.name === self || isUp(p.name)) slots.push({ holder: p.name, hintFor: undefined });
      else down.push(p.name);
    } else if (mode === 'sloppy' && (p.name === self || isUp(p.name))) spare.push(p.name);
  }
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
