/**
 * MemoryStore specifics. The Store contract itself (get/write/entries/close) is checked by the
 * conformance suite in test/contracts/, which runs against MemoryStore and LevelStore alike.
 */
import t from 'tap';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { seededRandom } from '../helpers/random.js';

t.test('entries order equals Buffer.compare order for random binary keys', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const rand = seededRandom(seed);
    const s = new MemoryStore();
    const keys = new Map<string, Buffer>();
    for (let i = 0; i < 100; i++) {
      const key = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 256)));
      keys.set(key.toString('hex'), key);
    }
    await s.write([...keys.values()].map((key) => ({ type: 'put' as const, key, value: key })));
    const lo = Buffer.from([Math.floor(rand() * 128)]);
    const hi = Buffer.from([128 + Math.floor(rand() * 128)]);
    const want = [...keys.values()]
      .filter((k) => Buffer.compare(k, lo) >= 0 && Buffer.compare(k, hi) < 0)
      .sort(Buffer.compare)
      .map((k) => k.toString('hex'));
    const got: string[] = [];
    let valuesMatch = true;
    for await (const [k, v] of s.entries(lo, hi)) {
      got.push(k.toString('hex'));
      if (!k.equals(v)) valuesMatch = false;
    }
    t.same(got, want, `seed=${seed}`);
    t.ok(valuesMatch, `seed=${seed}: values match keys`);
  }
});

t.test('write copies the value at call time', async (t) => {
  const s = new MemoryStore();
  const value = Buffer.from('original');
  const pending = s.write([{ type: 'put', key: Buffer.from('k'), value }]);
  value.fill(0x21);
  await pending;
  t.equal((await s.get(Buffer.from('k')))?.toString(), 'original');
});

t.test('keys that differ only in bytes >= 0x80 stay distinct', async (t) => {
  const s = new MemoryStore();
  const k1 = Buffer.from([0xc3, 0xa9]); // 'é' in UTF-8
  const k2 = Buffer.from([0xe9]); // 'é' in latin1
  await s.write([
    { type: 'put', key: k1, value: Buffer.from('utf8') },
    { type: 'put', key: k2, value: Buffer.from('latin1') },
  ]);
  t.equal((await s.get(k1))?.toString(), 'utf8');
  t.equal((await s.get(k2))?.toString(), 'latin1');
});

t.test('a key deleted while iterating is skipped', async (t) => {
  const s = new MemoryStore();
  await s.write(['a', 'b', 'c'].map((k) => ({ type: 'put' as const, key: Buffer.from(k), value: Buffer.from(k) })));
  const seen: string[] = [];
  for await (const [k] of s.entries(Buffer.from('a'), Buffer.from('z'))) {
    seen.push(k.toString());
    if (k.toString() === 'a') await s.write([{ type: 'del', key: Buffer.from('b') }]);
  }
  t.same(seen, ['a', 'c']);
});

t.test('diskBytes is 0 and close resolves', async (t) => {
  const s = new MemoryStore();
  await s.write([{ type: 'put', key: Buffer.from('a'), value: Buffer.alloc(1000) }]);
  t.equal(await s.diskBytes(), 0);
  await t.resolves(s.close());
});
