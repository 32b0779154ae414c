/**
 * The simulator's disks (src/sim/sim-store.ts): what a process crash and a power loss keep, and how
 * a crashed process's store handle is fenced.
 */
import t from 'tap';
import { type Clock, VirtualClock } from '../../src/env/clock.js';
import { SeededRandom } from '../../src/env/random.js';
import { runFor, SimDisk, type SimStore } from '../../src/sim/index.js';
import type { Store } from '../../src/storage/store.js';
import { storeConformance } from '../contracts/store-contract.js';

const b = (s: string) => Buffer.from(s);
const put = (key: string, value: string) => ({ type: 'put' as const, key: b(key), value: b(value) });

function makeDisk(sync = false, writebackMs?: number) {
  const clock = new VirtualClock(0);
  const disk = new SimDisk({ sync, clock, random: new SeededRandom(1), fsyncMs: 2, writebackMs });
  return { clock, disk };
}

async function read(store: Store, key: string): Promise<string | undefined> {
  return (await store.get(b(key)))?.toString();
}

/** Whether `promise` settles within `ms` of virtual time. */
async function settles(clock: VirtualClock, promise: Promise<unknown>, ms = 50): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await runFor(clock, ms, 1);
  return settled;
}

/** Real time with timers that keep the process alive (SystemClock's do not): a sync write resolves once its fsync timer fires. */
const realTime: Clock = {
  now: () => Date.now(),
  setTimer: (delayMs, fn) => {
    const handle = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(handle) };
  },
  defer: (fn) => setImmediate(fn),
};
for (const sync of [false, true]) {
  storeConformance(t, `SimStore${sync ? ' (sync)' : ''}`, async () => new SimDisk({ sync, clock: realTime, random: new SeededRandom(1) }).open());
}

t.test('a process crash keeps every write, synced or not', async (t) => {
  const { clock, disk } = makeDisk();
  const first = disk.open();
  await first.write([put('a', '1')]);
  const syncing = first.write([put('b', '2')], { sync: true });
  disk.crash();
  const second = disk.open();
  t.equal(await read(second, 'a'), '1');
  t.equal(await read(second, 'b'), '2', 'even the write whose fsync had not completed');
  t.notOk(await settles(clock, syncing), 'whose completion the dead process never hears of');
});

t.test('a power loss keeps what was synced and loses the rest', async (t) => {
  const { clock, disk } = makeDisk();
  const store = disk.open();
  await store.write([put('a', '1')]);
  const synced = store.write([put('b', '2')], { sync: true });
  t.ok(await settles(clock, synced), 'a sync write resolves once fsynced');
  await store.write([put('c', '3')]);
  t.equal(disk.unsyncedBatches, 1, 'the sync carried the earlier write to the platter with it');
  const report = disk.powerLoss();
  t.same(report, { batches: 1, keys: ['c'] });
  const after = disk.open();
  t.same([await read(after, 'a'), await read(after, 'b'), await read(after, 'c')], ['1', '2', undefined]);
});

t.test('a sync write under way when the power goes is lost and never acknowledged', async (t) => {
  const { clock, disk } = makeDisk(true);
  const store = disk.open();
  const pending = store.write([put('a', '1')]);
  t.equal(await read(store, 'a'), '1', 'readable at once (in the page cache)');
  disk.powerLoss();
  t.notOk(await settles(clock, pending), 'never resolves');
  t.equal(await read(disk.open(), 'a'), undefined);
});

t.test('a partial power loss keeps a prefix of the unsynced writes; old ones were written back', async (t) => {
  const kept: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const clock = new VirtualClock(0);
    const disk = new SimDisk({ sync: false, clock, random: new SeededRandom(seed), writebackMs: 1000 });
    const store = disk.open();
    await store.write([put('old', 'x')]);
    clock.advance(1000);
    for (let i = 0; i < 5; i++) await store.write([put(`k${i}`, 'v')]);
    disk.powerLoss({ partial: true });
    const after = disk.open();
    t.equal(await read(after, 'old'), 'x', `seed ${seed}: a write older than the write-back time survives`);
    const present = [];
    for (let i = 0; i < 5; i++) present.push((await read(after, `k${i}`)) !== undefined);
    const count = present.filter(Boolean).length;
    t.same(present, [...Array(count).fill(true), ...Array(5 - count).fill(false)], `seed ${seed}: what survives is a prefix`);
    kept.push(count);
  }
  t.ok(new Set(kept).size > 2, `how much survives varies with the seed (${kept.join(' ')})`);
});

t.test("a crashed process's handle is fenced: its calls never settle and its writes never land", async (t) => {
  const { clock, disk } = makeDisk();
  const old = disk.open();
  await old.write([put('a', '1')]);
  const inFlight = old.write([put('b', '2')], { sync: true });
  disk.crash();
  t.notOk(await settles(clock, inFlight), 'a sync write under way at the crash is never reported to the dead process');
  t.notOk(await settles(clock, old.write([put('c', '3')])), 'a later write never settles');
  t.notOk(await settles(clock, old.get(b('a'))), 'nor does a read');
  const iterate = (async () => {
    for await (const _ of old.entries(b('a'), b('z'))) return;
  })();
  t.notOk(await settles(clock, iterate), 'nor an iteration');
  const next = disk.open();
  t.equal(await read(next, 'c'), undefined, 'the fenced write did not land');
  t.equal(await read(next, 'b'), '2', 'the write under way at the crash did (the kernel had it)');
  t.equal((old as SimStore).fenced, true);
});

t.test('iteration reads a snapshot in key order', async (t) => {
  const { disk } = makeDisk();
  const store = disk.open();
  await store.write([put('b', '2'), put('a', '1'), put('c', '3')]);
  const seen: string[] = [];
  for await (const [k, v] of store.entries(b('a'), b('c'))) {
    seen.push(`${k}=${v}`);
    await store.write([put('aa', 'late')]);
  }
  t.same(seen, ['a=1', 'b=2'], 'keys written during the iteration are not seen by it');
  const keys: string[] = [];
  for await (const k of store.keys(b('a'), b('z'))) keys.push(k.toString());
  t.same(keys, ['a', 'aa', 'b', 'c']);
});
