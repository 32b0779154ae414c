/**
 * The coordinator's short memory of peers that just failed: remembered for its window, forgotten
 * after it or on an answer in time, on an injected time.
 */
import t from 'tap';
import { RecentFailures } from '../../src/quorum/recent-failures.js';

t.test('a failure is remembered for the window, then forgotten', async (t) => {
  const recent = new RecentFailures(3000);
  t.notOk(recent.has('n2', 0), 'nothing failed yet');
  recent.failed('n2', 1000);
  t.ok(recent.has('n2', 1000));
  t.ok(recent.has('n2', 3999), 'just before the window ends');
  t.notOk(recent.has('n3', 2000), 'only the peer that failed');
  t.same(recent.list(2000), ['n2']);
  t.notOk(recent.has('n2', 4000), 'the window has passed');
  t.same(recent.list(4000), []);
});

t.test('a new failure extends the window; an answer in time forgets it at once', async (t) => {
  const recent = new RecentFailures(3000);
  recent.failed('n2', 0);
  recent.failed('n2', 2000);
  t.ok(recent.has('n2', 4500), 'counted from the latest failure');
  recent.answered('n2');
  t.notOk(recent.has('n2', 4500), 'it answered: planned as healthy again');
  recent.answered('n9');
  t.notOk(recent.has('n9', 4500), 'an answer from a peer never remembered changes nothing');
});
