import { randomBytes } from 'node:crypto';
import t from 'tap';
import { applyWrite, emptyRecord, isTombstone, liveSiblings, MAX_CLOCK_ENTRIES, MAX_FILLED_CLOCK_ENTRIES, vectorEntries } from '../../src/clock/index.js';
import { VirtualClock } from '../../src/env/clock.js';
import { KvError } from '../../src/errors.js';
import { LocalReplica } from '../../src/replica/local-replica.js';
import { CODEC_BROTLI, CODEC_RAW, type StoredValue, ValueCodec } from '../../src/storage/codec.js';
import { LruCache } from '../../src/storage/lru-cache.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { decodeRecord, recordMemoryBytes, type StoredRecord } from '../../src/storage/record-format.js';
import type { Store, StoreOp } from '../../src/storage/store.js';
import { ZlibBrotliCodec } from '../../src/storage/zlib-codec.js';
import { seededRandom } from '../helpers/random.js';

interface Setup {
  replica: LocalReplica;
  store: Store;
  clock: VirtualClock;
  codec: ValueCodec;
  cache: LruCache<string, StoredRecord>;
}

function setup(options: { store?: Store; maxSiblings?: number; cacheBytes?: number; actor?: string; minBytes?: number } = {}): Setup {
  const store = options.store ?? new MemoryStore();
  const clock = new VirtualClock(1_700_000_000_000);
  const codec = new ValueCodec(new ZlibBrotliCodec(), { minBytes: options.minBytes ?? 512, quality: 4 });
  const cache = new LruCache<string, StoredRecord>(options.cacheBytes ?? 1 << 20);
  const replica = new LocalReplica(store, codec, cache, clock, { actor: options.actor ?? 'n1#1', maxSiblings: options.maxSiblings ?? 64 });
  return { replica, store, clock, codec, cache };
}

/** Another replica object over the same store, with a cold cache: reads what is committed. */
const coldView = (s: Setup): LocalReplica => setup({ store: s.store, actor: 'observer' }).replica;

const k = (s: string): Buffer => Buffer.from(s, 'utf8');

async function liveStrings(replica: LocalReplica, record: StoredRecord | undefined): Promise<string[]> {
  if (!record) return [];
  return (await replica.values(record)).map((b) => b.toString('utf8'));
}

/** Canonical form of a record: clock and siblings with decoded values. */
async function canon(replica: LocalReplica, record: StoredRecord | undefined) {
  if (!record) return undefined;
  const sibs = [];
  for (const s of record.siblings) sibs.push([`${s.dot[1]}@${s.dot[0]}`, s.ts, s.value ? (await replica.codec.decode(s.value)).toString('hex') : null]);
  return { clock: vectorEntries(record.clock), siblings: sibs };
}

/** A store whose operations can be held until released (to force interleavings without timers). */
class GatedStore implements Store {
  readonly inner = new MemoryStore();
  holdGets = false;
  holdWrites = false;
  failNextWrite = false;
  private waiting: (() => void)[] = [];
  pendingCount = 0;

  private gate(hold: boolean): Promise<void> {
    if (!hold) return Promise.resolve();
    this.pendingCount++;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const w = this.waiting;
    this.waiting = [];
    this.pendingCount = 0;
    for (const r of w) r();
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    await this.gate(this.holdGets);
    return this.inner.get(key);
  }

  async write(ops: StoreOp[]): Promise<void> {
    await this.gate(this.holdWrites);
    if (this.failNextWrite) {
      this.failNextWrite = false;
      throw new KvError('KV_STORAGE', 'disk on fire');
    }
    return this.inner.write(ops);
  }

  entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    return this.inner.entries(gte, lt);
  }

  keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer> {
    return this.inner.keys(gte, lt);
  }

  diskBytes(): Promise<number> {
    return this.inner.diskBytes();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Lets pending promise callbacks and I/O run, without waiting a fixed time. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('put then get round trips', async (t) => {
  const s = setup();
  t.equal(await s.replica.read(k('missing')), undefined, 'never written: undefined');
  const res = await s.replica.write(k('user:1'), k('hello'), undefined);
  t.equal(res.existed, false);
  t.equal(res.record.siblings.length, 1);
  t.equal(res.record.siblings[0]!.ts, s.clock.now(), 'timestamp from the injected clock');
  const rec = await s.replica.read(k('user:1'));
  t.same(await liveStrings(s.replica, rec), ['hello']);
  t.same(await liveStrings(s.replica, await coldView(s).read(k('user:1'))), ['hello'], 'committed to the store');
  t.match(s.replica.counters, { gets: 2, puts: 1, deletes: 0 });
  // Keys are bytes: these two are different keys.
  await s.replica.write(Buffer.from([0xc3, 0xa9]), k('utf8'), undefined);
  await s.replica.write(Buffer.from([0xe9]), k('latin1'), undefined);
  t.same(await liveStrings(s.replica, await s.replica.read(Buffer.from([0xc3, 0xa9]))), ['utf8']);
  t.same(await liveStrings(s.replica, await s.replica.read(Buffer.from([0xe9]))), ['latin1']);
  // An empty value is a value.
  await s.replica.write(k('empty'), Buffer.alloc(0), undefined);
  const empty = await coldView(s).read(k('empty'));
  t.equal(isTombstone(empty!), false);
  t.same(await liveStrings(s.replica, empty), ['']);
});

t.test('concurrent writes without context all survive as siblings', async (t) => {
  const s = setup();
  const n = 40;
  const values = Array.from({ length: n }, (_, i) => `v${i}`);
  const results = await Promise.all(values.map((v) => s.replica.write(k('hot'), k(v), undefined)));
  t.equal(results.length, n);
  for (const rec of [await s.replica.read(k('hot')), await coldView(s).read(k('hot'))]) {
    t.same((await liveStrings(s.replica, rec)).sort(), [...values].sort(), 'every write is a sibling');
    t.equal(new Set(rec!.siblings.map((x) => `${x.dot[1]}@${x.dot[0]}`)).size, n, 'distinct dots');
    t.same(vectorEntries(rec!.clock), [['n1#1', n]]);
  }
  t.equal(s.replica.counters.puts, n);
});

t.test('a write with context supersedes what the context saw', async (t) => {
  const s = setup();
  await s.replica.write(k('x'), k('a'), undefined);
  await s.replica.write(k('x'), k('b'), undefined);
  const seen = await s.replica.read(k('x'));
  await s.replica.write(k('x'), k('c'), undefined); // not seen by the next writer
  const res = await s.replica.write(k('x'), k('ab'), seen!.clock);
  t.same(await liveStrings(s.replica, res.record), ['c', 'ab']);
  t.same(await liveStrings(s.replica, await coldView(s).read(k('x'))), ['c', 'ab']);
  const all = await s.replica.read(k('x'));
  await s.replica.write(k('x'), k('final'), all!.clock);
  t.same(await liveStrings(s.replica, await s.replica.read(k('x'))), ['final']);

  // Two clients with the same context, concurrently: both survive, the old value does not.
  const ctx = (await s.replica.read(k('x')))!.clock;
  await Promise.all([s.replica.write(k('x'), k('p'), ctx), s.replica.write(k('x'), k('q'), ctx)]);
  t.same((await liveStrings(s.replica, await coldView(s).read(k('x')))).sort(), ['p', 'q']);
});

t.test("a context may claim counters above 2^47 only as the key holds them: no context can spend a key's counters", async (t) => {
  const s = setup({ actor: 'n1#1' });
  await s.replica.write(k('x'), k('first'), undefined);
  // The largest counter a context may claim on any key: the write takes it and counts on by one.
  const forged = await s.replica.write(k('x'), k('forged'), new Map([['n1#1', 2 ** 47]]));
  t.equal(forged.record.clock.get('n1#1'), 2 ** 47 + 1);
  t.same(await liveStrings(s.replica, forged.record), ['forged'], 'the forged context saw the first value');
  // What the store holds now, it issued: a read's context is taken back, past 2^47.
  const read = (await s.replica.read(k('x')))!;
  const next = await s.replica.write(k('x'), k('next'), read.clock);
  t.equal(next.record.clock.get('n1#1'), 2 ** 47 + 2);
  t.same(await liveStrings(s.replica, next.record), ['next']);
  t.equal((await s.replica.write(k('x'), null, next.record.clock)).existed, true, 'a delete with its context');
  t.same(await liveStrings(s.replica, (await s.replica.write(k('x'), k('plain'), undefined, true)).record), ['plain'], 'a plain write');
  // Beyond what the key holds, above 2^47: refused, and nothing changes.
  const before = (await s.replica.read(k('x')))!;
  for (const claim of [new Map([['n1#1', (before.clock.get('n1#1') as number) + 1]]), new Map([['n9#9', 2 ** 47 + 1]]), new Map([['n1#1', 2 ** 48 - 2]])]) {
    await t.rejects(s.replica.write(k('x'), k('spent'), claim), { code: 'KV_BAD_CONTEXT', message: /above 2\^47/ }, JSON.stringify([...claim]));
    await t.rejects(s.replica.write(k('x'), null, claim), { code: 'KV_BAD_CONTEXT' }, `delete: ${JSON.stringify([...claim])}`);
  }
  t.same(vectorEntries((await coldView(s).read(k('x')))!.clock), vectorEntries(before.clock), 'the key is as it was');
  await t.rejects(s.replica.write(k('fresh'), k('v'), new Map([['n1#1', 2 ** 47 + 1]])), { code: 'KV_BAD_CONTEXT' }, 'on a key never written');
  t.equal(await s.replica.read(k('fresh')), undefined, 'which stays unwritten');
});

t.test('delete without context hides everything', async (t) => {
  const s = setup();
  await Promise.all(['a', 'b', 'c'].map((v) => s.replica.write(k('d'), k(v), undefined)));
  const res = await s.replica.write(k('d'), null, undefined);
  t.equal(res.existed, true, 'reports that live values existed');
  for (const rec of [await s.replica.read(k('d')), await coldView(s).read(k('d'))]) {
    t.ok(rec, 'a record remains (the tombstone replicates)');
    t.equal(isTombstone(rec!), true);
    t.same(liveSiblings(rec!), []);
    t.same(await s.replica.values(rec!), []);
  }
  t.equal(s.replica.counters.deletes, 1);
  const again = await s.replica.write(k('d'), null, undefined);
  t.equal(again.existed, false, 'deleting a deleted key: nothing existed');
  t.equal(again.record.siblings.length, 1, 'tombstones do not pile up');
  const never = await s.replica.write(k('never'), null, undefined);
  t.equal(never.existed, false);
  t.equal(isTombstone(never.record), true);
  // A put after the delete brings the key back.
  await s.replica.write(k('d'), k('back'), undefined);
  t.same(await liveStrings(s.replica, await s.replica.read(k('d'))), ['back']);
});

t.test('delete with a stale context keeps values it did not see', async (t) => {
  const s = setup();
  await s.replica.write(k('d'), k('seen'), undefined);
  const ctx = (await s.replica.read(k('d')))!.clock;
  await s.replica.write(k('d'), k('unseen'), undefined);
  await s.replica.write(k('d'), null, ctx);
  const rec = await coldView(s).read(k('d'));
  t.equal(isTombstone(rec!), false);
  t.same(await liveStrings(s.replica, rec), ['unseen']);
});

t.test('maxSiblings caps concurrent values', async (t) => {
  const s = setup({ maxSiblings: 3 });
  for (const v of ['a', 'b', 'c']) await s.replica.write(k('m'), k(v), undefined);
  const before = await coldView(s).read(k('m'));
  await t.rejects(s.replica.write(k('m'), k('d'), undefined), { code: 'KV_TOO_MANY_SIBLINGS', details: { siblings: 3, limit: 3 } });
  const after = await coldView(s).read(k('m'));
  t.same(await canon(s.replica, after), await canon(s.replica, before), 'the refused write changed nothing in the store');
  t.same(await liveStrings(s.replica, await s.replica.read(k('m'))), ['a', 'b', 'c'], 'nor in the cache');
  t.equal(s.replica.counters.puts, 3, 'not counted');
  // Concurrent overflow: of 5 racing writes to a key with 3 siblings, all are refused.
  const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => s.replica.write(k('m'), k(`r${i}`), undefined)));
  t.ok(
    outcomes.every((o) => o.status === 'rejected' && (o.reason as KvError).code === 'KV_TOO_MANY_SIBLINGS'),
    'all refused',
  );
  // A write with the context resolves them.
  const ctx = (await s.replica.read(k('m')))!.clock;
  await s.replica.write(k('m'), k('merged'), ctx);
  t.same(await liveStrings(s.replica, await s.replica.read(k('m'))), ['merged']);
  // Concurrent writes on a fresh key: exactly maxSiblings succeed.
  const race = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => s.replica.write(k('race'), k(`v${i}`), undefined)));
  t.equal(race.filter((o) => o.status === 'fulfilled').length, 3);
  t.equal((await coldView(s).read(k('race')))!.siblings.length, 3);
});

