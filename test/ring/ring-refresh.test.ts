/**
 * Ring changes heard by gossip apply at most once per interval: the first after a quiet interval
 * at once, those within the interval together when it ends, from the table as it is then.
 */
import t from 'tap';
import { VirtualClock } from '../../src/env/clock.js';
import { ClusterState } from '../../src/membership/cluster-state.js';
import { type MemberInfo, MemberTable, newMember } from '../../src/membership/member-table.js';
import { RingRefresh } from '../../src/node/ring-refresh.js';
import { Ring } from '../../src/ring/index.js';

const INTERVAL = 200;

function setup() {
  const clock = new VirtualClock(1_700_000_000_000);
  const member = (name: string, i: number): MemberInfo => newMember({ name, addr: `127.0.0.1:${7000 + i}`, incarnation: 'x', generation: 1, weight: 1 });
  const table = new MemberTable(member('seed', 0), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, clock.now());
  const state = new ClusterState({ id: 'c', settings: { n: 3, w: 2, r: 2, consistency: 'sloppy' } }, table);
  const rings: string[] = [];
  const refresh = new RingRefresh({ state, clock, intervalMs: INTERVAL, onChanged: () => rings.push(state.ring.id) });
  /** A merge that hears of node `i`, as gossip reports it. */
  const join = (i: number) => {
    if (table.merge([member(`node-${i}`, i)], clock.now()).ringChanged) refresh.request();
  };
  return { clock, table, state, refresh, rings, join };
}

t.test('the first change applies at once; a burst within the interval applies once, when it ends', async (t) => {
  const { clock, table, state, refresh, rings, join } = setup();
  join(1);
  t.equal(state.ring.size, 2, 'a lone join is in the ring at once');
  t.equal(rings.length, 1);
  // 99 more joins over the next 1,000 ms, ten per 100 ms.
  for (let i = 2; i <= 100; i++) {
    join(i);
    if (i % 10 === 0) clock.advance(100);
  }
  clock.advance(INTERVAL);
  t.equal(state.ring.size, 101, 'every join is in the ring one interval after the last');
  t.same(state.ring.id, new Ring(table.ringMembers()).id, 'the ring of the table as it is');
  t.ok(refresh.changes <= 1 + Math.ceil(1000 / INTERVAL) + 1, `${refresh.changes} ring changes for 100 joins over 1 s (at most one per ${INTERVAL} ms)`);
  t.equal(rings.length, refresh.changes, 'onChanged once per change');
  // Quiet for an interval: the next change applies at once again.
  clock.advance(INTERVAL);
  join(500);
  t.equal(state.ring.size, 102, 'after a quiet interval, a join applies at once');
});

t.test('changes are spaced by the interval, and a burst that ends up where it began changes nothing', async (t) => {
  const { clock, table, state, refresh, join } = setup();
  const applied: number[] = [];
  const original = state.refreshRing.bind(state);
  state.refreshRing = () => {
    applied.push(clock.now());
    return original();
  };
  for (let step = 0; step < 40; step++) {
    join(step + 1);
    clock.advance(25);
  }
  clock.advance(INTERVAL);
  const gaps = applied.slice(1).map((at, i) => at - (applied[i] as number));
  t.ok(
    gaps.every((gap) => gap >= INTERVAL),
    `recomputed at gaps of ${[...new Set(gaps)].join(', ')} ms`,
  );
  t.equal(state.ring.size, 41);
  // A join heard right after a change, and the node removed again before the interval ends:
  // the ring is recomputed once, from the table as it is then, and does not change.
  clock.advance(INTERVAL);
  join(41);
  t.equal(state.ring.size, 42, 'a join after a quiet interval applies at once');
  const before = state.ring;
  const changes = refresh.changes;
  join(42);
  t.ok(table.remove('node-42'), 'removed before the interval ends');
  refresh.request();
  clock.advance(INTERVAL);
  t.equal(state.ring, before, 'the same ring: nothing to apply');
  t.equal(refresh.changes, changes, 'and no transfer or tree rebuild started');
});

t.test('stop cancels a refresh that is due', async (t) => {
  const { clock, state, refresh, join } = setup();
  join(1);
  join(2);
  t.equal(state.ring.size, 2, 'the second join waits');
  refresh.stop();
  clock.advance(10 * INTERVAL);
  t.equal(state.ring.size, 2, 'and never applies once stopped');
  join(3);
  clock.advance(10 * INTERVAL);
  t.equal(state.ring.size, 2, 'nor do later ones');
});
