/**
 * Replica planning: which replicas a request uses in strict and sloppy mode, and the sizes of
 * W and R against N and the ring.
 */
import t from 'tap';
import type { ClusterSettings } from '../../src/config.js';
import { copiesPerKey, planReplicas, quorumSize } from '../../src/quorum/plan.js';
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