t.test('maxSiblings holds on merges too; a merge that resolves siblings always passes', async (t) => {
  const here = setup({ maxSiblings: 3, actor: 'n1#1' });
  const there = setup({ maxSiblings: 3, actor: 'n2#1' });
  for (const v of ['a', 'b', 'c']) await here.replica.write(k('m'), k(v), undefined);
  await there.replica.write(k('m'), k('d'), undefined);
  const theirs = (await there.replica.read(k('m')))!;
  const before = await canon(here.replica, await coldView(here).read(k('m')));
  await t.rejects(
    here.replica.merge(k('m'), theirs),
    { code: 'KV_TOO_MANY_SIBLINGS', details: { key: 'm', siblings: 3, limit: 3 } },
    'a fourth sibling by merge is refused',
  );
  t.same(await canon(here.replica, await coldView(here).read(k('m'))), before, 'and changed nothing');
  // The other way round: a record that resolves the three arrives and is taken.
  const ours = (await here.replica.read(k('m')))!;
  const resolving = setup({ maxSiblings: 3, actor: 'n3#1' });
  await resolving.replica.merge(k('m'), ours);
  await resolving.replica.write(k('m'), k('resolved'), ours.clock);
  await here.replica.merge(k('m'), (await resolving.replica.read(k('m')))!);
  t.same(await liveStrings(here.replica, await here.replica.read(k('m'))), ['resolved']);
});

