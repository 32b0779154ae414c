/** The byte budgets and clocks of server connections, on their own (time passed in). */
import t from 'tap';
import {
  ConnectionClock,
  type ConnectionState,
  InputBudget,
  incomingPeerIdleMs,
  leastRecentlyActive,
  Priority,
  ReplySizeEstimate,
  SharedBudget,
} from '../../src/net/connection-budget.js';

t.test('the reply estimate starts pessimistic, falls to the largest recent reply, never below its floor', async (t) => {
  const estimate = new ReplySizeEstimate(1_400_000, 1000, 4);
  t.equal(estimate.bytes, 1_400_000, 'before any reply: the largest possible');
  for (let i = 0; i < 3; i++) estimate.record(10);
  t.equal(estimate.bytes, 1_400_000, 'a block not yet complete keeps the previous block');
  estimate.record(10);
  t.equal(estimate.bytes, 1000, 'a whole block of small replies: the floor');
  estimate.record(50_000);
  t.equal(estimate.bytes, 50_000, 'one large reply raises it at once');
  for (let i = 0; i < 3; i++) estimate.record(10);
  t.equal(estimate.bytes, 50_000, 'kept while its block is the previous one');
  for (let i = 0; i < 4; i++) estimate.record(10);
  t.equal(estimate.bytes, 1000, 'forgotten two blocks later');
});

t.test('the shared budget gives room in FIFO order, peers first, and always to the first in line when nothing is held', async (t) => {
  const budget = new SharedBudget<string>(100);
  t.ok(budget.take('a', 60, Priority.busyClient));
  t.notOk(budget.take('b', 60, Priority.busyClient), 'no room: b waits');
  t.equal(budget.head(), 'b');
  t.notOk(budget.take('c', 10, Priority.busyClient), 'room for c, but b waits ahead of it');
  t.notOk(budget.take('p', 10, Priority.peer), 'a peer waits too, but ahead of clients');
  t.equal(budget.head(), 'p');
  t.equal(budget.waits, 3);
  budget.release(60);
  t.ok(budget.take('p', 10, Priority.peer), 'the peer first');
  t.equal(budget.head(), 'b');
  t.notOk(budget.take('c', 10, Priority.busyClient), 'c still behind b');
  t.ok(budget.take('b', 60, Priority.busyClient));
  t.ok(budget.take('c', 10, Priority.busyClient), 'then c');
  t.equal(budget.held, 80);
  t.equal(budget.waiting, 0);
  budget.release(80);
  t.ok(budget.take('big', 500, Priority.busyClient), 'nothing held: a request larger than the limit still runs');
  t.notOk(budget.take('small', 1, Priority.busyClient), 'and the next one waits for it');
  budget.add(40);
  t.equal(budget.held, 540, 'bytes already spent are counted, never refused');
  budget.leave('small');
  t.equal(budget.head(), undefined, 'a connection that closed leaves the line');
});

t.test('a connection taking turns goes to the back of the line after each request', async (t) => {
  const budget = new SharedBudget<string>(100);
  t.ok(budget.take('x', 90, Priority.busyClient));
  t.notOk(budget.take('a', 30, Priority.busyClient));
  t.notOk(budget.take('b', 30, Priority.busyClient));
  budget.release(90);
  t.ok(budget.take('a', 30, Priority.busyClient), 'a got room');
  t.notOk(budget.take('a', 30, Priority.busyClient), "a's next request queues behind b");
  t.equal(budget.head(), 'b');
  t.ok(budget.take('b', 30, Priority.busyClient));
  t.ok(budget.take('a', 30, Priority.busyClient));
});

