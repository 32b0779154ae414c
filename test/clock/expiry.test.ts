/** Deadlines on versions: what a read shows at a given time, when a record is dead, and that merges keep deadlines. */
import t from 'tap';
import { applyWrite, deadFrom, emptyRecord, emptyVector, isDead, isExpired, mergeRecords, visibleSiblings } from '../../src/clock/index.js';

const T0 = 1_800_000_000_000;

t.test('a value with a deadline is visible before it and hidden from it on; one without never expires', async (t) => {
  const forever = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'forever', T0);
  const both = applyWrite(forever, emptyVector, 'b', 'soon', T0 + 1, T0 + 1000);
  const soon = both.siblings.find((s) => s.value === 'soon');
  t.equal(soon?.expiresAt, T0 + 1000, 'the deadline is part of the version');
  t.same(
    visibleSiblings(both, T0 + 999).map((s) => s.value),
    ['forever', 'soon'],
  );
  t.same(
    visibleSiblings(both, T0 + 1000).map((s) => s.value),
    ['forever'],
    'hidden from the deadline itself on',
  );
  t.notOk(soon && isExpired(soon, T0 + 999));
  t.ok(soon && isExpired(soon, T0 + 1000));
  t.equal(deadFrom(both), undefined, 'a record with a value without deadline never dies by itself');
  t.notOk(isDead(both, T0 + 10 ** 9));
});

t.test('a delete never carries a deadline', async (t) => {
  const deleted = applyWrite(emptyRecord<string>(), emptyVector, 'a', null, T0, T0 + 5);
  t.equal(deleted.siblings[0]?.expiresAt, undefined);
  t.equal(deadFrom(deleted), T0, 'a tombstone is dead from when it was written');
  t.ok(isDead(deleted, T0 - 1), 'a tombstone is dead even before its own timestamp (clock skew)');
});

t.test('a record is dead once every version is deleted or expired: from the latest of them', async (t) => {
  const a = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'x', T0, T0 + 100);
  const b = applyWrite(a, emptyVector, 'b', 'y', T0 + 1, T0 + 300);
  const c = applyWrite(b, emptyVector, 'c', null, T0 + 200);
  t.equal(deadFrom(c), T0 + 300);
  t.notOk(isDead(c, T0 + 299), 'y still lives');
  t.ok(isDead(c, T0 + 300));
  t.same(
    visibleSiblings(c, T0 + 150).map((s) => s.value),
    ['y'],
  );
  t.equal(deadFrom(emptyRecord()), undefined, 'an empty record is not dead: it holds nothing to reap');
});

t.test('a write with a context supersedes an expiring version like any other, and merges keep deadlines as they are', async (t) => {
  const first = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'v1', T0, T0 + 50);
  const replaced = applyWrite(first, first.clock, 'a', 'v2', T0 + 10);
  t.same(
    replaced.siblings.map((s) => [s.value, s.expiresAt]),
    [['v2', undefined]],
    'the new version has no deadline unless the write gives one',
  );
  const concurrent = applyWrite(emptyRecord<string>(), emptyVector, 'b', 'w', T0 + 5, T0 + 70);
  const merged = mergeRecords(first, concurrent);
  t.same(mergeRecords(concurrent, first), merged, 'commutative');
  t.same(
    merged.siblings.map((s) => [s.value, s.expiresAt]),
    [
      ['v1', T0 + 50],
      ['w', T0 + 70],
    ],
  );
});
