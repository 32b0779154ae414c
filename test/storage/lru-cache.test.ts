import t from 'tap';
import { LruCache } from '../../src/storage/lru-cache.js';
import { seededRandom } from '../helpers/random.js';

const keysOf = (c: LruCache<string, unknown>, candidates: string[]): string[] => candidates.filter((k) => c.has(k));

t.test('evicts least recently used first, within the byte budget', async (t) => {
  const c = new LruCache<string, number>(100);
  c.set('a', 1, 40);
  c.set('b', 2, 40);
  t.equal(c.bytes, 80);
  t.equal(c.size, 2);
  c.set('c', 3, 40); // 120 > 100: evict a
  t.same(keysOf(c, ['a', 'b', 'c']), ['b', 'c']);
  t.equal(c.bytes, 80);
  c.set('d', 4, 60); // 140: evict b, then 100 fits
  t.same(keysOf(c, ['a', 'b', 'c', 'd']), ['c', 'd']);
  t.equal(c.bytes, 100, 'exactly at the budget is allowed');
  c.set('e', 5, 100); // evict everything else
  t.same(keysOf(c, ['c', 'd', 'e']), ['e']);
  t.equal(c.bytes, 100);
});

t.test('get refreshes recency, peek does not', async (t) => {
  const c = new LruCache<string, string>(30);
  c.set('a', 'A', 10);
  c.set('b', 'B', 10);
  c.set('c', 'C', 10);
  t.equal(c.get('a'), 'A');
  c.set('d', 'D', 10); // b is now the oldest
  t.same(keysOf(c, ['a', 'b', 'c', 'd']), ['a', 'c', 'd']);
  t.equal(c.peek('c'), 'C');
  c.set('e', 'E', 10); // c is the oldest despite the peek
  t.same(keysOf(c, ['a', 'c', 'd', 'e']), ['a', 'd', 'e']);
  t.equal(c.hits, 1, 'peek counted nothing');
  t.equal(c.misses, 0);
  t.equal(c.peek('zzz'), undefined);
  t.equal(c.misses, 0, 'a peek miss is not counted');
});

t.test('an entry over the whole budget is not cached and drops the old one', async (t) => {
  const c = new LruCache<string, string>(50);
  c.set('a', 'small', 10);
  c.set('b', 'other', 10);
  c.set('a', 'huge', 51);
  t.equal(c.peek('a'), undefined, 'the stale value is not served');
  t.equal(c.has('a'), false);
  t.equal(c.peek('b'), 'other', 'others untouched');
  t.equal(c.bytes, 10);
  c.set('x', 'huge', 1000);
  t.equal(c.size, 1);
});

t.test('replacement accounting', async (t) => {
  const c = new LruCache<string, string>(100);
  c.set('a', 'v1', 30);
  c.set('a', 'v2', 50);
  t.equal(c.bytes, 50, 'old weight removed');
  t.equal(c.size, 1);
  t.equal(c.peek('a'), 'v2');
  c.set('b', 'b', 40);
  c.set('a', 'v3', 10); // replacement also makes a the most recent
  c.set('c', 'c', 55); // 105: evict b (oldest now), not a
  t.same(keysOf(c, ['a', 'b', 'c']), ['a', 'c']);
  t.equal(c.bytes, 65);
  c.delete('a');
  c.delete('a');
  c.delete('never');
  t.equal(c.bytes, 55, 'delete is idempotent');
  t.equal(c.size, 1);
});

t.test('hit ratio', async (t) => {
  const c = new LruCache<string, number>(100);
  t.equal(c.hitRatio, 0, '0 before any lookup');
  c.set('a', 0, 1);
  t.equal(c.get('a'), 0, 'falsy values are hits');
  c.get('a');
  c.get('a');
  c.get('b');
  t.equal(c.hits, 3);
  t.equal(c.misses, 1);
  t.equal(c.hitRatio, 0.75);
});

t.test('zero-byte entries and zero budget', async (t) => {
  const c = new LruCache<string, string>(0);
  c.set('a', 'x', 0);
  t.equal(c.peek('a'), 'x', 'a weightless entry fits a zero budget');
  c.set('b', 'y', 1);
  t.equal(c.has('b'), false);
});

t.test('property: matches a reference model under random operations', async (t) => {
  for (let seed = 1; seed <= 100; seed++) {
    const rand = seededRandom(seed);
    const budget = 1 + Math.floor(rand() * 200);
    const c = new LruCache<number, number>(budget);
    const model: { key: number; value: number; bytes: number }[] = []; // oldest first
    let hits = 0;
    let misses = 0;
    const problems: string[] = [];
    for (let step = 0; step < 300 && problems.length === 0; step++) {
      const key = Math.floor(rand() * 20);
      const roll = rand();
      if (roll < 0.45) {
        const bytes = Math.floor(rand() * budget * 0.6) + (rand() < 0.05 ? budget : 0);
        c.set(key, step, bytes);
        const at = model.findIndex((e) => e.key === key);
        if (at >= 0) model.splice(at, 1);
        if (bytes <= budget) {
          model.push({ key, value: step, bytes });
          let used = model.reduce((s, e) => s + e.bytes, 0);
          while (used > budget) used -= model.shift()!.bytes;
        }
      } else if (roll < 0.85) {
        const got = c.get(key);
        const at = model.findIndex((e) => e.key === key);
        const want = at >= 0 ? model[at]!.value : undefined;
        if (at >= 0) {
          hits++;
          model.push(...model.splice(at, 1));
        } else misses++;
        if (got !== want) problems.push(`step ${step}: get(${key}) = ${got}, want ${want}`);
      } else if (roll < 0.95) {
        const got = c.peek(key);
        const want = model.find((e) => e.key === key)?.value;
        if (got !== want) problems.push(`step ${step}: peek(${key}) = ${got}, want ${want}`);
      } else {
        c.delete(key);
        const at = model.findIndex((e) => e.key === key);
        if (at >= 0) model.splice(at, 1);
      }
      const used = model.reduce((s, e) => s + e.bytes, 0);
      if (c.bytes !== used) problems.push(`step ${step}: bytes ${c.bytes}, want ${used}`);
      if (c.bytes > budget) problems.push(`step ${step}: over budget ${c.bytes} > ${budget}`);
      if (c.size !== model.length) problems.push(`step ${step}: size ${c.size}, want ${model.length}`);
    }
    if (c.hits !== hits || c.misses !== misses) problems.push(`hits/misses ${c.hits}/${c.misses}, want ${hits}/${misses}`);
    t.same(problems, [], `seed=${seed} budget=${budget}`);
  }
});