t.test('a client with nothing running goes ahead of busy ones; a waiting connection that becomes quiet moves up', async (t) => {
  const budget = new SharedBudget<string>(100);
  t.ok(budget.take('flood', 100, Priority.busyClient));
  t.notOk(budget.take('busy1', 50, Priority.busyClient));
  t.notOk(budget.take('busy2', 50, Priority.busyClient));
  t.notOk(budget.take('ping', 50, Priority.quietClient));
  t.equal(budget.head(), 'ping', 'one request of a quiet client waits for one reply to drain, not for every busy connection');
  t.notOk(budget.take('busy2', 50, Priority.quietClient), 'busy2 became quiet while it waited');
  t.equal(budget.waits, 3, 'moving up is not another wait');
  budget.release(100);
  t.ok(budget.take('ping', 50, Priority.quietClient));
  t.notOk(budget.take('busy1', 50, Priority.busyClient), 'busy2 is ahead now');
  t.ok(budget.take('busy2', 50, Priority.quietClient));
});

t.test('input over the limit pauses connections holding part of a line, FIFO', async (t) => {
  const input = new InputBudget<string>(100);
  t.ok(input.hold('a', 60, true), 'within the limit');
  t.notOk(input.hold('b', 60, true), 'over it while a reads: b pauses');
  t.notOk(input.hold('c', 10, true), 'c too, behind b');
  t.equal(input.waits, 2);
  t.notOk(input.hold('b', 60, true), 'b stays paused until room frees');
  t.ok(input.hold('d', 5000, false), 'a whole line never waits here');
  t.equal(input.held, 5130);
  input.hold('d', 0, false);
  t.same(input.resumable(10), [], 'still over the limit, and a reads');
  input.hold('a', 0, false);
  t.equal(input.held, 70);
  t.same(input.resumable(10), ['b', 'c'], 'a finished its line: room again, in the order they paused');
  t.equal(input.pausedCount, 0);
});

t.test('room is handed to as many paused connections as it holds reads for, not to all at once', async (t) => {
  const input = new InputBudget<string>(100);
  t.ok(input.hold('a', 50, true));
  for (const c of ['b', 'c', 'd']) t.notOk(input.hold(c, c === 'b' ? 60 : 1, true), `${c} pauses`);
  input.drop('a');
  t.equal(input.held, 62);
  t.same(input.resumable(20), ['b', 'c'], '62 held, and each resumed may read 20 more: room for two');
  t.notOk(input.hold('c', 40, true), 'c reads 39 more: over the limit while b reads, so it pauses again');
  t.same(input.resumable(20), [], 'd waits: 101 held');
});

t.test('when every connection holding part of a line is paused, the first one resumes: no deadlock', async (t) => {
  const input = new InputBudget<string>(100);
  t.ok(input.hold('a', 90, true));
  t.notOk(input.hold('b', 90, true), 'b pauses while a reads');
  t.notOk(input.hold('c', 90, true));
  input.drop('a'); // a closed (read timeout, or finished with nothing after its line)
  t.equal(input.held, 180, 'still over the limit');
  t.same(input.resumable(10), ['b'], 'but no one reads: b resumes, and only b');
  t.same(input.resumable(10), [], 'c waits while b reads');
});

const state = (over: Partial<ConnectionState> = {}): ConnectionState => ({ partialBytes: 0, unsentBytes: 0, busy: false, idle: 'client', ...over });
const limits = { readTimeoutMs: 1000, sendTimeoutMs: 2000, idleTimeoutMs: 5000, peerIdleTimeoutMs: 3000 };

t.test('read timeout: part of a line and no byte since', async (t) => {
  const clock = new ConnectionClock(0);
  t.equal(clock.overdue(state({ partialBytes: 10 }), 999, limits), undefined);
  t.equal(clock.overdue(state({ partialBytes: 10 }), 1000, limits), 'read');
  clock.received(900);
  t.equal(clock.overdue(state({ partialBytes: 10 }), 1500, limits), undefined, 'a byte restarts it');
  t.equal(clock.overdue(state({ partialBytes: 10 }), 1500, { ...limits, readTimeoutMs: 0 }), undefined, '0: never');
  t.equal(clock.overdue(state({ busy: true }), 4000, limits), undefined, 'no partial line: the read timeout does not apply');
});

