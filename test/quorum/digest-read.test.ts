/**
 * The digest read accumulator, table-driven: every script feeds it replies in an order, and the
 * actions it returns, whether it decided, the merged values and the replicas it repairs are
 * checked after each one. Events: `a:v2` is replica a's record holding version v2 (`none`: no
 * record), `a#v2` its digest of v2 (`#none`: it holds nothing), `a!` a failed request.
 */
import t from 'tap';
import { applyWrite, type CausalRecord, emptyRecord, emptyVector, versionDigest } from '../../src/clock/index.js';
import { DigestRead, type ReadAction } from '../../src/quorum/digest-read.js';

// Three versions: v1 by a; v2 by b having seen v1; v3 by c having seen v1 (concurrent with v2).
const v1 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'one', 1);
const v2 = applyWrite(v1, v1.clock, 'b', 'two', 2);
const v3 = applyWrite(v1, v1.clock, 'c', 'three', 3);
const VERSIONS: Record<string, CausalRecord<string> | undefined> = { v1, v2, v3, none: undefined };
const values = (r: CausalRecord<string> | undefined) => r?.siblings.map((s) => s.value) ?? [];
const show = (actions: ReadAction[]) =>
  actions
    .map((a) => `${a.kind === 'askRecord' ? 'rec' : a.kind === 'askDigest' ? 'dig' : 'fix'}(${a.name})`)
    .sort()
    .join(' ');

