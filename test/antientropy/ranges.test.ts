/**
 * Ranges follow the ring: a node's ranges are exactly the positions it replicates with a peer, with
 * their replicas; trees of split and merged ranges, derived from the trees before, have the roots of
 * trees built afresh from the same entries; ranges whose bounds did not change keep their trees, and
 * only ranges holding positions no complete tree held are left to scan. Pure, no I/O.
 */
import t from 'tap';
import { LEAVES, leafAt, leafBounds, MerkleTree, RING_LAST, type TreeEntry } from '../../src/antientropy/merkle-tree.js';
import { followRanges, type RangeTree, rangeAt, sharedRanges } from '../../src/antientropy/ranges.js';
import { Ring } from '../../src/ring/index.js';
import { seededRandom } from '../helpers/random.js';

const ringOf = (count: number, extra: string[] = []) =>
  new Ring([...Array.from({ length: count }, (_, i) => `n${i}`), ...extra].map((name) => ({ name, weight: 1 })));

/** Entries at random positions of the whole ring (a node's keys, before the ring says which are its own). */
function randomEntries(count: number, seed: number): TreeEntry[] {
  const rng = seededRandom(seed);
  const u32 = () => Math.floor(rng() * 2 ** 32);
  return Array.from({ length: count }, () => {
    const hi = u32();
    return { leaf: hi >>> 22, hi, lo: u32(), digestHi: u32(), digestLo: u32() };
  });
}

/** Trees built afresh for these ranges from the entries in them. */
function freshTrees(ranges: { first: number; last: number; replicas: readonly string[] }[], entries: TreeEntry[]): RangeTree[] {
  const trees = ranges.map((r) => ({ ...r, tree: new MerkleTree(r.first, r.last), complete: true }));
  for (const e of entries) rangeAt(trees, e.hi)?.tree.set(e);
  return trees;
}

t.test('the ranges are exactly the positions the node replicates with a peer, with their replicas', async (t) => {
  for (const size of [1, 2, 3, 10, 40, 300]) {
    const ring = ringOf(size);
    const ranges = sharedRanges(ring, 3, 'n0');
    let previous = -1;
    let disjoint = true;
    for (const r of ranges) {
      if (!(r.first > previous && r.first <= r.last && r.last <= RING_LAST)) disjoint = false;
      previous = r.last;
    }
    t.ok(disjoint, `${size} nodes: ${ranges.length} ranges, sorted and disjoint, none wrapping`);
    const rng = seededRandom(size);
    const wrong: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const position = i < 2 ? i * RING_LAST : Math.floor(rng() * 2 ** 32);
      const replicas = ring
        .walk(position, 3, 3)
        .map((e) => e.name)
        .sort();
      const found = rangeAt(ranges, position);
      const expected = replicas.includes('n0') && replicas.length >= 2 ? replicas : undefined;
      if (JSON.stringify(found?.replicas) !== JSON.stringify(expected)) wrong.push(`${position}: ${found?.replicas} vs ${expected}`);
    }
    t.same(wrong.slice(0, 5), [], `${size} nodes: every position sampled is in a range iff n0 replicates it with a peer`);
  }
  const three = sharedRanges(ringOf(3), 3, 'n0');
  t.same(
    three.map((r) => [r.first, r.last]),
    [[0, RING_LAST]],
    'three nodes with N=3: one range, the whole ring, one tree for both peers',
  );
});

t.test('a join, a leave and a change of N: trees derived from the trees before equal trees built afresh', async (t) => {
  const entries = randomEntries(20_000, 3);
  const cases: [string, Ring, number, Ring, number][] = [
    ['a join', ringOf(12), 3, ringOf(12, ['joiner']), 3],
    ['a leave', ringOf(12), 3, new Ring([...Array.from({ length: 12 }, (_, i) => `n${i}`)].filter((n) => n !== 'n5').map((name) => ({ name, weight: 1 }))), 3],
    ['N from 3 to 2', ringOf(12), 3, ringOf(12), 2],
    ['N from 2 to 3', ringOf(12), 2, ringOf(12), 3],
  ];
  for (const [what, before, nBefore, after, nAfter] of cases) {
    for (const self of ['n0', 'n3', 'n7']) {
      const old = freshTrees(sharedRanges(before, nBefore, self), entries);
      const next = sharedRanges(after, nAfter, self);
      const { ranges, report } = followRanges(old, next);
      const fresh = freshTrees(next, entries);
      const oldBounds = new Map(old.map((r) => [`${r.first}-${r.last}`, r.tree]));
      const covered = (r: { first: number; last: number }) => {
        let width = 0;
        for (const o of old) width += Math.max(0, Math.min(o.last, r.last) - Math.max(o.first, r.first) + 1);
        return width === r.last - r.first + 1;
      };
      const mismatched: string[] = [];
      ranges.forEach((r, i) => {
        const f = fresh[i] as RangeTree;
        if (r.complete && r.tree.root() !== f.tree.root()) mismatched.push(`[${r.first}, ${r.last}]`);
      });
      t.same(mismatched, [], `${what}, ${self}: every derived or kept tree has the root of a fresh build`);
      const kept = ranges.filter((r) => oldBounds.get(`${r.first}-${r.last}`) === r.tree).length;
      const sameBounds = next.filter((r) => oldBounds.has(`${r.first}-${r.last}`)).length;
      t.equal(kept, sameBounds, `${what}, ${self}: the ${sameBounds} ranges with unchanged bounds keep their trees`);
      t.equal(report.kept, kept);
      t.same(
        ranges.filter((r) => !r.complete).map((r) => r.first),
        next.filter((r) => !covered(r)).map((r) => r.first),
        `${what}, ${self}: only the ${report.toScan} ranges holding positions not held before are left to scan`,
      );
      t.equal(report.derived + report.kept + report.toScan, next.length, 'every range is kept, derived or scanned');
    }
  }
});

t.test('a tree over a range: leaves of equal width by position, agreeing with a fresh build whatever the order', async (t) => {
  const first = 1_000_000;
  const last = 1_000_000 + 5_000;
  let previous = first - 1;
  for (let leaf = 0; leaf < LEAVES; leaf++) {
    const [a, b] = leafBounds(first, last, leaf);
    if (a !== previous + 1) t.fail(`leaf ${leaf} starts at ${a}, not after ${previous}`);
    for (let p = a; p <= b; p++) if (leafAt(first, last, p) !== leaf) t.fail(`position ${p} is not in leaf ${leaf}`);
    previous = b;
  }
  t.equal(previous, last, 'the leaves tile the range exactly');
  const rng = seededRandom(9);
  const entries = Array.from({ length: 3000 }, () => {
    const hi = first + Math.floor(rng() * (last - first + 1));
    return { leaf: 0, hi, lo: Math.floor(rng() * 2 ** 32), digestHi: 1, digestLo: 2 };
  });
  const a = new MerkleTree(first, last);
  const b = new MerkleTree(first, last);
  for (const e of entries) a.set(e);
  for (const e of [...entries].reverse()) b.set(e);
  t.equal(a.root(), b.root(), 'order of adds does not matter');
  const visited: number[] = [];
  a.forEachEntry(first + 1000, first + 2000, (hi) => visited.push(hi));
  const expected = entries
    .map((e) => e.hi)
    .filter((hi) => hi >= first + 1000 && hi <= first + 2000)
    .sort((x, y) => x - y);
  t.same(visited, expected, 'forEachEntry visits the entries of a part of the range, in ring order');
  t.throws(() => new MerkleTree(5, 4), RangeError, 'a range must not end before it starts');
});
