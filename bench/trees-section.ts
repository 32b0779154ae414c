/**
 * Merkle trees against cluster size, without I/O: one node's trees in a cluster of C nodes
 * (N=3, 64 vnodes a member) holding K keys, for the trees one node keeps per peer (one tree per
 * peer sharing keys, every key in each of its N-1 peers' trees) and the trees it keeps per range.
 * The keys are synthetic entries at random positions of the node's ranges (as a replica's writes
 * would give the trees); memory is the heap and array buffers the trees hold after a collection.
 * Then one join into a C-node ring: the time to bring the trees of a node next to the newcomer up
 * to date (per peer: rebuilt from every entry, a lower bound of a rebuild that scans and decodes
 * the records; per range: derived from the trees it has).
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MerkleTree, type TreeEntry } from '../src/antientropy/merkle-tree.js';
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

/** Arcs of `ring` this node replicates with at least one peer: [first, last] positions and the replicas. */
export function sharedArcs(ring: Ring, self: string): { first: number; last: number; replicas: readonly string[] }[] {
  const tokens = ring.tokenPositions();
  const out: { first: number; last: number; replicas: readonly string[] }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const end = tokens[i] as number;
    const replicas = ring.walk(end, N, N).map((e) => e.name);
    if (replicas.length < 2 || !replicas.includes(self)) continue;
    if (i === 0) {
      out.push({ first: 0, last: end, replicas });
      const last = tokens[tokens.length - 1] as number;
      if (last < 2 ** 32 - 1) out.push({ first: last + 1, last: 2 ** 32 - 1, replicas });
    } else out.push({ first: (tokens[i - 1] as number) + 1, last: end, replicas });
  }
  return out;
}

/** K synthetic entries at random positions of the arcs (weighted by width), from a seed: the same list each time. */
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
function measure(build: () => { held: unknown; trees: number }): { bytes: number; trees: number } {
  const base = heldBytes();
  let built: { held: unknown; trees: number } | undefined = build();
  const bytes = heldBytes() - base;
  const trees = built.trees;
  built = undefined;
  return { bytes: built === undefined ? bytes : 0, trees };
}

interface Model {
  label: string;
  /** Builds the trees of `self` for these entries; returns what holds them (kept alive while measured) and how many trees. */
  build(ring: Ring, self: string, entries: Iterable<TreeEntry>): { held: unknown; trees: number };
  /** Brings the trees of `self` built on `before` up to date with `after` (entries: the node's keys). */
  follow(held: unknown, before: Ring, after: Ring, self: string, entries: () => Iterable<TreeEntry>): void;
}

/** One tree per peer, every entry in the tree of each peer it is shared with; a ring change rebuilds them all. */
const perPeer: Model = {
  label: 'per peer',
  build(ring, self, entries) {
    const trees = new Map<string, MerkleTree>();
    const arcs = sharedArcs(ring, self);
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
    return { held: trees, trees: trees.size };
  },
  follow(_held, _before, after, self, entries) {
    const ours = sharedArcs(after, self);
    const firsts = ours.map((a) => a.first);
    const kept = [...entries()].filter((e) => {
      const arc = ours[upperBound(firsts, e.hi) - 1];
      return arc !== undefined && e.hi <= arc.last;
    });
    perPeer.build(after, self, kept);
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

const MODELS: Model[] = [perPeer];

export async function treesSection({ report }: BenchContext): Promise<void> {
  report.heading('Merkle trees of one node against cluster size (N=3, 64 vnodes a member; no I/O)');
  const rings = new Map(CLUSTERS.map((c) => [c, new Ring(members(c), VNODES)]));
  const rows: (string | number)[][] = [];
  for (const model of MODELS) {
    for (const clusterSize of CLUSTERS) {
      const ring = rings.get(clusterSize) as Ring;
      const self = 'node0';
      const arcs = sharedArcs(ring, self);
      const peers = new Set(arcs.flatMap((a) => a.replicas)).size - 1;
      for (const keys of KEY_COUNTS) {
        const { bytes, trees } = measure(() => model.build(ring, self, syntheticEntries(arcs, keys, 7)));
        rows.push([model.label, fmt(clusterSize), fmt(peers), fmt(keys), fmt(trees), fmt(bytes / 2 ** 20, 1), fmt(bytes / keys, 0)]);
      }
    }
  }
  report.table(['design', 'nodes', 'peers', 'keys', 'trees', 'MiB', 'B/key'], rows);

  report.heading('One join into the ring: bringing the trees of a neighbour of the newcomer up to date');
  const joinRows: (string | number)[][] = [];
  for (const clusterSize of [100, 1000]) {
    const before = rings.get(clusterSize) as Ring;
    const after = new Ring(members(clusterSize, ['newcomer']), VNODES);
    const newcomerToken = [...after.tokenPositions()].find((p) => after.walk(p, 1, 1)[0]?.name === 'newcomer') ?? 0;
    const self = after.walk(newcomerToken, 2, 2)[1]?.name as string;
    const arcs = sharedArcs(before, self);
    for (const model of MODELS) {
      for (const keys of KEY_COUNTS) {
        const entries = () => syntheticEntries(arcs, keys, 11);
        const built = model.build(before, self, entries());
        const started = performance.now();
        model.follow(built.held, before, after, self, entries);
        joinRows.push([model.label, fmt(clusterSize), fmt(keys), fmt(performance.now() - started, 1)]);
      }
    }
  }
  report.table(['design', 'nodes', 'keys', 'ms'], joinRows);
}
