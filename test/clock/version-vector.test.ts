import t from 'tap';
import {
  badClockEntry,
  compareVectors,
  counterOf,
  coversDot,
  type Dot,
  descends,
  emptyVector,
  MAX_COUNTER,
  MAX_UNHELD_COUNTER,
  mergeVectors,
  type Ordering,
  unheldClaim,
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

t.test('counter bounds: records hold 48 bits; a context may claim above 2^47 only what the key already holds', async (t) => {
  t.equal(MAX_COUNTER, 2 ** 48 - 1, 'what the record format stores');
  t.equal(badClockEntry('a~1', MAX_COUNTER), undefined, 'a record may hold the largest counter');
  t.match(badClockEntry('a~1', MAX_COUNTER + 1), /from 1 to 2\^48 - 1/);
  t.match(badClockEntry('a~1', MAX_COUNTER, MAX_COUNTER - 1), /from 1 to 2\^48 - 2/, 'a tighter bound is said as such');
  for (const bad of [0, -1, 1.5, '1', null, 2 ** 53]) t.ok(badClockEntry('a~1', bad), `counter ${String(bad)}`);

  const held = vv({ 'a~1': MAX_UNHELD_COUNTER + 5, 'b~1': 3 });
  t.equal(unheldClaim(vv({ 'c~1': MAX_UNHELD_COUNTER }), emptyVector), undefined, 'up to 2^47, whatever the record holds');
  t.same(unheldClaim(vv({ 'c~1': MAX_UNHELD_COUNTER + 1 }), emptyVector), ['c~1', MAX_UNHELD_COUNTER + 1], 'above 2^47 on a fresh key');
  t.equal(unheldClaim(vv({ 'a~1': MAX_UNHELD_COUNTER + 5, 'b~1': 3 }), held), undefined, 'what the record holds is taken back');
  t.equal(unheldClaim(vv({ 'a~1': MAX_UNHELD_COUNTER + 2 }), held), undefined, 'less than the record holds');
  t.same(unheldClaim(vv({ 'b~1': 1, 'a~1': MAX_UNHELD_COUNTER + 6 }), held), ['a~1', MAX_UNHELD_COUNTER + 6], 'one more than the record holds');
  t.same(unheldClaim(vv({ 'b~1': MAX_UNHELD_COUNTER + 1 }), held), ['b~1', MAX_UNHELD_COUNTER + 1], "judged per actor: a's counter does not cover b");
});
