import t from 'tap';
import { KeyedLock } from '../../src/env/keyed-lock.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('calls for one key run one at a time, in arrival order; other keys do not wait', async (t) => {
  const lock = new KeyedLock();
  const log: string[] = [];
  let inside = 0;
  let most = 0;
  const task = (key: string, name: string, turns: number) =>
    lock.run(key, async () => {
      inside++;
      most = Math.max(most, inside);
      log.push(`${name}+`);
      for (let i = 0; i < turns; i++) await turn();
      log.push(`${name}-`);
      inside--;
      return name;
    });
  const results = await Promise.all([task('a', 'a1', 3), task('a', 'a2', 1), task('b', 'b1', 1), task('a', 'a3', 0)]);
  t.same(results, ['a1', 'a2', 'b1', 'a3']);
  const aOnly = log.filter((x) => x.startsWith('a'));
  t.same(aOnly, ['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-'], 'key a: one after another, in order');
  t.ok(log.indexOf('b1-') < log.indexOf('a1-'), 'key b ran while a1 held key a');
  t.equal(most, 2, 'two keys held at once, never two holders of one key');
  t.equal((lock as unknown as { waiting: Map<string, unknown> }).waiting.size, 0, 'nothing held once idle');
});

t.test('a failing call releases the key to the next caller', async (t) => {
  const lock = new KeyedLock();
  const failed = lock.run('k', async () => {
    await turn();
    throw new Error('boom');
  });
  const next = lock.run('k', async () => 'ran');
  await t.rejects(failed, /boom/);
  t.equal(await next, 'ran');
  t.equal((lock as unknown as { waiting: Map<string, unknown> }).waiting.size, 0);
});