t.test("contexts and merges cannot fill a key's clock without end; the key stays writable", async (t) => {
  const s = setup({ actor: 'n1#1' });
  const first = await s.replica.write(k('m'), k('v0'), undefined);
  const ghosts = (from: number, count: number) => Array.from({ length: count }, (_, i) => [`ghost-${from + i}`, 1] as const);
  // A forged context: the node's own actor covered (so nothing piles up as siblings) and invented writers.
  const forged = (from: number, count: number) => new Map([['n1#1', 1000], ...ghosts(from, count)]);
  const filled = await s.replica.write(k('m'), k('v1'), forged(0, MAX_FILLED_CLOCK_ENTRIES - 1));
  t.equal(filled.record.clock.size, MAX_FILLED_CLOCK_ENTRIES, 'a context may bring writers the key did not know, up to the bound');
  const before = await canon(s.replica, await coldView(s).read(k('m')));
  await t.rejects(
    s.replica.write(k('m'), k('v2'), forged(10_000, 1)),
    { code: 'KV_BAD_CONTEXT', details: { limit: MAX_FILLED_CLOCK_ENTRIES } },
    'one past it is refused',
  );
  t.same(await canon(s.replica, await coldView(s).read(k('m'))), before, 'and changed nothing');
  // The key stays writable: with its context, without one, and by a coordinator it never had.
  const ctx = (await s.replica.read(k('m')))!.clock;
  t.ok(ctx.size <= MAX_CLOCK_ENTRIES, 'its context is one a client may pass back');
  t.same(await liveStrings(s.replica, (await s.replica.write(k('m'), k('with-context'), ctx)).record), ['with-context']);
  await s.replica.write(k('m'), k('plain'), undefined, true);
  const other = setup({ store: s.store, actor: 'n9#1' });
  const theirs = await other.replica.write(k('m'), k('new-coordinator'), (await other.replica.read(k('m')))!.clock);
  t.equal(theirs.record.clock.size, MAX_FILLED_CLOCK_ENTRIES + 1, "a coordinator's own new actor is always room");
  t.same(await liveStrings(other.replica, theirs.record), ['new-coordinator']);

  // Merges: a record bringing more outside writers is refused; one that brings none passes.
  const fresh = setup({ actor: 'n1#1' });
  await fresh.replica.merge(k('m'), first.record);
  const raw = (v: string): StoredValue => ({ codec: CODEC_RAW, stored: k(v), raw: k(v) });
  const many = (from: number) => applyWrite(emptyRecord<StoredValue>(), new Map(ghosts(from, 150)), `writer-${from}`, raw('x'), 5);
  await fresh.replica.merge(k('m'), many(0));
  await t.rejects(fresh.replica.merge(k('m'), many(1000)), { code: 'KV_BAD_REQUEST', details: { limit: MAX_FILLED_CLOCK_ENTRIES } }, 'merges are bounded too');
  t.equal((await fresh.replica.read(k('m')))!.clock.size, 152, 'the refused merge changed nothing');
  await fresh.replica.merge(k('m'), many(0));
  t.pass('a merge of what is held already passes');
});

