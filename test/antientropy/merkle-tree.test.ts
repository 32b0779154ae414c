import { createHash } from 'node:crypto';
import t from 'tap';
import { diffEntries, FANOUT, LEAVES, leafOf, MAX_LOGGED_CHANGES, MerkleTree, treeEntry, treeKey } from '../../src/antientropy/merkle-tree.js';
import { emptyRecord, versionDigest } from '../../src/clock/index.js';
import { seededRandom } from '../helpers/random.js';

const key = (i: number): Buffer => Buffer.from(`key:${i}`);
const digest = (i: number, version: number): string => versionDigest({ clock: new Map([[`a${i}`, version]]), siblings: [] });

function snapshot(tree: MerkleTree) {
  return { root: tree.root(), segments: tree.segments(), leaves: Array.from({ length: FANOUT }, (_, s) => tree.leavesOf(s)), size: tree.size };
}

t.test('the same entries give the same tree whatever the order of adds', async (t) => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  for (let i = 0; i < 500; i++) a.set(treeEntry(key(i), digest(i, 1)));
  for (let i = 499; i >= 0; i--) b.set(treeEntry(key(i), digest(i, 1)));
  t.same(snapshot(a), snapshot(b));
  t.equal(a.size, 500);
  t.not(a.root(), new MerkleTree().root(), 'a tree with entries differs from an empty one');
});

t.test('one changed version changes the root, its segment and its leaf only', async (t) => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  for (let i = 0; i < 300; i++) {
    a.set(treeEntry(key(i), digest(i, 1)));
    b.set(treeEntry(key(i), digest(i, 1)));
  }
  b.delete(treeKey(key(7)));
  b.set(treeEntry(key(7), digest(7, 2)));
  const leaf = leafOf(key(7));
  const segment = Math.floor(leaf / FANOUT);
  t.not(a.root(), b.root());
  const segs = a
    .segments()
    .map((h, s) => (h === b.segments()[s] ? -1 : s))
    .filter((s) => s >= 0);
  t.same(segs, [segment]);
  const leaves = a
    .leavesOf(segment)
    .map((h, j) => (h === b.leavesOf(segment)[j] ? -1 : segment * FANOUT + j))
    .filter((l) => l >= 0);
  t.same(leaves, [leaf]);
});

t.test('a missing key is a difference even when everything else matches', async (t) => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  for (let i = 0; i < 50; i++) a.set(treeEntry(key(i), digest(i, 1)));
  for (let i = 1; i < 50; i++) b.set(treeEntry(key(i), digest(i, 1)));
  t.not(a.root(), b.root());
  b.set(treeEntry(key(0), digest(0, 1)));
  t.equal(a.root(), b.root());
});

t.test('versions swapped between two keys are a difference (what an XOR of digests would miss)', async (t) => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  // Two keys in one leaf, so only the leaf's own hash can tell the trees apart.
  const [k1, k2] = (() => {
    const target = leafOf(key(0));
    const same = [0];
    for (let i = 1; same.length < 2; i++) if (leafOf(key(i)) === target) same.push(i);
    return same.map(key) as [Buffer, Buffer];
  })();
  const d1 = digest(1, 1);
  const d2 = digest(2, 1);
  a.set(treeEntry(k1, d1));
  a.set(treeEntry(k2, d2));
  b.set(treeEntry(k1, d2));
  b.set(treeEntry(k2, d1));
  t.not(a.root(), b.root());
});

t.test('setting the same version again changes nothing; size counts keys', async (t) => {
  const tree = new MerkleTree();
  tree.set(treeEntry(key(1), digest(1, 1)));
  const root = tree.root();
  tree.set(treeEntry(key(1), digest(1, 1)));
  t.equal(tree.root(), root);
  tree.set(treeEntry(key(1), digest(1, 2)));
  t.not(tree.root(), root, 'a new version of the key changes the root');
  t.equal(tree.size, 1, 'still one key');
  tree.delete(treeKey(key(99)));
  t.equal(tree.size, 1, 'deleting an absent key changes nothing');
});

t.test('removing what was added restores the earlier tree, down to an empty one', async (t) => {
  const tree = new MerkleTree();
  const empty = snapshot(new MerkleTree());
  for (let i = 0; i < 100; i++) tree.set(treeEntry(key(i), digest(i, 1)));
  const before = snapshot(tree);
  tree.set(treeEntry(key(1000), digest(1000, 3)));
  t.not(tree.root(), before.root);
  tree.delete(treeKey(key(1000)));
  t.same(snapshot(tree), before);
  for (let i = 0; i < 100; i++) tree.delete(treeKey(key(i)));
  t.same(snapshot(tree), empty);
});

t.test('incremental updates agree with a tree built from the final state (random operations against a model)', async (t) => {
  for (const seed of [1, 2, 3]) {
    const rng = seededRandom(seed);
    const tree = new MerkleTree();
    const model = new Map<number, string>();
    for (let step = 0; step < 3000; step++) {
      const i = Math.floor(rng() * 400);
      const before = model.get(i);
      if (before && rng() < 0.3) {
        tree.delete(treeKey(key(i)));
        model.delete(i);
      } else {
        const next = digest(i, step + 1);
        if (before && rng() < 0.5) tree.delete(treeKey(key(i))); // set alone must replace too
        tree.set(treeEntry(key(i), next));
        model.set(i, next);
      }
    }
    const fresh = new MerkleTree();
    for (const [i, d] of model) fresh.set(treeEntry(key(i), d));
    t.same(snapshot(tree), snapshot(fresh), `seed ${seed}`);
    t.equal(tree.size, model.size);
  }
});

