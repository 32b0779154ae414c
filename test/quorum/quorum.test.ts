/**
 * The write quorum accumulator, table-driven. Events are written compactly: `a+` is an ack from
 * replica a, `a!` a failure. States after each event use p(ending), m(et), f(ailed).
 */
import t from 'tap';
import { type QuorumState, WriteQuorum } from '../../src/quorum/quorum.js';

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

t.test('WriteQuorum: a stand-in joins in place of a failed replica, and its ack counts', async (t) => {
  const q = new WriteQuorum(['a', 'b', 'c'], 3);
  q.ack('a');
  q.ack('b');
  t.equal(q.add('d'), 'pending', 'joining keeps the write open');
  t.equal(q.fail('c', 'no reply within 1000 ms'), 'pending', 'c failed, the stand-in d may still answer');
  t.ok(q.settled('c'));
  t.notOk(q.settled('d'));
  t.same([...q.failed()], [['c', 'no reply within 1000 ms']], 'why c failed');
  t.equal(q.ack('d'), 'met');
  t.match(q.summary(), { replied: 3, failed: 1, replicas: 4, answered: ['a', 'b', 'd'] });
  t.equal(q.ack('c'), 'met', 'a late ack of a replica counted as failed changes nothing');
  t.equal(q.summary().replied, 3);
});