t.test('send timeout: replies pending and none taken since', async (t) => {
  const clock = new ConnectionClock(0);
  clock.owes(true, 1000);
  t.equal(clock.overdue(state({ unsentBytes: 5, busy: true }), 2999, limits), undefined, 'counted from when replies became pending');
  t.equal(clock.overdue(state({ unsentBytes: 5, busy: true }), 3000, limits), 'send');
  clock.sent(2500);
  t.equal(clock.overdue(state({ unsentBytes: 5 }), 4000, limits), undefined, 'a flush restarts it');
  t.equal(clock.overdue(state({ unsentBytes: 5 }), 4500, limits), 'send');
  clock.owes(false, 4500);
  t.equal(clock.overdue(state(), 4600, limits), undefined);
});

t.test('idle timeout: nothing pending and no bytes either way (clients)', async (t) => {
  const clock = new ConnectionClock(0);
  t.equal(clock.overdue(state(), 4999, limits), undefined);
  t.equal(clock.overdue(state(), 5000, limits), 'idle');
  t.equal(clock.overdue(state({ idle: 'none' }), 5000, limits), undefined, 'a candidate or a closing connection: never idle');
  t.equal(clock.overdue(state({ busy: true }), 5000, limits), undefined, 'a request running is not idle');
  t.equal(clock.overdue(state(), 5000, { ...limits, idleTimeoutMs: 0 }), undefined, '0: never');
  clock.sent(3000);
  t.equal(clock.overdue(state(), 7999, limits), undefined, 'bytes sent count as activity');
  clock.received(6000);
  t.equal(clock.overdue(state(), 10_999, limits), undefined, 'and bytes received');
  t.equal(clock.overdue(state(), 11_000, limits), 'idle');
});

t.test("a peer's connection is closed quiet after twice the peer idle timeout: the node that opened it closes it first", async (t) => {
  const clock = new ConnectionClock(0);
  const peer = state({ idle: 'peer' });
  t.equal(incomingPeerIdleMs(limits), 6000);
  t.equal(clock.overdue(peer, 5999, limits), undefined, 'the client idle timeout (5 s) does not apply to peers');
  t.equal(clock.overdue(peer, 6000, limits), 'peerIdle');
  t.equal(clock.overdue(state({ idle: 'peer', busy: true }), 60_000, limits), undefined, 'a request running: never');
  t.equal(clock.overdue(state({ idle: 'peer', unsentBytes: 1 }), 1000, { ...limits, sendTimeoutMs: 0 }), undefined, 'a reply owed: never');
  t.equal(clock.overdue(peer, 60_000, { ...limits, peerIdleTimeoutMs: 0 }), undefined, '0: never');
  clock.received(4000);
  t.equal(clock.overdue(peer, 9999, limits), undefined, 'bytes restart it');
  t.equal(clock.overdue(peer, 10_000, limits), 'peerIdle');
  t.equal(clock.overdue(state({ idle: 'client' }), 10_000, { ...limits, idleTimeoutMs: 0 }), undefined, "and the peers' timeout does not apply to clients");
});

t.test('the peer connection to close for room: the quiet one whose bytes moved least recently; none when all are busy', async (t) => {
  const connection = (lastActiveAt: number, over: Partial<ConnectionState> = {}) => {
    const clock = new ConnectionClock(0);
    clock.received(lastActiveAt);
    return { name: `at ${lastActiveAt}`, clock, state: state({ idle: 'peer', ...over }) };
  };
  const view = (c: ReturnType<typeof connection>) => c;
  const oldBusy = connection(100, { busy: true });
  const oldOwing = connection(150, { unsentBytes: 10 });
  const oldPartial = connection(160, { partialBytes: 3 });
  const quietNewer = connection(500);
  const quietOlder = connection(300);
  t.equal(leastRecentlyActive([oldBusy, oldOwing, oldPartial, quietNewer, quietOlder], view)?.name, 'at 300', 'busy, owing and half-read ones are passed over');
  const sentLater = connection(200);
  sentLater.clock.sent(900);
  t.equal(leastRecentlyActive([sentLater, quietNewer], view)?.name, 'at 500', 'bytes sent count as activity');
  t.equal(leastRecentlyActive([oldBusy, oldOwing, oldPartial], view), undefined, 'every one busy: none');
  t.equal(leastRecentlyActive([], view), undefined);
});