t.test('supersedeCurrent: a write supersedes what the replica holds at that moment, whatever the context', async (t) => {
  const s = setup();
  await s.replica.write(k('o'), k('a'), undefined);
  await s.replica.write(k('o'), k('b'), undefined); // a sibling: no context, not superseding
  t.equal((await s.replica.read(k('o')))!.siblings.length, 2);
  const foreign = new Map([['n9#1', 4]]);
  const res = await s.replica.write(k('o'), k('c'), foreign, true);
  t.same(await liveStrings(s.replica, res.record), ['c'], 'both local siblings superseded');
  t.equal(res.record.clock.get('n9#1'), 4, 'and the gathered context is part of the new clock');
  // Racing plain writes on one replica are ordered by its lock: one version survives.
  await Promise.all(Array.from({ length: 10 }, (_, i) => s.replica.write(k('o'), k(`r${i}`), undefined, true)));
  t.equal((await coldView(s).read(k('o')))!.siblings.length, 1);
  t.same(vectorEntries((await s.replica.clockOf(k('o')))!), vectorEntries((await coldView(s).read(k('o')))!.clock), 'clockOf reads the clock alone');
  t.equal(await s.replica.clockOf(k('never')), undefined);
});

t.test('cache hits are counted and served', async (t) => {
  const writer = setup();
  await writer.replica.write(k('a'), k('1'), undefined);
  const reader = setup({ store: writer.store });
  t.equal(reader.cache.hits + reader.cache.misses, 0);
  await reader.replica.read(k('a'));
  t.equal(reader.cache.misses, 1, 'first read misses');
  t.equal(reader.cache.hits, 0);
  await reader.replica.read(k('a'));
  await reader.replica.read(k('a'));
  t.equal(reader.cache.hits, 2, 'later reads hit');
  t.equal(reader.cache.misses, 1);
  await reader.replica.read(k('nothing'));
  t.equal(reader.cache.misses, 2, 'a missing key is a miss');
  t.equal(reader.cache.hitRatio, 0.5);
  // A write does not bring a key into the cache (no allocate on write)...
  await writer.replica.write(k('fresh'), k('1'), undefined);
  t.notOk(writer.cache.has(k('fresh').toString('latin1')), 'a written key is not cached until read');
  // ...but keeps a cached key current, without counting lookups.
  await writer.replica.write(k('b'), k('1'), undefined);
  await writer.replica.read(k('b')); // now cached
  await writer.replica.write(k('b'), k('2'), undefined);
  const { hits, misses } = writer.cache;
  t.ok((await liveStrings(writer.replica, await writer.replica.read(k('b')))).includes('2'), 'the cached record has the write');
  t.equal(writer.cache.hits, hits + 1, 'the read after a write to a cached key is a hit');
  t.equal(writer.cache.misses, misses);
});

