/**
 * The ranges of ring positions a node keeps Merkle trees for, and how trees follow a new ring.
 *
 * A range is a maximal run of consecutive arcs of the ring with the same replicas (as a set), cut
 * at position 0 so that no range wraps; a node keeps one tree per range it replicates together with
 * at least one peer, and every replica of the range compares that same tree with the others. Two
 * nodes on the same ring compute the same ranges, so the same bounds name the same keys on both.
 * Pure computation, no I/O.
 */
import type { Ring } from '../ring/index.js';
import { MerkleTree, RING_LAST } from './merkle-tree.js';

/** Ring positions [first, last] and the nodes that replicate them (sorted by name). */
export interface ReplicaRange {
  first: number;
  last: number;
  replicas: readonly string[];
}

/**
 * The ranges `self` replicates with at least one peer on `ring` with N = `n`, in ring order. Only
 * the arcs `self` replicates are walked for their replicas (found walking back from each of its
 * tokens until N other nodes came first), not every arc of the ring: a few hundred walks on a ring
 * of 64,000 tokens.
 */
export function sharedRanges(ring: Ring, n: number, self: string): ReplicaRange[] {
  const tokens = ring.tokenPositions();
  const count = tokens.length;
  if (count === 0) return [];
  // ours[i]: self is among the first n distinct owners walking from token i.
  const ours = new Uint8Array(count);
  for (let j = 0; j < count; j++) {
    if (ring.ownerAt(j) !== self) continue;
    ours[j] = 1;
    const others = new Set<string>();
    for (let step = 1; step < count; step++) {
      const i = (j - step + count) % count;
      const owner = ring.ownerAt(i);
      if (owner === self) break; // that token's own walk back covers what lies before it
      others.add(owner);
      if (others.size >= n) break;
      ours[i] = 1;
    }
  }
  const replicasAt = (i: number): readonly string[] | undefined =>
    ours[i]
      ? ring
          .walk(tokens[i] as number, n, n)
          .map((e) => e.name)
          .sort()
      : undefined;
  // Arcs in position order: [0, t0], (t0, t1], …, (t[T-2], t[T-1]], then (t[T-1], 2^32-1] (token 0's again).
  const out: ReplicaRange[] = [];
  let open: { first: number; replicas: readonly string[]; id: string } | undefined;
  const close = (last: number) => {
    if (open && open.replicas.length >= 2) out.push({ first: open.first, last, replicas: open.replicas });
    open = undefined;
  };
  const add = (first: number, replicas: readonly string[] | undefined) => {
    const id = replicas?.join('\n');
    if (open !== undefined && open.id === id) return;
    close(first - 1);
    if (replicas !== undefined && id !== undefined) open = { first, replicas, id };
  };
  const firstReplicas = replicasAt(0);
  add(0, firstReplicas);
  for (let i = 1; i < count; i++) {
    const from = (tokens[i - 1] as number) + 1;
    if (from <= (tokens[i] as number)) add(from, replicasAt(i));
  }
  const lastToken = tokens[count - 1] as number;
  if (lastToken < RING_LAST) add(lastToken + 1, firstReplicas);
  close(RING_LAST);
  return out;
}

/** A range's tree; `complete` once it holds every local key of the range. */
export interface RangeTree extends ReplicaRange {
  tree: MerkleTree;
  complete: boolean;
}

/** What following a new ring did, by range. */
export interface FollowReport {
  /** Ranges with the same bounds as before: their trees kept. */
  kept: number;
  /** Ranges built from the entries of the trees they overlap (split or merged), no scan. */
  derived: number;
  /** Ranges holding positions no complete tree held: they need a scan of the records. */
  toScan: number;
  /** Entries carried from old trees into new ones. */
  entriesMoved: number;
}

/**
 * The trees for `next` ranges from the `previous` ones: a range with the same bounds keeps its
 * tree (a new set of replicas for the same bounds changes nothing in it: the tree holds the node's
 * keys of the range, whoever else holds them); a range whose positions complete trees covered is
 * built from their entries by ring position; any other is new here and left incomplete, to be
 * filled by a scan restricted to it (and by the changes that arrive meanwhile).
 */
export function followRanges(previous: readonly RangeTree[], next: readonly ReplicaRange[]): { ranges: RangeTree[]; report: FollowReport } {
  const report: FollowReport = { kept: 0, derived: 0, toScan: 0, entriesMoved: 0 };
  const byBounds = new Map(previous.map((r) => [`${r.first}-${r.last}`, r]));
  const ranges = next.map((range): RangeTree => {
    const same = byBounds.get(`${range.first}-${range.last}`);
    if (same?.complete) {
      report.kept++;
      return { ...range, tree: same.tree, complete: true };
    }
    const overlapping = overlaps(previous, range.first, range.last).filter((r) => r.complete);
    let covered = 0;
    for (const r of overlapping) covered += Math.min(r.last, range.last) - Math.max(r.first, range.first) + 1;
    const tree = new MerkleTree(range.first, range.last);
    if (covered < range.last - range.first + 1) {
      report.toScan++;
      return { ...range, tree, complete: false };
    }
    for (const r of overlapping) {
      r.tree.forEachEntry(range.first, range.last, (hi, lo, digestHi, digestLo) => {
        tree.set({ leaf: 0, hi, lo, digestHi, digestLo });
        report.entriesMoved++;
      });
    }
    report.derived++;
    return { ...range, tree, complete: true };
  });
  return { ranges, report };
}

/** Index of the first range of a sorted, disjoint list that ends at or after `position`. */
function firstEndingFrom<R extends { first: number; last: number }>(sorted: readonly R[], position: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as R).last < position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The ranges of a sorted, disjoint list that overlap [first, last]. */
export function overlaps<R extends { first: number; last: number }>(sorted: readonly R[], first: number, last: number): R[] {
  const out: R[] = [];
  for (let i = firstEndingFrom(sorted, first); i < sorted.length && (sorted[i] as R).first <= last; i++) out.push(sorted[i] as R);
  return out;
}

/** The range of a sorted, disjoint list holding `position`, if any (one search, no allocation: runs at each write). */
export function rangeAt<R extends { first: number; last: number }>(sorted: readonly R[], position: number): R | undefined {
  const found = sorted[firstEndingFrom(sorted, position)];
  return found && found.first <= position ? found : undefined;
}