t.test('changes logged past the log limit, read at random moments, agree with a tree built from the state then', async (t) => {
  const rng = seededRandom(7);
  const tree = new MerkleTree();
  const model = new Map<number, string>();
  const steps = MAX_LOGGED_CHANGES * 3 + 123;
  let checks = 0;
  for (let step = 0; step < steps; step++) {
    const i = Math.floor(rng() * 5000);
    if (model.has(i) && rng() < 0.2) {
      tree.delete(treeKey(key(i)));
      model.delete(i);
    } else {
      const next = digest(i, step + 1);
      tree.set(treeEntry(key(i), next));
      model.set(i, next);
    }
    if (rng() < 0.0002 || step === steps - 1) {
      const fresh = new MerkleTree();
      for (const [k, d] of model) fresh.set(treeEntry(key(k), d));
      t.equal(tree.root(), fresh.root(), `root at step ${step}`);
      t.equal(tree.size, model.size, `size at step ${step}`);
      checks++;
    }
  }
  t.ok(checks >= 3, `${checks} checks`);
});

t.test("a leaf's hash is SHA-256 over its entries as big-endian words (key hash hi, lo, digest hi, lo)", async (t) => {
  const tree = new MerkleTree();
  const entries = [treeEntry(key(1), digest(1, 1)), treeEntry(key(2), digest(2, 1))];
  for (const e of entries) tree.set(e);
  for (const e of entries) {
    const inLeaf = entries.filter((x) => x.leaf === e.leaf).sort((a, b) => a.hi - b.hi || a.lo - b.lo);
    const bytes = Buffer.alloc(inLeaf.length * 16);
    inLeaf.forEach((x, j) => {
      bytes.writeUInt32BE(x.hi, j * 16);
      bytes.writeUInt32BE(x.lo, j * 16 + 4);
      bytes.writeUInt32BE(x.digestHi, j * 16 + 8);
      bytes.writeUInt32BE(x.digestLo, j * 16 + 12);
    });
    const segment = Math.floor(e.leaf / FANOUT);
    t.equal(tree.leavesOf(segment)[e.leaf % FANOUT], createHash('sha256').update(bytes).digest('hex'));
  }
});

t.test('leaves split the ring hash space: 1024 leaves of 32 segments', async (t) => {
  t.equal(LEAVES, FANOUT * FANOUT);
  const seen = new Set<number>();
  for (let i = 0; i < 20_000; i++) seen.add(leafOf(key(i)));
  t.ok(seen.size > 1000, `20,000 keys fall in ${seen.size} of 1024 leaves`);
  t.ok([...seen].every((l) => l >= 0 && l < LEAVES));
});

t.test('diffEntries lists keys whose digests differ or that one side lacks', async (t) => {
  const ours: [string, string][] = [
    ['a', '1'],
    ['b', '2'],
    ['c', '3'],
  ];
  const theirs: [string, string][] = [
    ['b', '2'],
    ['c', '4'],
    ['d', '5'],
  ];
  t.same(diffEntries(ours, theirs).sort(), ['a', 'c', 'd']);
  t.same(diffEntries(ours, ours), []);
});

t.test('versionDigest covers clock and dots, not sibling order or values', async (t) => {
  const v = (bytes: string) => ({ codec: 0 as const, stored: Buffer.from(bytes), raw: Buffer.from(bytes) });
  const base = emptyRecord<ReturnType<typeof v>>();
  const one = {
    clock: new Map([
      ['a', 2],
      ['b', 1],
    ]),
    siblings: [
      { dot: ['a', 2] as [string, number], ts: 1, value: v('x') },
      { dot: ['b', 1] as [string, number], ts: 2, value: v('y') },
    ],
  };
  const swapped = {
    clock: new Map([
      ['b', 1],
      ['a', 2],
    ]),
    siblings: [...one.siblings].reverse(),
  };
  const otherValues = { ...one, siblings: one.siblings.map((s) => ({ ...s, value: v('z') })) };
  const newer = {
    ...one,
    clock: new Map([
      ['a', 3],
      ['b', 1],
    ]),
  };
  const [first, second] = one.siblings as [(typeof one.siblings)[number], (typeof one.siblings)[number]];
  const tombstone = { ...one, siblings: [first, { ...second, value: null }] };
  t.equal(versionDigest(one), versionDigest(swapped), 'order does not matter');
  t.equal(versionDigest(one), versionDigest(otherValues), 'values are not hashed (dots name them)');
  t.not(versionDigest(one), versionDigest(newer), 'a clock change shows');
  t.not(versionDigest(one), versionDigest(tombstone), 'a tombstone differs from a value');
  t.not(versionDigest(one), versionDigest(base));
  t.match(versionDigest(one), /^[0-9a-f]{32}$/);
});

t.test('changes applied in small batches and in large ones, repeats and deletes of absent keys included, give the tree a fresh build gives', async (t) => {
  const rng = seededRandom(11);
  const tree = new MerkleTree();
  const model = new Map<number, string>();
  let checks = 0;
  for (let step = 0; step < 20_000; step++) {
    const i = Math.floor(rng() * 800);
    if (rng() < 0.25) {
      tree.delete(treeKey(key(i)));
      model.delete(i);
    } else {
      const next = digest(i, Math.floor(rng() * 3));
      tree.set(treeEntry(key(i), next));
      model.set(i, next);
    }
    // Reads after 1 to ~40 changes: some batches applied one by one, some merged.
    if (rng() < 0.05) {
      const fresh = new MerkleTree();
      for (const [k, d] of model) fresh.set(treeEntry(key(k), d));
      if (tree.root() !== fresh.root() || tree.size !== model.size) t.fail(`step ${step}: differs from a fresh build`);
      checks++;
    }
  }
  t.ok(checks > 500, `${checks} comparisons with a fresh build`);
});