t.test('the cache never serves a stale value after a write', async (t) => {
  t.test('reads interleaved with writes', async (t) => {
    const s = setup();
    for (let round = 0; round < 30; round++) {
      const ctx = (await s.replica.read(k('key')))?.clock;
      const ops: Promise<unknown>[] = [];
      ops.push(s.replica.read(k('key')));
      ops.push(s.replica.write(k('key'), k(`r${round}`), ctx));
      ops.push(s.replica.read(k('key')));
      ops.push(s.replica.read(k('other')));
      ops.push(s.replica.write(k('other'), k(`o${round}`), undefined));
      ops.push(s.replica.read(k('key')));
      await Promise.all(ops);
      const cached = await s.replica.read(k('key'));
      t.same(await liveStrings(s.replica, cached), [`r${round}`], `round ${round}: sees the acknowledged write`);
      t.same(await canon(s.replica, cached), await canon(s.replica, await coldView(s).read(k('key'))), `round ${round}: cache equals store`);
    }
  });

  t.test('a slow read miss cannot overwrite a newer write', async (t) => {
    const store = new GatedStore();
    const s = setup({ store });
    await s.replica.write(k('key'), k('v1'), undefined);
    const ctx = (await s.replica.read(k('key')))!.clock;
    s.cache.delete('key'); // evicted: the next read goes to the store
    store.holdGets = true;
    const slowRead = s.replica.read(k('key'));
    await tick();
    t.equal(store.pendingCount, 1, 'the read is waiting on the store');
    const write = s.replica.write(k('key'), k('v2'), ctx);
    await tick();
    store.holdGets = false;
    store.release();
    t.same(await liveStrings(s.replica, await slowRead), ['v1'], 'the slow read saw what was committed when it started');
    await write;
    t.same(await liveStrings(s.replica, await s.replica.read(k('key'))), ['v2'], 'after the write resolved, reads see it');
  });

  t.test('an in-flight write is not served, a committed one is', async (t) => {
    const store = new GatedStore();
    const s = setup({ store });
    await s.replica.write(k('key'), k('v1'), undefined);
    store.holdWrites = true;
    const ctx = (await s.replica.read(k('key')))!.clock;
    const write = s.replica.write(k('key'), k('v2'), ctx);
    await tick();
    t.equal(store.pendingCount, 1, 'the write is waiting on the store');
    t.same(await liveStrings(s.replica, await s.replica.read(k('key'))), ['v1'], 'not acknowledged, not visible');
    store.holdWrites = false;
    store.release();
    await write;
    t.same(await liveStrings(s.replica, await s.replica.read(k('key'))), ['v2']);
  });

  t.test('a failed commit leaves the cache as it was', async (t) => {
    const store = new GatedStore();
    const s = setup({ store });
    await s.replica.write(k('key'), k('v1'), undefined);
    store.failNextWrite = true;
    await t.rejects(s.replica.write(k('key'), k('lost'), undefined), { code: 'KV_STORAGE' });
    t.same(await liveStrings(s.replica, await s.replica.read(k('key'))), ['v1'], 'the failed write is not served');
    await s.replica.write(k('key'), k('v2'), undefined);
    t.same(await liveStrings(s.replica, await s.replica.read(k('key'))), ['v1', 'v2'], 'the key lock was released');
  });

  t.test('property: random concurrent ops under cache pressure match the store', async (t) => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = seededRandom(seed);
      const s = setup({ cacheBytes: 200 + Math.floor(rand() * 2000), maxSiblings: 1000 });
      const keys = ['a', 'b', 'c', 'd', 'e'];
      const problems: string[] = [];
      for (let round = 0; round < 20; round++) {
        const ops: Promise<unknown>[] = [];
        const lastWrite = new Map<string, string>();
        for (let i = 0; i < 8; i++) {
          const key = keys[Math.floor(rand() * keys.length)]!;
          const roll = rand();
          if (roll < 0.4) ops.push(s.replica.read(k(key)));
          else if (roll < 0.9) {
            const v = `s${seed}r${round}i${i}`;
            lastWrite.set(key, v);
            ops.push(s.replica.write(k(key), k(v), undefined));
          } else ops.push(s.replica.write(k(key), null, undefined));
        }
        await Promise.all(ops);
        for (const key of keys) {
          const got = await canon(s.replica, await s.replica.read(k(key)));
          const want = await canon(s.replica, await coldView(s).read(k(key)));
          if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`round ${round} key ${key}: cache differs from store`);
        }
      }
      t.same(problems, [], `seed=${seed}`);
    }
  });
});

