/**
 * Replica planning: which replicas a request uses in strict and sloppy mode, and the sizes of
 * W and R against N and the ring.
 */
import t from 'tap';
import type { ClusterSettings } from '../../src/config.js';
import { copiesPerKey, nextStandIn, planReplicas, quorumSize, readOrder, replicaDeadlineMs, standInMayHelp } from '../../src/quorum/plan.js';
import type { PreferenceEntry } from '../../src/ring/index.js';

const prefs: PreferenceEntry[] = [
  { name: 'a', role: 'primary' },
  { name: 'b', role: 'primary' },
  { name: 'c', role: 'primary' },
  { name: 'd', role: 'fallback' },
  { name: 'e', role: 'fallback' },
];
const upExcept =
  (...down: string[]) =>
  (name: string) =>
    !down.includes(name);

t.test('strict: the reachable primaries, or KV_QUORUM_UNAVAILABLE naming the down ones', async (t) => {
  t.same(
    planReplicas(prefs, 'a', upExcept(), 'strict', 2, 'w').slots.map((s) => s.holder),
    ['a', 'b', 'c'],
  );
  t.same(
    planReplicas(prefs, 'a', upExcept('b'), 'strict', 2, 'w').slots.map((s) => s.holder),
    ['a', 'c'],
    'a down primary is left out',
  );
  t.throws(() => planReplicas(prefs, 'a', upExcept('b', 'c'), 'strict', 2, 'r'), {
    code: 'KV_QUORUM_UNAVAILABLE',
    details: { needed: 2, reachable: 1, down: ['b', 'c'] },
  });
  t.same(planReplicas(prefs, 'x', upExcept('a', 'b', 'c'), 'strict', 0, 'w').slots, [], 'the coordinator itself need not be a replica');
});

t.test('sloppy: each down primary gets the next reachable fallback, with a hint for it', async (t) => {
  const plan = planReplicas(prefs, 'a', upExcept('b', 'd'), 'sloppy', 2, 'w');
  t.same(plan.primaries, ['a', 'b', 'c']);
  t.same(plan.slots, [
    { holder: 'a', hintFor: undefined },
    { holder: 'c', hintFor: undefined },
    { holder: 'e', hintFor: 'b' },
  ]);
  const starved = planReplicas(prefs, 'a', upExcept('b', 'c', 'd', 'e'), 'sloppy', 2, 'w');
  t.same(starved.slots, [{ holder: 'a', hintFor: undefined }], 'no fallback left: fewer slots, and the quorum decides');
  t.throws(() => planReplicas([], 'a', upExcept(), 'sloppy', 1, 'w'), { code: 'KV_NOT_MEMBER' });
});

t.test('W and R: 1..N, capped at the copies a key has on a smaller ring', async (t) => {
  const settings: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };
  t.equal(copiesPerKey(settings, 5), 3);
  t.equal(copiesPerKey(settings, 1), 1);
  t.equal(quorumSize(settings, 5, 'w', undefined), 2, 'the cluster default');
  t.equal(quorumSize(settings, 5, 'r', 3), 3);
  t.equal(quorumSize(settings, 2, 'w', 3), 2, 'capped while the ring has 2 nodes');
  t.throws(() => quorumSize(settings, 5, 'w', 4), { code: 'KV_INVALID_QUORUM' });
  t.throws(() => quorumSize(settings, 5, 'r', 0), { code: 'KV_INVALID_QUORUM' });
});

t.test('a stand-in: the first healthy node after the primaries this request has not used', async (t) => {
  const used = new Set(['a', 'b', 'c']);
  t.equal(nextStandIn(prefs, used, 'a', upExcept()), 'd');
  t.equal(nextStandIn(prefs, used, 'a', upExcept('d')), 'e', 'an unhealthy fallback is passed over');
  t.equal(nextStandIn(prefs, new Set([...used, 'd']), 'a', upExcept()), 'e', 'a fallback already used is passed over');
  t.equal(nextStandIn(prefs, used, 'e', upExcept('d', 'e')), 'e', 'this node is always healthy to itself');
  t.equal(nextStandIn(prefs, used, 'a', upExcept('d', 'e')), undefined, 'none left');
  t.equal(nextStandIn(prefs, new Set(), 'a', upExcept()), 'd', 'never a primary, used or not');
});

t.test('the replica deadline is a share of the request deadline in sloppy mode only', async (t) => {
  t.equal(replicaDeadlineMs(2000, 'sloppy'), 1000);
  t.equal(replicaDeadlineMs(2000, 'strict'), 2000, 'strict: no stand-in to ask, the replica has the whole time');
  t.equal(replicaDeadlineMs(1, 'sloppy'), 1, 'never zero');
});

t.test('a stand-in is asked for a failure it may do better on, not for a refusal of the record itself', async (t) => {
  for (const code of ['KV_UNREACHABLE', 'KV_TIMEOUT', 'KV_STORAGE', 'KV_HINTS_FULL', 'KV_SHUTTING_DOWN', undefined]) t.ok(standInMayHelp(code), `${code}`);
  for (const code of ['KV_TOO_MANY_SIBLINGS', 'KV_BAD_REQUEST', 'KV_LINE_TOO_LONG']) t.notOk(standInMayHelp(code), code);
});

t.test('reads ask this node first, then healthy replicas, then those that just failed', async (t) => {
  t.same(
    readOrder(['b', 'c', 'a'], 'a', (name) => name === 'b'),
    ['a', 'c', 'b'],
  );
  t.same(
    readOrder(['b', 'c', 'd'], 'x', () => false),
    ['b', 'c', 'd'],
    'preference order kept otherwise',
  );
});
