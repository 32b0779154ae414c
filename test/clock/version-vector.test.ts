import t from 'tap';
import {
  compareVectors,
  counterOf,
  coversDot,
  type Dot,
  descends,
  emptyVector,
  mergeVectors,
  type Ordering,
  type VersionVector,
  vectorEntries,
} from '../../src/clock/index.js';

const vv = (o: Record<string, number>): VersionVector => new Map(Object.entries(o));

const flip: Record<Ordering, Ordering> = { equal: 'equal', before: 'after', after: 'before', concurrent: 'concurrent' };

t.test('compareVectors', async (t) => {
  const cases: [string, VersionVector, VersionVector, Ordering][] = [
    ['both empty', emptyVector, emptyVector, 'equal'],
    ['same entries', vv({ a: 1, b: 2 }), vv({ a: 1, b: 2 }), 'equal'],
    ['same entries, other insertion order', vv({ a: 1, b: 2 }), vv({ b: 2, a: 1 }), 'equal'],
    ['a zero entry equals a missing one', vv({ a: 1, b: 0 }), vv({ a: 1 }), 'equal'],
    ['missing equals a zero entry', vv({ a: 1 }), vv({ a: 1, b: 0 }), 'equal'],
    ['zero-only vs empty', vv({ x: 0 }), emptyVector, 'equal'],
    ['empty before anything', emptyVector, vv({ a: 1 }), 'before'],
    ['anything after empty', vv({ a: 1 }), emptyVector, 'after'],
    ['one counter behind', vv({ a: 1, b: 2 }), vv({ a: 2, b: 2 }), 'before'],
    ['one counter ahead', vv({ a: 3, b: 2 }), vv({ a: 2, b: 2 }), 'after'],
    ['b has an extra actor', vv({ a: 1 }), vv({ a: 1, b: 1 }), 'before'],
    ['a has an extra actor', vv({ a: 1, c: 4 }), vv({ a: 1 }), 'after'],
    ['zero in a, positive in b', vv({ a: 1, b: 0 }), vv({ a: 1, b: 1 }), 'before'],
    ['disjoint actors', vv({ a: 1 }), vv({ b: 1 }), 'concurrent'],
    ['crossed counters', vv({ a: 2, b: 1 }), vv({ a: 1, b: 2 }), 'concurrent'],
    ['ahead on one, missing another', vv({ a: 5 }), vv({ a: 1, b: 1 }), 'concurrent'],
    ['behind on one, extra actor', vv({ a: 1, c: 1 }), vv({ a: 2 }), 'concurrent'],
    ['large counters', vv({ a: 2 ** 40 }), vv({ a: 2 ** 40 + 1 }), 'before'],
  ];
  for (const [name, a, b, want] of cases) {
    t.equal(compareVectors(a, b), want, `${name}: compare(a, b)`);
    t.equal(compareVectors(b, a), flip[want], `${name}: compare(b, a) is the mirror`);
    t.equal(descends(a, b), want === 'equal' || want === 'after', `${name}: descends(a, b)`);
    t.equal(descends(b, a), want === 'equal' || want === 'before', `${name}: descends(b, a)`);
  }
});

t.test('mergeVectors is the pointwise maximum', async (t) => {
  const cases: [string, VersionVector, VersionVector, Record<string, number>][] = [
    ['empty + empty', emptyVector, emptyVector, {}],
    ['empty + x', emptyVector, vv({ a: 2 }), { a: 2 }],
    ['x + empty', vv({ a: 2 }), emptyVector, { a: 2 }],
    ['disjoint', vv({ a: 1 }), vv({ b: 3 }), { a: 1, b: 3 }],
    ['overlap takes max each way', vv({ a: 5, b: 1 }), vv({ a: 2, b: 7, c: 1 }), { a: 5, b: 7, c: 1 }],
    ['equal', vv({ a: 4 }), vv({ a: 4 }), { a: 4 }],
  ];
  for (const [name, a, b, want] of cases) {
    const aBefore = vectorEntries(a);
    const bBefore = vectorEntries(b);
    const ab = mergeVectors(a, b);
    const ba = mergeVectors(b, a);
    t.same(vectorEntries(ab), vectorEntries(vv(want)), `${name}: merge(a, b)`);
    t.same(vectorEntries(ba), vectorEntries(vv(want)), `${name}: merge(b, a)`);
    t.ok(descends(ab, a) && descends(ab, b), `${name}: the merge descends from both`);
    t.same(vectorEntries(a), aBefore, `${name}: a not mutated`);
    t.same(vectorEntries(b), bBefore, `${name}: b not mutated`);
  }
});

t.test('coversDot and counterOf', async (t) => {
  const v = vv({ a: 3, b: 1 });
  const cases: [Dot, boolean][] = [
    [['a', 1], true],
    [['a', 3], true],
    [['a', 4], false],
    [['b', 1], true],
    [['b', 2], false],
    [['c', 1], false],
  ];
  for (const [dot, want] of cases) t.equal(coversDot(v, dot), want, `covers ${dot[1]}@${dot[0]}`);
  t.equal(coversDot(emptyVector, ['a', 1]), false, 'empty vector covers nothing');
  t.equal(counterOf(v, 'a'), 3);
  t.equal(counterOf(v, 'zzz'), 0, 'missing actor counts 0');
});

t.test('vectorEntries sorts by actor (code unit order)', async (t) => {
  t.same(vectorEntries(vv({ b: 1, a: 2, B: 3, é: 4 })), [
    ['B', 3],
    ['a', 2],
    ['b', 1],
    ['é', 4],
  ]);
  t.same(vectorEntries(emptyVector), []);
});
