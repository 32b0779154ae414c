/**
 * The Store contract (src/storage/store.ts) as a conformance suite, run by test/contracts/store.test.ts
 * against every implementation (the Level abstract-level style).
 */
import type { Test } from 'tap';
import type { Store } from '../../src/storage/store.js';

type T = Test;

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex = (x: Buffer | undefined): string | undefined => x?.toString('hex');

async function collect(store: Store, gte: Buffer, lt: Buffer): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of store.entries(gte, lt)) out.push([k.toString('hex'), v.toString('hex')]);
  return out;
}

/**
 * The Store contract (src/storage/store.ts), run against every implementation (the Level
 * abstract-level style). `open` returns a fresh, empty store; the suite closes it.
 */
export function storeConformance(t: T, name: string, open: (t: T) => Promise<Store>): void {
  t.test(`${name}: conformance`, async (t) => {
    t.test('keys lists the same keys as entries, in order, within the range', async (t) => {
      const s = await open(t);
      await s.write(['a', 'b1', 'b2', 'b3', 'c'].map((k) => ({ type: 'put' as const, key: b(k), value: b(`v${k}`) })));
      const keys: string[] = [];
      for await (const k of s.keys(b('b'), b('c'))) keys.push(k.toString('latin1'));
      t.same(keys, ['b1', 'b2', 'b3']);
      t.same(
        keys.map((k) => Buffer.from(k, 'latin1').toString('hex')),
        (await collect(s, b('b'), b('c'))).map(([k]) => k),
      );
      await s.close();
    });

    t.test('get of a missing key is undefined', async (t) => {
      const s = await open(t);
      t.equal(await s.get(b('nope')), undefined);
      await s.close();
    });

    t.test('put, overwrite, delete', async (t) => {
      const s = await open(t);
      await s.write([{ type: 'put', key: b('k'), value: b('v1') }]);
      t.equal(hex(await s.get(b('k'))), hex(b('v1')));
      await s.write([{ type: 'put', key: b('k'), value: b('v2') }]);
      t.equal(hex(await s.get(b('k'))), hex(b('v2')), 'overwritten');
      await s.write([{ type: 'del', key: b('k') }]);
      t.equal(await s.get(b('k')), undefined, 'deleted');
      await s.write([{ type: 'del', key: b('never-there') }]);
      t.pass('deleting a missing key is fine');
      await s.close();
    });

    t.test('binary keys and values, empty value', async (t) => {
      const s = await open(t);
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const keys = [Buffer.from([0]), Buffer.from([0xff, 0x00, 0xfe]), allBytes, Buffer.from('ключ', 'utf8')];
      await s.write(keys.map((key, i) => ({ type: 'put' as const, key, value: Buffer.concat([allBytes, Buffer.from([i])]) })));
      for (const [i, key] of keys.entries()) t.equal(hex(await s.get(key)), hex(Buffer.concat([allBytes, Buffer.from([i])])), `key ${i}`);
      await s.write([{ type: 'put', key: b('empty'), value: Buffer.alloc(0) }]);
      const empty = await s.get(b('empty'));
      t.ok(empty !== undefined && empty.length === 0, 'an empty value is present, not absent');
      t.same(await collect(s, b('empty'), b('emptz')), [[b('empty').toString('hex'), '']], 'and listed');
      await s.close();
    });

    t.test('ops in one write apply in order', async (t) => {
      const s = await open(t);
      await s.write([
        { type: 'put', key: b('a'), value: b('1') },
        { type: 'del', key: b('a') },
        { type: 'del', key: b('b') },
        { type: 'put', key: b('b'), value: b('2') },
        { type: 'put', key: b('c'), value: b('3') },
        { type: 'put', key: b('c'), value: b('4') },
      ]);
      t.equal(await s.get(b('a')), undefined);
      t.equal(hex(await s.get(b('b'))), hex(b('2')));
      t.equal(hex(await s.get(b('c'))), hex(b('4')));
      await s.close();
    });

    t.test('entries: [gte, lt) in bytewise order', async (t) => {
      const s = await open(t);
      const keys = [
        Buffer.from([0x61]),
        Buffer.from([0x61, 0x00]),
        Buffer.from([0x61, 0x62]),
        Buffer.from([0x61, 0x7f]),
        Buffer.from([0x61, 0x80]),
        Buffer.from([0x61, 0xff]),
        Buffer.from([0x62]),
        Buffer.from([0x00]),
        Buffer.from([0xff]),
      ];
      // Written in shuffled order, several writes.
      for (const i of [4, 0, 8, 2, 6, 1, 7, 3, 5]) await s.write([{ type: 'put', key: keys[i]!, value: Buffer.from([i]) }]);
      const sorted = [...keys].sort(Buffer.compare);
      const all = await collect(s, Buffer.alloc(0), Buffer.from([0xff, 0xff]));
      t.same(
        all.map(([k]) => k),
        sorted.map((k) => k.toString('hex')),
        'everything, bytewise ascending',
      );
      t.same(
        (await collect(s, Buffer.from([0x61]), Buffer.from([0x62]))).map(([k]) => k),
        ['61', '6100', '6162', '617f', '6180', '61ff'],
        'prefix range, lt exclusive',
      );
      t.same(
        (await collect(s, Buffer.from([0x61, 0x62]), Buffer.from([0x61, 0x80]))).map(([k]) => k),
        ['6162', '617f'],
        'gte inclusive',
      );
      t.same(await collect(s, b('a'), b('a')), [], 'empty range');
      t.same(await collect(s, b('x'), b('z')), [], 'range with no keys');
      t.same(
        all.find(([k]) => k === 'ff'),
        ['ff', '08'],
        'values come with their keys',
      );
      await s.close();
    });

    t.test('entries across many keys (more than one iterator chunk)', async (t) => {
      const s = await open(t);
      const n = 2500;
      const ops = Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: b(`k${String(i).padStart(5, '0')}`), value: b(String(i)) }));
      await s.write(ops.slice(1250));
      await s.write(ops.slice(0, 1250));
      await s.write([{ type: 'put', key: b('j'), value: b('before') }]);
      await s.write([{ type: 'put', key: b('l'), value: b('after') }]);
      const got = await collect(s, b('k'), b('l'));
      t.equal(got.length, n);
      t.ok(
        got.every(([k, v], i) => k === b(`k${String(i).padStart(5, '0')}`).toString('hex') && v === b(String(i)).toString('hex')),
        'all in order with their values',
      );
      await s.close();
    });

    t.test('concurrent writes: all resolve, apply in arrival order', async (t) => {
      const s = await open(t);
      const n = 300;
      const writes: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        writes.push(s.write([{ type: 'put', key: b(`key${i % 50}`), value: b(`v${i}`) }]));
        writes.push(s.write([{ type: 'put', key: b('last'), value: b(`v${i}`) }]));
      }
      await Promise.all(writes);
      for (let k = 0; k < 50; k++) {
        const last = n - 50 + k;
        t.equal((await s.get(b(`key${k}`)))?.toString(), `v${last}`, `key${k} holds the last write`);
      }
      t.equal((await s.get(b('last')))?.toString(), `v${n - 1}`, 'the last arrival wins');
      await s.close();
    });

    t.test('a buffer reused after its write resolved does not change the store', async (t) => {
      const s = await open(t);
      const key = b('key');
      const value = b('value');
      await s.write([{ type: 'put', key, value }]);
      value.fill(0x78);
      key.fill(0x78);
      t.equal((await s.get(b('key')))?.toString(), 'value');
      await s.close();
    });

    t.test('diskBytes is a number', async (t) => {
      const s = await open(t);
      await s.write([{ type: 'put', key: b('a'), value: Buffer.alloc(1000) }]);
      const n = await s.diskBytes();
      t.type(n, 'number');
      t.ok(Number.isFinite(n) && n >= 0);
      await s.close();
    });
  });
}
