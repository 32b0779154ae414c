/**
 * The consistent-hash ring: preference lists, determinism, weights, ownership, balance per
 * vnode count, and the ~1/n movement on join and leave (Karger et al. 1997; Dynamo §4.2).
 */
import t from 'tap';
import { SeededRandom } from '../../src/env/random.js';
import { hashString, Ring, type RingMember } from '../../src/ring/index.js';

const members = (count: number, weight = 1): RingMember[] => Array.from({ length: count }, (_, i) => ({ name: `node-${String(i).padStart(3, '0')}`, weight }));

/** `count` random 16-byte keys from a fixed seed. */
function randomKeys(count: number, seed = 42): Uint8Array[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => Uint8Array.from({ length: 16 }, () => random.int(256)));
}

const KEYS = randomKeys(100_000);
const FEW_KEYS = KEYS.slice(0, 2000);

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const random = new SeededRandom(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The key's first primary (walk with limit 1: preferenceList() would walk every node). */
const primaryOf = (ring: Ring, key: Uint8Array) => ring.walk(Ring.keyHash(key), 1, 1)[0]?.name;

t.test('preference lists: N distinct primaries first, then fallbacks covering every node', async (t) => {
  for (const size of [1, 2, 3, 5, 10]) {
    const ring = new Ring(members(size));
    for (const n of [1, 3, 5]) {
      const problems: string[] = [];
      for (const key of FEW_KEYS) {
        const list = ring.preferenceList(key, n);
        const names = list.map((e) => e.name);
        const primaries = Math.min(n, size);
        if (list.length !== size) problems.push(`length ${list.length}`);
        if (new Set(names).size !== names.length) problems.push(`duplicates in ${names}`);
        if (!list.every((e, i) => e.role === (i < primaries ? 'primary' : 'fallback'))) problems.push(`roles ${list.map((e) => e.role)}`);
        if ([...names].sort().join() !== ring.members.map((m) => m.name).join()) problems.push(`does not cover every node: ${names}`);
        if (ring.primaries(key, n).join() !== names.slice(0, primaries).join()) problems.push('primaries() disagrees');
        if (problems.length > 0) break;
      }
      t.same(problems, [], `${size} nodes, N=${n}`);
    }
  }
  t.same(new Ring([]).preferenceList(KEYS[0] as Uint8Array, 3), [], 'an empty ring has no replicas');
  t.same(new Ring([]).ownership(3), new Map(), 'and owns nothing');
});

t.test('the first primary owns the first token at or after the key hash (reference model)', async (t) => {
  const ring = new Ring(members(5), 8);
  // Tokens computed independently: hash of "name#i", sorted.
  const tokens = members(5)
    .flatMap((m) => Array.from({ length: 8 }, (_, i) => ({ at: hashString(`${m.name}#${i}`), name: m.name })))
    .sort((a, b) => a.at - b.at);
  const expected = (position: number) => (tokens.find((tk) => tk.at >= position) ?? tokens[0])?.name;
  const random = new SeededRandom(9);
  const positions = [0, 2 ** 32 - 1, ...tokens.map((tk) => tk.at), ...tokens.map((tk) => tk.at + 1), ...Array.from({ length: 500 }, () => random.int(2 ** 32))];
  const wrong = positions.filter((p) => ring.walk(p, 1, 1)[0]?.name !== expected(p));
  t.same(wrong, [], `${positions.length} positions, including every token and the wrap-around`);
  t.equal(ring.walk(123, 2, 1).length, 1, 'limit caps the walk');
  t.same(
    FEW_KEYS.filter((k) => ring.primaries(k, 1)[0] !== expected(Ring.keyHash(k))),
    [],
    'keys are placed by murmur3 of their bytes',
  );
});

t.test('walks are remembered per arc: the same answers whatever order they were first asked in, and frozen so no caller can change them', async (t) => {
  const ring = new Ring(members(7), 16);
  const asked: [Uint8Array, number, number][] = FEW_KEYS.flatMap((k, i) => [[k, 1 + (i % 4), 2 + (i % 6)] as [Uint8Array, number, number]]);
  // Warm one ring's memo in one order; a second ring fills its memo in another order.
  for (const [key, n, limit] of asked) ring.walk(Ring.keyHash(key), n, limit);
  const fresh = new Ring(members(7), 16);
  const mismatches: string[] = [];
  for (const [key, n, limit] of shuffled(asked, 3)) {
    const show = (r: Ring) =>
      `${r.walk(Ring.keyHash(key), n, limit).map((e) => `${e.name}/${e.role}`)} | ${r.primaries(key, n)} | ${r.preferenceList(key, n).map((e) => e.name)}`;
    if (show(ring) !== show(fresh)) mismatches.push(`n=${n} limit=${limit}`);
  }
  t.same(mismatches, [], `${asked.length} walks agree`);
  const key = FEW_KEYS[0] as Uint8Array;
  t.equal(ring.primaries(key, 3), ring.primaries(key, 3), 'one array per arc');
  t.ok(Object.isFrozen(ring.primaries(key, 3)) && Object.isFrozen(ring.preferenceList(key, 3)), 'frozen');
  t.ok(Object.isFrozen(ring.preferenceList(key, 3)[0]), 'entries frozen too');
});

t.test('the ring is the same whatever order the members come in', async (t) => {
  const base = members(20).map((m, i) => ({ ...m, weight: 1 + (i % 3) }));
  const reference = new Ring(base);
  for (const seed of [1, 2, 3]) {
    const ring = new Ring(shuffled(base, seed));
    t.equal(ring.id, reference.id, `permutation ${seed}: same id`);
    t.same(ring.vnodeCounts, reference.vnodeCounts, `permutation ${seed}: same vnode counts`);
    const differing = FEW_KEYS.filter((k) => JSON.stringify(ring.preferenceList(k, 3)) !== JSON.stringify(reference.preferenceList(k, 3)));
    t.equal(differing.length, 0, `permutation ${seed}: same preference list for ${FEW_KEYS.length} keys`);
    t.same(ring.ownership(3), reference.ownership(3), `permutation ${seed}: same ownership`);
  }
  t.not(new Ring(base.map((m, i) => (i === 0 ? { ...m, weight: 5 } : m))).id, reference.id, 'a weight change changes the id');
});

t.test('weights: a weight-2 node gets twice the vnodes and about twice the keys', async (t) => {
  const ring = new Ring([...members(9), { name: 'big', weight: 2 }, { name: 'half', weight: 0.5 }]);
  t.equal(ring.vnodeCounts.get('big'), 128);
  t.equal(ring.vnodeCounts.get('node-000'), 64);
  t.equal(ring.vnodeCounts.get('half'), 32);
  t.equal(new Ring([{ name: 'tiny', weight: 0.001 }]).vnodeCounts.get('tiny'), 1, 'every node gets at least one vnode');
  const share = ring.ownership(1);
  const ones = members(9).map((m) => share.get(m.name) ?? 0);
  const meanOne = ones.reduce((a, b) => a + b, 0) / ones.length;
  const bigRatio = (share.get('big') ?? 0) / meanOne;
  const halfRatio = (share.get('half') ?? 0) / meanOne;
  t.ok(bigRatio > 1.5 && bigRatio < 2.5, `weight 2 owns ${bigRatio.toFixed(2)}x a weight-1 node`);
  t.ok(halfRatio > 0.3 && halfRatio < 0.7, `weight 0.5 owns ${halfRatio.toFixed(2)}x a weight-1 node`);
  t.comment(`64 vnodes/weight, 9 × weight 1 + weight 2 + weight 0.5: weight 2 owns ${bigRatio.toFixed(2)}x, weight 0.5 owns ${halfRatio.toFixed(2)}x`);
  for (const weight of [0, -1, Number.NaN]) t.throws(() => new Ring([{ name: 'x', weight }]), RangeError, `weight ${weight} is refused`);
});

t.test('ownership(n) sums to min(n, size) and matches hashed keys', async (t) => {
  for (const size of [1, 2, 3, 10]) {
    const ring = new Ring(members(size));
    for (const n of [1, 2, 3, 5]) {
      const sum = [...ring.ownership(n).values()].reduce((a, b) => a + b, 0);
      t.ok(Math.abs(sum - Math.min(n, size)) < 1e-9, `${size} nodes, N=${n}: ownership sums to ${sum.toFixed(12)}`);
    }
  }
  const ring = new Ring(members(10));
  const counts = new Map<string, number>();
  for (const key of KEYS) for (const { name } of ring.walk(Ring.keyHash(key), 3, 3)) counts.set(name, (counts.get(name) ?? 0) + 1);
  const worst = Math.max(...[...ring.ownership(3)].map(([name, share]) => Math.abs(share - (counts.get(name) ?? 0) / KEYS.length)));
  t.ok(worst < 0.01, `10 nodes, N=3: ownership(3) and the replica share of 100k keys differ by at most ${worst.toFixed(4)}`);
});

t.test('balance: max/mean primary load by vnodes per node and node count', async (t) => {
  const rows: string[] = ['vnodes  nodes  max/mean  min/mean  max/mean (100k keys)'];
  const ratios = new Map<string, number>();
  for (const vnodes of [16, 64, 256]) {
    for (const size of [3, 10, 100]) {
      const ring = new Ring(members(size), vnodes);
      const shares = [...ring.ownership(1).values()];
      const maxRatio = Math.max(...shares) * size;
      const minRatio = Math.min(...shares) * size;
      const counts = new Map<string, number>();
      for (const key of KEYS) {
        const owner = primaryOf(ring, key) as string;
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      const measured = (Math.max(...counts.values()) / KEYS.length) * size;
      ratios.set(`${vnodes}/${size}`, maxRatio);
      rows.push(
        `${String(vnodes).padStart(6)}  ${String(size).padStart(5)}  ${maxRatio.toFixed(3).padStart(8)}  ${minRatio.toFixed(3).padStart(8)}  ${measured.toFixed(3).padStart(20)}`,
      );
    }
  }
  t.comment(`primary load relative to a fair share (ownership(1); last column from hashing 100k random keys):\n${rows.join('\n')}`);
  t.ok((ratios.get('256/10') ?? Number.POSITIVE_INFINITY) < 1.6, `256 vnodes, 10 nodes: max/mean ${ratios.get('256/10')?.toFixed(3)} < 1.6`);
  t.ok((ratios.get('64/10') ?? Number.POSITIVE_INFINITY) < 2, `64 vnodes (the default), 10 nodes: max/mean ${ratios.get('64/10')?.toFixed(3)} < 2`);
  for (const size of [3, 10, 100]) {
    const few = ratios.get(`16/${size}`) ?? 0;
    const many = ratios.get(`256/${size}`) ?? Number.POSITIVE_INFINITY;
    t.ok(many < few, `${size} nodes: 256 vnodes balance better than 16 (${many.toFixed(3)} < ${few.toFixed(3)})`);
  }
});

t.test('adding one node to ten moves ~1/11 of the keys, all to the new node', async (t) => {
  const size = 10;
  const before = new Ring(members(size));
  const after = new Ring([...members(size), { name: 'newcomer', weight: 1 }]);
  let moved = 0;
  let movedElsewhere = 0;
  for (const key of KEYS) {
    const a = primaryOf(before, key);
    const b = primaryOf(after, key);
    if (a === b) continue;
    moved++;
    if (b !== 'newcomer') movedElsewhere++;
  }
  const fraction = moved / KEYS.length;
  const fair = 1 / (size + 1);
  t.ok(fraction > 0.5 * fair && fraction < 1.5 * fair, `moved ${fraction.toFixed(4)} of keys; 1/(n+1) = ${fair.toFixed(4)}`);
  t.equal(movedElsewhere, 0, 'every moved key moved to the new node');
  t.comment(`join 10 -> 11: primary moved for ${(fraction * 100).toFixed(2)}% of 100k keys (1/11 = ${(fair * 100).toFixed(2)}%)`);
});

t.test('removing one node of ten moves exactly the keys it owned', async (t) => {
  const all = members(10);
  const gone = 'node-003';
  const before = new Ring(all);
  const after = new Ring(all.filter((m) => m.name !== gone));
  let moved = 0;
  let movedNotOwned = 0;
  let ownedStayed = 0;
  for (const key of KEYS) {
    const a = primaryOf(before, key);
    const b = primaryOf(after, key);
    if (a !== b) {
      moved++;
      if (a !== gone) movedNotOwned++;
    } else if (a === gone) ownedStayed++;
  }
  t.equal(movedNotOwned, 0, `only keys ${gone} owned moved`);
  t.equal(ownedStayed, 0, `every key ${gone} owned moved`);
  const fraction = moved / KEYS.length;
  t.ok(fraction > 0.5 / 10 && fraction < 1.5 / 10, `moved ${fraction.toFixed(4)} of keys; 1/n = 0.1`);
  t.comment(`leave 10 -> 9: primary moved for ${(fraction * 100).toFixed(2)}% of 100k keys (1/10 = 10.00%)`);
});

t.test('replica sets (N=3): a join changes only sets that gain the new node; a leave only sets that held the leaver', async (t) => {
  const n = 3;
  const replicas = (ring: Ring, key: Uint8Array) => ring.walk(Ring.keyHash(key), n, n).map((e) => e.name);
  const base = members(10);
  const ring10 = new Ring(base);
  const ring11 = new Ring([...base, { name: 'newcomer', weight: 1 }]);
  const ring9 = new Ring(base.filter((m) => m.name !== 'node-007'));
  let joinChanged = 0;
  let leaveChanged = 0;
  const joinProblems: string[] = [];
  const leaveProblems: string[] = [];
  for (const key of KEYS) {
    const old = replicas(ring10, key);
    const joined = replicas(ring11, key);
    if (old.join() !== joined.join()) {
      joinChanged++;
      const lost = old.filter((x) => !joined.includes(x));
      const gained = joined.filter((x) => !old.includes(x));
      if (gained.join() !== 'newcomer' || lost.length !== 1) joinProblems.push(`${old} -> ${joined}`);
      // The others keep their relative order: the new node is inserted, one node drops off the end.
      if (joined.filter((x) => x !== 'newcomer').join() !== old.filter((x) => !lost.includes(x)).join()) joinProblems.push(`order ${old} -> ${joined}`);
    }
    const left = replicas(ring9, key);
    if (old.join() !== left.join()) {
      leaveChanged++;
      if (!old.includes('node-007') || left.includes('node-007')) leaveProblems.push(`${old} -> ${left}`);
    } else if (old.includes('node-007')) leaveProblems.push(`${old} kept the leaver`);
  }
  t.same(joinProblems.slice(0, 5), [], 'on join, every changed replica set gained exactly the new node and lost one');
  t.same(leaveProblems.slice(0, 5), [], 'on leave, exactly the replica sets holding the leaver changed');
  const joinFraction = joinChanged / KEYS.length;
  const leaveFraction = leaveChanged / KEYS.length;
  t.ok(
    joinFraction > (0.5 * n) / 11 && joinFraction < (1.5 * n) / 11,
    `join changed ${joinFraction.toFixed(4)} of replica sets; N/(n+1) = ${(n / 11).toFixed(4)}`,
  );
  t.comment(
    `N=3: join 10 -> 11 changed ${(joinFraction * 100).toFixed(2)}% of replica sets (3/11 = 27.27%); leave 10 -> 9 changed ${(leaveFraction * 100).toFixed(2)}% (3/10 = 30%)`,
  );
});