t.test('compressed values decode correctly', async (t) => {
  const s = setup({ minBytes: 512 });
  const doc = (n: number) => Buffer.from(JSON.stringify({ n, items: Array.from({ length: 60 }, (_, i) => ({ i, name: `item-${i}`, ok: i % 2 === 0 })) }));
  const big = doc(1);
  t.ok(big.length > 512, `value of ${big.length} bytes`);
  await s.replica.write(k('doc'), big, undefined);
  await s.replica.write(k('doc'), k('small'), undefined);
  await s.replica.write(k('doc'), doc(2), undefined);
  t.equal(s.codec.compressed, 2, 'the two large JSON values were compressed');
  t.equal(s.codec.storedRaw, 1, 'the small one was not');

  const onDisk = decodeRecord((await s.store.get(Buffer.concat([k('d'), k('doc')])))!);
  t.same(
    onDisk.siblings.map((x) => (x.value as StoredValue).codec),
    [CODEC_BROTLI, CODEC_RAW, CODEC_BROTLI],
    'stored compressed on disk',
  );
  t.ok((onDisk.siblings[0]!.value as StoredValue).stored.length < big.length, 'and smaller');

  const want = [big.toString(), 'small', doc(2).toString()];
  t.same(await liveStrings(s.replica, await s.replica.read(k('doc'))), want, 'from the writer cache');
  const cold = coldView(s);
  const rec = await cold.read(k('doc'));
  t.same(await liveStrings(cold, rec), want, 'from a cold cache (decoded from disk)');
  t.ok(
    rec!.siblings.every((x) => x.value?.raw !== undefined),
    'a read miss decodes every value once, so cache hits never decompress',
  );
  // Delete with context and rewrite: compressed values still correct.
  await s.replica.write(k('doc'), doc(3), rec!.clock);
  t.same(await liveStrings(cold, await coldView(s).read(k('doc'))), [doc(3).toString()]);
});

t.test('merge joins a record from another replica', async (t) => {
  const s = setup({ actor: 'n1#1' });
  await s.replica.write(k('m'), k('local'), undefined);
  const raw = (v: string): StoredValue => ({ codec: CODEC_RAW, stored: k(v), raw: k(v) });
  const remote = applyWrite(emptyRecord<StoredValue>(), new Map(), 'n2#1', raw('remote'), 5);
  const merged = await s.replica.merge(k('m'), remote);
  t.same((await liveStrings(s.replica, merged)).sort(), ['local', 'remote']);
  t.same((await liveStrings(s.replica, await coldView(s).read(k('m')))).sort(), ['local', 'remote'], 'committed');
  t.same((await liveStrings(s.replica, await s.replica.read(k('m')))).sort(), ['local', 'remote'], 'cached');
  const fresh = await s.replica.merge(k('new'), remote);
  t.same(await liveStrings(s.replica, fresh), ['remote'], 'merging into a missing key stores the incoming record');
  // A later local write with the merged context supersedes both.
  const ctx = (await s.replica.read(k('m')))!.clock;
  const res = await s.replica.write(k('m'), k('resolved'), ctx);
  t.same(await liveStrings(s.replica, res.record), ['resolved']);
  t.same(vectorEntries(res.record.clock), [
    ['n1#1', 2],
    ['n2#1', 1],
  ]);
});

