/**
 * Merkle trees against cluster size, without I/O: one node's trees in a cluster of C nodes
 * (N=3, 64 vnodes a member) holding K keys, kept per range (antientropy/ranges.ts: one tree per
 * range of the ring the node replicates, shared by every peer holding it; what the node runs) and,
 * for comparison, per peer (one tree per peer sharing keys, every key in the trees of its N-1
 * replicas' peers; the trees as sparse as the ranges'). The keys are synthetic entries at random
 * positions of the node's ranges (as a replica's writes would give the trees); memory is the heap
 * and array buffers the trees hold after a collection; keys/leaf is the mean number of keys in a
 * leaf holding any, what an exchange lists on both sides for each differing leaf.
 * Then one join into a C-node ring: the time to bring the trees of a node next to the newcomer up
 * to date (per range: ranges recomputed from the ring, trees kept or derived from the trees it has;
 * per peer: rebuilt from every entry, a lower bound of a rebuild that scans and decodes the records).
 * The per-peer trees before ranges (1024 leaves each, allocated whether they held keys or not) are
 * measured by this section at the commit that added it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MerkleTree, type TreeEntry } from '../src/antientropy/merkle-tree.js';
import { type FollowReport, followRanges, type RangeTree, rangeAt, sharedRanges } from '../src/antientropy/ranges.js';
import { Ring, type RingMember } from '../src/ring/ring.js';
import type { BenchContext } from './bench-context.js';
import { fmt } from './report.js';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const N = 3;
const VNODES = 64;
const CLUSTERS = [3, 10, 100, 1000];
const KEY_COUNTS = [10_000, 100_000, 1_000_000];

const members = (count: number, extra: string[] = []): RingMember[] =>
  [...Array.from({ length: count }, (_, i) => `node${i}`), ...extra].map((name) => ({ name, weight: 1 }));

/** K synthetic entries at random positions of the ranges (weighted by width), from a seed: the same list each time. */
export function* syntheticEntries(arcs: { first: number; last: number }[], count: number, seed: number): Generator<TreeEntry> {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const ends: number[] = [];
  let total = 0;
  for (const a of arcs) {
    total += a.last - a.first + 1;
    ends.push(total);
  }
  for (let i = 0; i < count; i++) {
    const at = (next() / 2 ** 32) * total;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] as number) <= at) lo = mid + 1;
      else hi = mid;
    }
    const arc = arcs[lo] as { first: number; last: number };
    const position = Math.min(arc.last, arc.first + Math.floor(at - ((ends[lo] as number) - (arc.last - arc.first + 1))));
    yield { leaf: position >>> 22, hi: position, lo: next(), digestHi: next(), digestLo: next() };
  }
}

