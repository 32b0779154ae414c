/**
 * The quorum accumulators, table-driven. Events are written compactly: `a+` is an ack from
 * replica a, `a!` a failure; for reads `a:v2` is a reply holding version v2, `a:none` a reply
 * without the key. States after each event use p(ending), m(et), f(ailed).
 */
import t from 'tap';
import { applyWrite, type CausalRecord, emptyRecord, emptyVector, sameVersions } from '../../src/clock/index.js';
import { type QuorumState, ReadQuorum, WriteQuorum } from '../../src/quorum/quorum.js';

const replicas = ['a', 'b', 'c'];
const STATE: Record<string, QuorumState> = { p: 'pending', m: 'met', f: 'failed' };
const states = (s: string) => s.split(' ').map((x) => STATE[x]);
const events = (s: string) => s.split(' ');

// [name, W, events, state after each event]
const writeCases: [string, number, string, string][] = [
  ['W=2: met at exactly the second ack', 2, 'a+ b+ c+', 'p m m'],
  ['W=2: failed at the second failure', 2, 'a! b!', 'p f'],
  ['W=2: one ack, then two failures', 2, 'a+ b! c!', 'p p f'],
  ['W=2: a duplicate ack counts once', 2, 'a+ a+ b+', 'p p m'],
  ['W=2: a duplicate failure counts once', 2, 'a! a! b+ c+', 'p p p m'],
  ['W=2: an ack after a failure of the same replica is ignored', 2, 'a! a+ b+ c!', 'p p p f'],
  ['W=2: a failure after an ack of the same replica is ignored', 2, 'a+ a! b! c+', 'p p p m'],
  ['W=2: met stays met when the last replica fails', 2, 'a+ b+ c!', 'p m m'],
  ['W=2: failed stays failed when the last replica acks', 2, 'a! b! c+', 'p f f'],
  ['W=N=3: every replica must ack', 3, 'a+ b+ c+', 'p p m'],
  ['W=N=3: one failure fails at once', 3, 'b!', 'f'],
  ['W=N=3: a failure after two acks fails', 3, 'a+ b+ c!', 'p p f'],
  ['W=1: the first ack is enough', 1, 'c+', 'm'],
  ['W=1: fails only when every replica failed', 1, 'a! b! c!', 'p p f'],
  ['W=1: an ack after two failures', 1, 'a! b! c+', 'p p m'],
];

t.test('WriteQuorum', async (t) => {
  for (const [name, w, script, expected] of writeCases) {
    const q = new WriteQuorum(replicas, w);
    t.equal(q.state(), 'pending', `${name}: pending before any reply`);
    const seen = events(script).map((e) => (e.endsWith('+') ? q.ack(e.slice(0, -1)) : q.fail(e.slice(0, -1), 'KV_TIMEOUT')));
    t.same(seen, states(expected), `${name}: ${script} -> ${expected}`);
    t.equal(q.state(), states(expected).at(-1), `${name}: state() agrees`);
  }
});

t.test('WriteQuorum: impossible from the start, and the summary', async (t) => {
  t.equal(new WriteQuorum(['a'], 2).state(), 'failed', 'W above the number of replicas is failed before any reply');
  t.equal(new WriteQuorum([], 1).state(), 'failed', 'no replicas at all');
  t.throws(() => new WriteQuorum(replicas, 0), RangeError);
  const q = new WriteQuorum(replicas, 2);
  q.ack('a');
  q.fail('b', 'KV_UNREACHABLE');
  q.ack('a');
  t.same(q.summary(), { needed: 2, replied: 1, failed: 1, replicas: 3, answered: ['a'] });
});

// Three versions: v1 by a; v2 by b having seen v1; v3 by c having seen v1 (concurrent with v2).
const v1 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'one', 1);
const v2 = applyWrite(v1, v1.clock, 'b', 'two', 2);
const v3 = applyWrite(v1, v1.clock, 'c', 'three', 3);
const VERSIONS: Record<string, CausalRecord<string> | undefined> = { v1, v2, v3, none: undefined };
const values = (r: CausalRecord<string> | undefined) => r?.siblings.map((s) => s.value) ?? [];

