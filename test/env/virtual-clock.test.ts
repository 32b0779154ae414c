/**
 * VirtualClock: timers fire in time order, ties in creation order, timers set while advancing fire
 * in the same advance when due, cancelled timers never fire, and cancelled entries do not pile up.
 */
import t from 'tap';
import { every, VirtualClock } from '../../src/env/clock.js';
import { SeededRandom } from '../../src/env/random.js';

t.test('timers fire in time order, ties in creation order', async (t) => {
  const clock = new VirtualClock(100);
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push('c30'));
  clock.setTimer(10, () => fired.push('a10'));
  clock.setTimer(20, () => fired.push('b20-first'));
  clock.setTimer(20, () => fired.push('b20-second'));
  clock.setTimer(0, () => fired.push('now'));
  clock.setTimer(20, () => fired.push('b20-third'));
  clock.advance(25);
  t.same(fired, ['now', 'a10', 'b20-first', 'b20-second', 'b20-third'], 'due timers in order, ties as created');
  t.equal(clock.now(), 125, 'the clock stands at the target');
  clock.advance(5);
  t.same(fired.slice(5), ['c30'], 'a timer due exactly at the target fires');
});

t.test('each timer fires at its own time, seen through now()', async (t) => {
  const clock = new VirtualClock(0);
  const seen: number[] = [];
  for (const delay of [7, 3, 5]) clock.setTimer(delay, () => seen.push(clock.now()));
  clock.advance(10);
  t.same(seen, [3, 5, 7]);
});

t.test('timers set while advancing fire in the same advance when due, after earlier ties', async (t) => {
  const clock = new VirtualClock(0);
  const fired: string[] = [];
  clock.setTimer(5, () => {
    fired.push('outer');
    clock.setTimer(0, () => fired.push('deferred'));
    clock.setTimer(3, () => fired.push('nested+3'));
    clock.setTimer(100, () => fired.push('too late'));
  });
  clock.setTimer(5, () => fired.push('outer tie'));
  clock.setTimer(8, () => fired.push('old+8'));
  clock.advance(10);
  t.same(fired, ['outer', 'outer tie', 'deferred', 'old+8', 'nested+3'], 'a new timer with the same time as an older one fires after it');
  t.equal(clock.pendingTimers, 1, 'the later one waits');
});

t.test('cancelled timers never fire; cancelling twice or after firing is harmless', async (t) => {
  const clock = new VirtualClock(0);
  const fired: number[] = [];
  const timers = Array.from({ length: 10 }, (_, i) => clock.setTimer(i, () => fired.push(i)));
  timers[3]?.cancel();
  timers[3]?.cancel();
  timers[0]?.cancel();
  clock.setTimer(4, () => timers[6]?.cancel()); // cancelled by an earlier timer in the same advance
  clock.advance(5);
  timers[1]?.cancel(); // fired already
  t.equal(clock.pendingTimers, 3, 'only 7, 8, 9 pending');
  clock.advance(10);
  t.same(fired, [1, 2, 4, 5, 7, 8, 9]);
  t.equal(clock.pendingTimers, 0);
  t.equal(clock.heapEntries, 0, 'nothing left behind');
});

t.test('cancelled entries are compacted, so memory follows the pending timers', async (t) => {
  const clock = new VirtualClock(0);
  const keep = Array.from({ length: 100 }, (_, i) => clock.setTimer(1_000_000 + i, () => {}));
  let maxEntries = 0;
  // A timeout per request, each cancelled by its reply: a million of them, never popped by an advance.
  for (let i = 0; i < 1_000_000; i++) {
    clock.setTimer(500_000 + i, () => {}).cancel();
    maxEntries = Math.max(maxEntries, clock.heapEntries);
  }
  t.equal(clock.pendingTimers, 100);
  t.ok(maxEntries <= 2 * 1024 + 200, `the heap stayed small (max ${maxEntries} entries)`);
  for (const timer of keep.slice(50)) timer.cancel();
  t.equal(clock.pendingTimers, 50);
  const fired: number[] = [];
  clock.setTimer(0, () => fired.push(-1));
  clock.advance(2_000_000);
  t.same(fired, [-1]);
});

t.test('against a reference model: random sets, cancels and advances', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = new SeededRandom(seed);
    const clock = new VirtualClock(0);
    // The reference: a list scanned in full for each timer fired (the simplest correct clock).
    const model: { at: number; seq: number; id: number; cancelled: boolean }[] = [];
    const timers = new Map<number, { cancel(): void }>();
    const fired: number[] = [];
    const expected: number[] = [];
    const done = new Set<number>();
    let nextId = 0;
    let seq = 0;
    const set = (delay: number, nested: boolean) => {
      const id = nextId++;
      model.push({ at: clock.now() + delay, seq: seq++, id, cancelled: false }); // a nested timer counts from when it is set
      timers.set(
        id,
        clock.setTimer(delay, () => {
          fired.push(id);
          if (nested && random.next() < 0.3) set(random.int(20), false);
        }),
      );
    };
    for (let step = 0; step < 3000; step++) {
      const roll = random.next();
      if (roll < 0.6) set(random.int(200), true);
      else if (roll < 0.85 && nextId > 0) {
        const id = random.int(nextId);
        timers.get(id)?.cancel();
        const entry = model.find((m) => m.id === id);
        if (entry && !done.has(id)) entry.cancelled = true;
      } else {
        const target = clock.now() + random.int(50);
        // Drive the model and the clock by the same amount; the model learns of nested timers as the clock fires them.
        clock.advance(target - clock.now());
        for (;;) {
          let next: (typeof model)[number] | undefined;
          for (const m of model)
            if (!m.cancelled && !done.has(m.id) && m.at <= target && (!next || m.at < next.at || (m.at === next.at && m.seq < next.seq))) next = m;
          if (!next) break;
          expected.push(next.id);
          done.add(next.id);
        }
      }
    }
    t.same(fired, expected, `seed ${seed}: ${fired.length} timers fired as the reference fires them`);
  }
});

t.test('every() keeps its schedule on the heap clock', async (t) => {
  const clock = new VirtualClock(0);
  const runs: number[] = [];
  const periodic = every(
    clock,
    200,
    () => runs.push(clock.now()),
    () => {},
  );
  clock.advance(1000);
  periodic.stop();
  clock.advance(1000);
  t.same(runs, [200, 400, 600, 800, 1000]);
});
