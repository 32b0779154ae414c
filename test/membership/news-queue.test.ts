import t from 'tap';
import { type MemberInfo, newMember } from '../../src/membership/index.js';
import { NewsQueue, retransmitLimit } from '../../src/membership/news-queue.js';

function info(name: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { ...newMember({ name, addr: `${name}:7070`, incarnation: `inc-${name}`, generation: 1000, weight: 1 }), heartbeat: 1, ...over };
}

t.test('each item goes out a bounded number of times, growing with log10 of the cluster', async (t) => {
  t.same([retransmitLimit(1), retransmitLimit(9), retransmitLimit(10), retransmitLimit(1000)], [6, 6, 12, 24]);
  const queue = new NewsQueue();
  queue.addMember(info('a'));
  let sends = 0;
  while (queue.size > 0 && sends < 100) {
    t.same(
      queue.take(1 << 20, 5).members.map((m) => m.name),
      ['a'],
    );
    sends++;
  }
  t.equal(sends, retransmitLimit(5));
  t.same(queue.take(1 << 20, 5), { members: [], suspects: [] }, 'then it is gone');
});

t.test('least-sent first, within the byte budget (at least one item)', async (t) => {
  const queue = new NewsQueue();
  for (const name of ['a', 'b', 'c']) queue.addMember(info(name));
  const one = JSON.stringify(info('a')).length;
  t.same(
    queue.take(one, 100).members.map((m) => m.name),
    ['a'],
    'one entry fits',
  );
  t.same(
    queue.take(2 * one, 100).members.map((m) => m.name),
    ['b', 'c'],
    'the unsent ones come first',
  );
  t.same(
    queue.take(1, 100).members.map((m) => m.name),
    ['a'],
    'a budget below one item still takes one',
  );
  queue.addMember(info('d'));
  t.same(queue.take(one, 100).members[0]?.name, 'd', 'a new item goes before those sent already');
});

t.test('a newer entry replaces an older one and starts over; an entry with a later refutation drops the suspicions it refutes', async (t) => {
  const queue = new NewsQueue();
  queue.addMember(info('a', { heartbeat: 1 }));
  queue.take(1 << 20, 5);
  queue.addMember(info('a', { heartbeat: 2 }));
  t.equal(queue.size, 1, 'one item a member');
  const taken = queue.take(1 << 20, 5);
  t.same(
    taken.members.map((m) => m.heartbeat),
    [2],
  );
  queue.addSuspicion(['b', 1000, 3, 'x']);
  queue.addMember(info('b', { heartbeat: 5, version: 3, refuted: 3 }));
  t.same(queue.take(1 << 20, 5).suspects, [['b', 1000, 3, 'x']], 'an entry of the refutation suspected leaves the suspicion');
  queue.addMember(info('b', { heartbeat: 6, version: 6, refuted: 6 }));
  const after = queue.take(1 << 20, 5);
  t.same(after.suspects, [], 'a later refutation: the suspicion goes');
  t.same(after.members.map((m) => m.name).sort(), ['a', 'b']);
});
