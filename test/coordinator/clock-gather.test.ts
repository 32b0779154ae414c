/**
 * ClockGather, on virtual time: a plain write's clock gathering decides once enough replicas
 * answered, once every replica answered or failed, or at the deadline, and merges what it heard.
 */
import t from 'tap';
import { vectorEntries } from '../../src/clock/index.js';
import { ClockGather } from '../../src/coordinator/clock-gather.js';
import { VirtualClock } from '../../src/env/clock.js';

const ctx = (entries: [string, number][]) => new Map(entries);

/** Resolves with the gathered vector's entries, or 'pending' if not decided after microtasks ran. */
async function state(gather: ClockGather): Promise<[string, number][] | 'pending'> {
  let decided: [string, number][] | undefined;
  void gather.decided.then(({ clock }) => {
    decided = vectorEntries(clock);
  });
  await new Promise((resolve) => setImmediate(resolve));
  return decided ?? 'pending';
}

t.test('decides once `needed` replicas answered, with the merge of their vectors', async (t) => {
  const clock = new VirtualClock(0);
  const gather = new ClockGather(2, ['a', 'b', 'c'], clock, 1000);
  gather.answer('a', ctx([['a~1', 3]]));
  t.equal(await state(gather), 'pending', 'one of two answers is not enough');
  gather.answer(
    'b',
    ctx([
      ['a~1', 2],
      ['b~1', 5],
    ]),
  );
  t.same(
    await state(gather),
    [
      ['a~1', 3],
      ['b~1', 5],
    ],
    'the merge, entry by entry the larger counter',
  );
  gather.answer('c', ctx([['c~1', 9]]));
  t.same(
    await state(gather),
    [
      ['a~1', 3],
      ['b~1', 5],
    ],
    'a late answer changes nothing',
  );
});

t.test('a replica that holds nothing answers undefined: the empty vector', async (t) => {
  const gather = new ClockGather(1, ['a'], new VirtualClock(0), 1000);
  gather.answer('a', undefined);
  t.same(await state(gather), []);
});

t.test('failures count; all settled decides with what was heard', async (t) => {
  const gather = new ClockGather(2, ['a', 'b', 'c'], new VirtualClock(0), 1000);
  gather.fail('a');
  gather.fail('b');
  gather.fail('b');
  t.equal(await state(gather), 'pending', 'one replica still to answer (a second failure of one replica is not another)');
  gather.answer('c', ctx([['c~1', 1]]));
  t.same(await state(gather), [['c~1', 1]], 'decided with the one answer there was');
});

t.test('the deadline decides with what was heard by then', async (t) => {
  const clock = new VirtualClock(0);
  const gather = new ClockGather(2, ['a', 'b'], clock, 500);
  gather.answer('a', ctx([['a~1', 1]]));
  clock.advance(499);
  t.equal(await state(gather), 'pending');
  clock.advance(1);
  t.same(await state(gather), [['a~1', 1]]);
  t.same((await gather.decided).missed, ['b'], 'and names the replica that had not answered by then');
});

t.test('decided before the deadline, no replica is said to have missed it', async (t) => {
  const gather = new ClockGather(1, ['a', 'b'], new VirtualClock(0), 500);
  gather.answer('b', undefined);
  t.same((await gather.decided).missed, []);
});