/** Bytes of heap and array buffers now, after a full collection. */
function heldBytes(): number {
  collect();
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes what `build` returns holds (released before this returns, so the next measure starts clean). */
function measure(build: () => Built): { bytes: number; trees: number; keysPerLeaf: number } {
  const base = heldBytes();
  let built: Built | undefined = build();
  const bytes = heldBytes() - base;
  const { trees, keysPerLeaf } = built;
  built = undefined;
  return { bytes: built === undefined ? bytes : 0, trees, keysPerLeaf };
}

interface Built {
  held: unknown;
  trees: number;
  /** Entries over leaves holding any. */
  keysPerLeaf: number;
}

interface Model {
  label: string;
  /** Builds the trees of `self` for these entries; returns what holds them (kept alive while measured) and how many trees. */
  build(ring: Ring, self: string, entries: Iterable<TreeEntry>): Built;
  /** Brings the trees of `self` built on `before` up to date with `after` (entries: the node's keys); says what it did. */
  follow(held: unknown, before: Ring, after: Ring, self: string, entries: () => Iterable<TreeEntry>): string;
}

function keysPerLeaf(trees: Iterable<MerkleTree>): number {
  let entries = 0;
  let leaves = 0;
  for (const tree of trees) {
    entries += tree.size;
    leaves += tree.leavesHeld;
  }
  return leaves === 0 ? 0 : entries / leaves;
}

/** One tree per range, shared by the range's replicas; a ring change keeps or derives them (ranges.ts). */
const perRange: Model = {
  label: 'per range',
  build(ring, self, entries) {
    const trees: RangeTree[] = sharedRanges(ring, N, self).map((r) => ({ ...r, tree: new MerkleTree(r.first, r.last), complete: true }));
    for (const entry of entries) rangeAt(trees, entry.hi)?.tree.set(entry);
    for (const r of trees) r.tree.root();
    return { held: trees, trees: trees.length, keysPerLeaf: keysPerLeaf(trees.map((r) => r.tree)) };
  },
  follow(held, _before, after, self) {
    const { ranges, report } = followRanges(held as RangeTree[], sharedRanges(after, N, self));
    for (const r of ranges) r.tree.root();
    return describe(report);
  },
};

function describe(r: FollowReport): string {
  return `${r.kept} kept, ${r.derived} derived (${fmt(r.entriesMoved)} entries), ${r.toScan} to scan`;
}

/** One tree per peer, every entry in the tree of each peer it is shared with; a ring change rebuilds them all. */
const perPeer: Model = {
  label: 'per peer',
  build(ring, self, entries) {
    const trees = new Map<string, MerkleTree>();
    const arcs = sharedRanges(ring, N, self);
    const firsts = arcs.map((a) => a.first);
    for (const entry of entries) {
      const arc = arcs[upperBound(firsts, entry.hi) - 1];
      for (const peer of arc?.replicas ?? []) {
        if (peer === self) continue;
        let tree = trees.get(peer);
        if (!tree) trees.set(peer, (tree = new MerkleTree()));
        tree.set(entry);
      }
    }
    for (const tree of trees.values()) tree.root();
    return { held: trees, trees: trees.size, keysPerLeaf: keysPerLeaf(trees.values()) };
  },
  follow(_held, _before, after, self, entries) {
    const ours = sharedRanges(after, N, self);
    const firsts = ours.map((a) => a.first);
    const kept = [...entries()].filter((e) => {
      const arc = ours[upperBound(firsts, e.hi) - 1];
      return arc !== undefined && e.hi <= arc.last;
    });
    return `${perPeer.build(after, self, kept).trees} trees rebuilt from ${fmt(kept.length)} entries`;
  },
};

function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const MODELS: Model[] = [perRange, perPeer];

export async function treesSection({ report }: BenchContext): Promise<void> {
  report.heading('Merkle trees of one node against cluster size (N=3, 64 vnodes a member; no I/O)');
  const rings = new Map(CLUSTERS.map((c) => [c, new Ring(members(c), VNODES)]));
  const rows: (string | number)[][] = [];
  for (const model of MODELS) {
    for (const clusterSize of CLUSTERS) {
      const ring = rings.get(clusterSize) as Ring;
      const self = 'node0';
      const arcs = sharedRanges(ring, N, self);
      const peers = new Set(arcs.flatMap((a) => a.replicas)).size - 1;
      for (const keys of KEY_COUNTS) {
        const { bytes, trees, keysPerLeaf } = measure(() => model.build(ring, self, syntheticEntries(arcs, keys, 7)));
        rows.push([model.label, fmt(clusterSize), fmt(peers), fmt(keys), fmt(trees), fmt(bytes / 2 ** 20, 1), fmt(bytes / keys, 0), fmt(keysPerLeaf, 1)]);
      }
    }
  }
  report.table(['design', 'nodes', 'peers', 'keys', 'trees', 'MiB', 'B/key', 'keys/leaf'], rows);

  report.heading('One join into the ring: bringing the trees of a neighbour of the newcomer up to date');
  const joinRows: (string | number)[][] = [];
  for (const clusterSize of [100, 1000]) {
    const before = rings.get(clusterSize) as Ring;
    const after = new Ring(members(clusterSize, ['newcomer']), VNODES);
    const newcomerToken = [...after.tokenPositions()].find((p) => after.walk(p, 1, 1)[0]?.name === 'newcomer') ?? 0;
    const self = after.walk(newcomerToken, 2, 2)[1]?.name as string;
    const arcs = sharedRanges(before, N, self);
    for (const model of MODELS) {
      for (const keys of KEY_COUNTS) {
        const entries = () => syntheticEntries(arcs, keys, 11);
        const built = model.build(before, self, entries());
        const started = performance.now();
        const did = model.follow(built.held, before, after, self, entries);
        joinRows.push([model.label, fmt(clusterSize), fmt(keys), fmt(performance.now() - started, 1), did]);
      }
    }
  }
  report.table(['design', 'nodes', 'keys', 'ms', 'what changed'], joinRows);
}