t.test('a merged compressed record is cached decoded and weighed in full', async (t) => {
  // Replication delivers records as stored (compressed, raw unknown), like decodeRecord does.
  const s = setup({ minBytes: 512 });
  const json = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ i, name: 'item', ok: true }))));
  const encoded = await s.codec.encode(json);
  t.equal(encoded.codec, CODEC_BROTLI);
  const incoming = applyWrite(emptyRecord<StoredValue>(), new Map(), 'n2#1', { codec: encoded.codec, stored: encoded.stored, raw: undefined }, 5);
  t.equal(await s.replica.read(k('doc')), undefined, 'a read first: the key is not there (and not cached)');
  await s.replica.merge(k('doc'), incoming);
  await s.replica.read(k('doc')); // the miss brings it in, decoded
  const hit = await s.replica.read(k('doc'));
  t.equal(s.cache.hits, 1, 'served from the cache');
  t.ok(
    hit!.siblings.every((x) => x.value?.raw !== undefined),
    'a cache hit never pays for brotli (readLocked decodes before caching; merge does not)',
  );
  t.same(await liveStrings(s.replica, hit), [json.toString()], 'and decodes to the value');
  const weight = recordMemoryBytes(hit!) + 'doc'.length;
  t.ok(s.cache.bytes >= weight, `the cache counts what the record holds once decoded (counts ${s.cache.bytes} bytes, holds ${weight})`);
});

t.test('scanPage: a page of records in key order, bounded in keys and bytes, exhausted only at the end of the range', async (t) => {
  const { replica } = setup();
  // Random bytes: stored raw, 1000 bytes each (compressible values would be stored smaller).
  const value = randomBytes(1000);
  for (const key of ['a', 'b', 'c', 'd', 'e']) await replica.write(k(key), value, undefined);
  await replica.write(k('c'), null, undefined);
  const page = (from: string, inclusive: boolean, options: { end?: string; maxKeys?: number; maxBytes?: number; values?: boolean } = {}) =>
    replica.scanPage({
      from: k(from),
      inclusive,
      end: options.end === undefined ? undefined : k(options.end),
      maxKeys: options.maxKeys ?? 1024,
      maxBytes: options.maxBytes ?? 512 * 1024,
      values: options.values ?? true,
    });
  const keysOf = (p: { entries: { key: Buffer }[]; exhausted: boolean }) => [p.entries.map((e) => e.key.toString()).join(''), p.exhausted];
  t.same(keysOf(await page('', true)), ['abcde', true], 'every key from the first, the tombstone included');
  t.same(keysOf(await page('b', true, { maxKeys: 2 })), ['bc', false], 'at most maxKeys; more follow');
  t.same(keysOf(await page('b', false, { maxKeys: 2 })), ['cd', false], 'strictly after from');
  t.same(keysOf(await page('b', false, { end: 'e', maxKeys: 2 })), ['cd', true], 'the end is excluded: nothing follows in the range');
  t.same(keysOf(await page('a', true, { maxBytes: 1 })), ['a', false], 'at least one record, however small maxBytes');
  t.same(keysOf(await page('a', true, { maxBytes: 2500 })), ['abcd', false], 'records until they reach maxBytes (c, a tombstone, is small)');
  t.same(keysOf(await page('e', false)), ['', true], 'past the last key: an empty last page');
  const bare = await page('a', true, { values: false, maxKeys: 3 });
  t.same(
    bare.entries.map((e) => e.record.siblings.map((s) => (s.value === null ? null : s.value.stored.length))),
    [[0], [0], [null]],
    'without values: live values empty, tombstones kept',
  );
  const full = await page('a', true, { maxKeys: 1 });
  t.same(bare.entries[0]?.record.clock, full.entries[0]?.record.clock, 'the clock travels either way');
  t.ok(replica.counters.scanPages >= 9, 'pages counted');
});