function feed(read: DigestRead<string>, event: string): ReadAction[] {
  if (event.endsWith('!')) return read.failed(event.slice(0, -1));
  const [name, version] = event.split(/[:#]/) as [string, string];
  if (event.includes(':')) return read.record(name, VERSIONS[version]);
  const record = VERSIONS[version];
  return read.digest(name, record ? versionDigest(record) : null);
}

// [name, R, events, actions after each event (`-`: none), decided after the last, merged values, answered]
const cases: [string, number, string, string[], string[], string[]][] = [
  ['digests that match the record count toward R', 2, 'a:v2 b#v2', ['-', '-'], ['two'], ['a', 'b']],
  ['a stale digest asks for that record; the merge is repaired back to it', 2, 'a:v2 b#v1 b:v1', ['-', 'rec(b)', 'fix(b)'], ['two'], ['a', 'b']],
  ['a newer digest asks for its record; the first replica is repaired', 2, 'a:v1 b#v2 b:v2', ['-', 'rec(b)', 'fix(a)'], ['two'], ['a', 'b']],
  ['concurrent versions become siblings; both sides repaired', 2, 'b#v3 a:v2 b:v3', ['-', 'rec(b)', 'fix(a) fix(b)'], ['two', 'three'], ['a', 'b']],
  ['a replica without the key is repaired', 2, 'a:none b#v2 b:v2', ['-', 'rec(b)', 'fix(a)'], ['two'], ['a', 'b']],
  ['nobody holds the key: decided empty, nothing repaired', 2, 'a:none b#none', ['-', '-'], [], ['a', 'b']],
  ['the record read fails: the next digest holder sends its record', 2, 'b#v1 a! b:v1 c#v1', ['-', 'rec(b)', '-', '-'], ['one'], ['b', 'c']],
  ['every replica fails: decided with nothing', 2, 'a! b! c!', ['-', '-', '-'], [], []],
];

t.test('DigestRead over three replicas', async (t) => {
  for (const [name, r, script, expected, merged, answered] of cases) {
    const read = new DigestRead<string>(['a', 'b', 'c'], r);
    t.equal(show(read.start()), 'dig(b) dig(c) rec(a)', `${name}: asks a for its record, the others for digests`);
    const seen = script.split(' ').map((e) => show(feed(read, e)) || '-');
    t.same(seen, expected, `${name}: ${script}`);
    t.ok(read.decided, `${name}: decided`);
    const { result } = read.decide();
    t.same(values(result.record), merged, `${name}: merged values`);
    t.same([...result.answered].sort(), answered, `${name}: answered`);
  }
});

t.test('not decided while fewer than R answered; a late stale digest still gets a repair', async (t) => {
  const read = new DigestRead<string>(['a', 'b', 'c'], 2);
  read.start();
  read.record('a', v2);
  t.notOk(read.decided, 'one answer of two');
  read.digest('b', versionDigest(v2));
  t.ok(read.decided);
  t.same(show(read.digest('c', versionDigest(v1))), 'fix(c)', 'c answered late with an older version');
  t.same(show(read.digest('c', versionDigest(v2))), '', 'an up-to-date late digest needs nothing');
  t.same(show(read.record('c', v1)), '', 'a late record changes nothing');
  t.same(read.decide().result.answered.sort(), ['a', 'b'], 'the result stays what it was');
});

t.test('the deadline decides with what was heard, and repairs the replicas known stale', async (t) => {
  const read = new DigestRead<string>(['a', 'b', 'c'], 3);
  read.start();
  read.record('a', v2);
  read.digest('b', versionDigest(v1)); // asks b for its record, which never comes
  const { result, repairs } = read.decide();
  t.same(values(result.record), ['two']);
  t.same(result.answered, ['a'], 'only a answered');
  t.equal(result.failed, 0);
  t.same(show(repairs), 'fix(b)', 'b was stale by its digest');
  t.same(read.decide().repairs, [], 'deciding again repairs nothing twice');
});

t.test('no replicas: decided at once; R below 1 is refused', async (t) => {
  const read = new DigestRead<string>([], 1);
  t.same(read.start(), []);
  t.ok(read.decided);
  t.equal(read.decide().result.record, undefined);
  t.throws(() => new DigestRead<string>(['a'], 0), RangeError);
});

t.test('a stand-in joins: asked for its record when none is on its way, and counts toward R', async (t) => {
  const read = new DigestRead<string>(['a', 'b', 'c'], 3);
  read.start();
  t.same(read.waiting().sort(), ['a', 'b', 'c']);
  read.digest('b', versionDigest(v2));
  t.same(show(read.add('d')), 'dig(d)', 'a record is on its way from a: the stand-in sends a digest');
  t.same(show(read.failed('a')), 'rec(b)', 'a failed: b, whose digest came, is asked for its record');
  t.same(show(read.record('b', v2)), '', 'waiting for c and d');
  read.digest('c', versionDigest(v2));
  t.notOk(read.decided, 'two answers of three');
  read.digest('d', versionDigest(v2));
  t.ok(read.decided, 'the stand-in made up the third');
  t.same(read.decide().result.answered.sort(), ['b', 'c', 'd']);
  t.same(read.add('e'), [], 'none joins a decided read');

  const lone = new DigestRead<string>(['a'], 1);
  lone.start();
  t.same(show(lone.add('d')), 'dig(d)', "a's record is still awaited");
  lone.failed('a');
  t.notOk(lone.decided, 'the stand-in is still out');
  t.same(show(lone.digest('d', versionDigest(v1))), 'rec(d)', 'its digest, with no record yet: asked for its record');
  lone.record('d', v1);
  t.ok(lone.decided);
  t.same(values(lone.decide().result.record), ['one']);
});

t.test('hedge: a late record is asked of a replica whose digest came; nothing once a record is in', async (t) => {
  const read = new DigestRead<string>(['a', 'b', 'c'], 2);
  read.start();
  t.same(read.hedge(), [], 'no digest yet: nobody to ask');
  read.digest('b', versionDigest(v2));
  t.same(show(read.hedge()), 'rec(b)');
  t.same(show(read.record('b', v2)), '', 'b answered; R=2 needs one more');
  read.digest('c', versionDigest(v2));
  t.ok(read.decided, 'decided without the late replica');
  t.same(read.decide().result.answered.sort(), ['b', 'c']);
  t.same(read.hedge(), [], 'decided: nothing to hedge');
});