// [name, R, events, state after each event, merged values, repair targets]
const readCases: [string, number, string, string, string[], string[]][] = [
  ['R=2: met at exactly the second reply', 2, 'a:v2 b:v2', 'p m', ['two'], []],
  ['R=2: a stale replica is repaired', 2, 'a:v1 b:v2', 'p m', ['two'], ['a']],
  ['R=2: a replica without the key is repaired', 2, 'a:none b:v2', 'p m', ['two'], ['a']],
  ['R=2: concurrent versions merge into siblings; both sides repaired', 2, 'b:v2 c:v3', 'p m', ['two', 'three'], ['b', 'c']],
  ['R=2: nobody holds the key', 2, 'a:none b:none', 'p m', [], []],
  ['R=2: failed at the second failure', 2, 'a! b:v1 c!', 'p p f', ['one'], []],
  ['R=2: a duplicate reply counts once (the first is kept)', 2, 'a:v1 a:v2 b:v1', 'p p m', ['one'], []],
  ['R=2: a reply after a failure of the same replica is ignored', 2, 'a! a:v2 b:v1', 'p p p', ['one'], []],
  ['R=2: failed replicas are not repair targets', 2, 'a! b:v1 c:v2', 'p p m', ['two'], ['b']],
  ['R=N=3: one failure fails at once', 3, 'a:v1 b!', 'p f', ['one'], []],
  ['R=N=3: every replica must answer', 3, 'a:v1 b:v2 c:v2', 'p p m', ['two'], ['a']],
  ['R=1: the first reply is enough; later replies still merge', 1, 'c:v2 a:v1', 'm m', ['two'], ['a']],
  ['R=1: fails only when every replica failed', 1, 'a! b! c!', 'p p f', [], []],
];

t.test('ReadQuorum', async (t) => {
  for (const [name, r, script, expected, merged, repair] of readCases) {
    const q = new ReadQuorum<string>(replicas, r);
    const seen = events(script).map((e) => {
      if (e.endsWith('!')) return q.fail(e.slice(0, -1), 'KV_TIMEOUT');
      const [replica, version] = e.split(':') as [string, string];
      return q.reply(replica, VERSIONS[version]);
    });
    t.same(seen, states(expected), `${name}: ${script} -> ${expected}`);
    t.same(values(q.result()), merged, `${name}: merged values`);
    t.same(q.repairTargets().sort(), repair, `${name}: repair targets`);
  }
});

t.test('ReadQuorum: the merged record, completion, summary', async (t) => {
  const q = new ReadQuorum<string>(replicas, 2);
  t.equal(q.result(), undefined);
  q.reply('a', v1);
  q.reply('b', v2);
  const merged = q.result();
  t.ok(merged && sameVersions(merged, v2), 'v2 supersedes v1');
  t.notOk(q.complete(), 'c has not answered');
  q.fail('c', 'KV_TIMEOUT');
  t.ok(q.complete());
  t.same(q.summary(), { needed: 2, replied: 2, failed: 1, replicas: 3, answered: ['a', 'b'] });
  t.equal(new ReadQuorum(['a'], 2).state(), 'failed', 'R above the number of replicas is failed at once');
  t.throws(() => new ReadQuorum(replicas, 0), RangeError);
});

t.test('W+R>N: every write quorum meets every read quorum (N=3)', async (t) => {
  const subsets = (k: number, from = 0): string[][] =>
    k === 0 ? [[]] : replicas.slice(from).flatMap((x, i) => subsets(k - 1, from + i + 1).map((s) => [x, ...s]));
  for (const [w, r] of [
    [2, 2],
    [1, 3],
    [3, 1],
  ] as const) {
    const disjoint = subsets(w).some((ws) => subsets(r).some((rs) => !rs.some((x) => ws.includes(x))));
    t.notOk(disjoint, `W=${w} R=${r}: no disjoint pair of quorums`);
    // And the accumulators call exactly those subsets quorums.
    const met = subsets(w).filter((ws) => {
      const q = new WriteQuorum(replicas, w);
      for (const x of ws) q.ack(x);
      return q.state() === 'met';
    });
    t.equal(met.length, subsets(w).length, `W=${w}: every ${w}-subset of acks is met`);
  }
});
