import t from 'tap';
import { judge, probeTimeoutMs, suspicionMs, suspicionTimeoutMs } from '../../src/membership/index.js';

const settings = { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 };

t.test('a member is alive until a probe goes unanswered, suspect then, down once suspected long enough', async (t) => {
  t.equal(judge({}, 10_000, settings, 3), 'alive');
  t.equal(judge({ unansweredSince: 0 }, 10_000, settings, 3), 'alive', 'unanswered probes alone (a lossy network) change nothing until suspected');
  t.equal(judge({ unansweredSince: 0, suspectedAt: 1000 }, 2499, settings, 3), 'suspect');
  t.equal(judge({ unansweredSince: 0, suspectedAt: 1000 }, 2500, settings, 3), 'down', 'down after downAfterMs - suspectAfterMs of suspicion');
  t.equal(judge({ suspectedAt: 1000 }, 2500, settings, 3), 'down', 'a peer’s suspicion counts the same');
});

t.test('a suspicion lasts longer in larger clusters (log10 of the members above 10)', async (t) => {
  t.equal(suspicionMs(settings, 1), 1500);
  t.equal(suspicionMs(settings, 10), 1500);
  t.ok(Math.abs(suspicionMs(settings, 100) - 3000) < 1e-9);
  t.ok(Math.abs(suspicionMs(settings, 1000) - 4500) < 1e-9);
  const confirmed = { suspectedAt: 0, suspectedBy: ['a', 'b', 'c'] };
  t.equal(judge(confirmed, 3000, settings, 1000), 'suspect', 'at 1,000 members, 3 s of confirmed suspicion is not yet down');
  t.equal(judge(confirmed, 4500, settings, 1000), 'down');
  t.equal(suspicionMs({ intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 1500 }, 3), 200, 'never shorter than a gossip round');
});

t.test('confirmations shorten a suspicion, from six times the shortest to the shortest at two (as memberlist)', async (t) => {
  const min = suspicionMs(settings, 100);
  t.equal(suspicionTimeoutMs(settings, 100, 0), 6 * min);
  t.ok(suspicionTimeoutMs(settings, 100, 1) < 6 * min && suspicionTimeoutMs(settings, 100, 1) > min);
  t.equal(suspicionTimeoutMs(settings, 100, 2), min);
  t.equal(suspicionTimeoutMs(settings, 100, 5), min, 'more count as two');
  t.equal(suspicionTimeoutMs(settings, 3, 0), suspicionMs(settings, 3), 'a cluster too small to confirm: the shortest');
  t.equal(judge({ suspectedAt: 0, suspectedBy: ['a'] }, 6 * min - 1, settings, 100), 'suspect');
  t.equal(judge({ suspectedAt: 0, suspectedBy: ['a', 'b', 'c'] }, min, settings, 100), 'down');
});

t.test('a probe waits two gossip intervals, at least 500 ms', async (t) => {
  t.equal(probeTimeoutMs(200), 500);
  t.equal(probeTimeoutMs(1000), 2000);
});
