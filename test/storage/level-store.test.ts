import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { VirtualClock } from '../../src/env/clock.js';
import type { Logger } from '../../src/env/logger.js';
import { KvError } from '../../src/errors.js';
import { EARLY_COMMIT_WRITES, LevelStore } from '../../src/storage/level-store.js';
import type { StoreOp } from '../../src/storage/store.js';

type T = Test;

function tempDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-level-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

t.test('LevelStore group commit joins concurrent writes', async (t) => {
  const store = await LevelStore.open(join(tempDir(t), 'db'), { sync: false });
  const n = 500;
  const resolved: boolean[] = [];
  const writes = Array.from({ length: n }, (_, i) =>
    store
      .write([
        { type: 'put', key: b(`k${i}`), value: b(`v${i}`) },
        { type: 'put', key: b(`x${i}`), value: b(`w${i}`) },
      ])
      .then(() => {
        resolved[i] = true;
      }),
  );
  await Promise.all(writes);
  t.equal(resolved.filter(Boolean).length, n, 'all writes resolved');
  t.ok(store.batches >= 1 && store.batches < n, `${n} writes in ${store.batches} batches`);
  t.equal(store.batchedOps, 2 * n, 'every op committed exactly once');
  let missing = 0;
  for (let i = 0; i < n; i++) {
    if ((await store.get(b(`k${i}`)))?.toString() !== `v${i}`) missing++;
    if ((await store.get(b(`x${i}`)))?.toString() !== `w${i}`) missing++;
  }
  t.equal(missing, 0, 'all readable');

  // Writes issued while a batch is in flight join the next one.
  const before = store.batches;
  const first = store.write([{ type: 'put', key: b('first'), value: b('1') }]);
  await new Promise<void>((r) => setImmediate(r)); // the first batch is now committing
  const later = Array.from({ length: 100 }, (_, i) => store.write([{ type: 'put', key: b(`later${i}`), value: b('1') }]));
  await Promise.all([first, ...later]);
  t.ok(store.batches - before <= 3, `101 writes in ${store.batches - before} batches`);
  await store.close();
});

t.test('LevelStore commits a large turn early, in batches of EARLY_COMMIT_WRITES', async (t) => {
  const store = await LevelStore.open(join(tempDir(t), 'db'), { sync: false });
  const turn = async (count: number, prefix: string) => {
    const before = { batches: store.batches, ops: store.batchedOps };
    // Issued in one synchronous loop: nothing completes before the turn ends.
    await Promise.all(Array.from({ length: count }, (_, i) => store.write([{ type: 'put', key: b(`${prefix}${i}`), value: b('v') }])));
    return { batches: store.batches - before.batches, ops: store.batchedOps - before.ops };
  };
  t.same(await turn(EARLY_COMMIT_WRITES - 1, 'small'), { batches: 1, ops: EARLY_COMMIT_WRITES - 1 }, 'a turn below the threshold is one batch');
  // Two early batches (the in-flight limit), the rest joined into one when the turn ends or one completes.
  const large = 3 * EARLY_COMMIT_WRITES + 4;
  t.same(await turn(large, 'large'), { batches: 3, ops: large }, 'a large turn: two early batches and the rest');
  let missing = 0;
  for (let i = 0; i < large; i++) if ((await store.get(b(`large${i}`)))?.toString() !== 'v') missing++;
  t.equal(missing, 0, 'every write readable');
  await store.close();
});

t.test('LevelStore: a data dir opened twice is KV_DATA_DIR_LOCKED', async (t) => {
  const location = join(tempDir(t), 'db');
  const first = await LevelStore.open(location, { sync: false });
  await first.write([{ type: 'put', key: b('k'), value: b('v') }]);
  const err = await LevelStore.open(location, { sync: false }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof KvError, 'a KvError');
  t.equal((err as KvError).code, 'KV_DATA_DIR_LOCKED');
  t.equal((err as KvError).details?.location, location, 'names the location');
  t.ok((err as KvError).cause !== undefined, 'keeps the LevelDB error as cause');
  t.equal((await first.get(b('k')))?.toString(), 'v', 'the first store still works');
  await first.close();
  const again = await LevelStore.open(location, { sync: false });
  t.equal((await again.get(b('k')))?.toString(), 'v', 'reopens after close, data kept');
  await again.close();
});

t.test('LevelStore: close waits for queued writes', async (t) => {
  const location = join(tempDir(t), 'db');
  const store = await LevelStore.open(location, { sync: false });
  const n = 200;
  let done = 0;
  const writes = Array.from({ length: n }, (_, i) =>
    store.write([{ type: 'put', key: b(`k${i}`), value: b(`v${i}`) }]).then(() => {
      done++;
    }),
  );
  await store.close();
  t.equal(done, n, 'every write acknowledged before close resolved');
  await Promise.all(writes);
  const reopened = await LevelStore.open(location, { sync: false });
  let found = 0;
  for await (const [k, v] of reopened.entries(b('k'), b('l'))) if (v.toString() === `v${k.toString().slice(1)}`) found++;
  t.equal(found, n, 'all on disk after reopen');
  await reopened.close();
});

t.test('LevelStore: a location that cannot be opened is KV_STORAGE', async (t) => {
  const file = join(tempDir(t), 'a-file');
  writeFileSync(file, 'not a directory');
  await t.rejects(LevelStore.open(join(file, 'db'), { sync: false }), { code: 'KV_STORAGE' });
});

/**
 * A LevelStore whose batches fail on demand, as LevelDB's do on a full disk: `fault` fails every
 * batch (a disk that stays full), `sticky` also keeps failing after the disk is back until LevelDB
 * is reopened (the error LevelDB remembers after a failed compaction). `gate` holds batches until
 * released, so a test can have two in flight.
 */
class FaultyStore extends LevelStore {
  fault: Error | undefined;
  sticky = false;
  room = true;
  gate: Promise<void> | undefined;
  /** Every batch LevelDB was given, and whether it was after a reopen. */
  readonly batchesSeen: { keys: string[]; reopens: number }[] = [];
  reopens = 0;
  /** Fails the batch holding this key with `badRequest`, as LevelDB refuses an invalid write. */
  badKey: string | undefined;

  static create(location: string, clock: VirtualClock | undefined, logs: string[]): Promise<FaultyStore> {
    const logger: Logger = { log: (_level, _event, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields ?? {})}`), close: async () => {} };
    return LevelStore.openStore(new FaultyStore(location, { sync: false, clock, logger, recovery: { firstRetryMs: 100, maxRetryMs: 400 } }));
  }

  protected override async batchImpl(ops: StoreOp[], options: { sync: boolean }): Promise<void> {
    const keys = ops.map((op) => op.key.toString());
    this.batchesSeen.push({ keys, reopens: this.reopens });
    const gate = this.gate;
    if (gate) await gate;
    if (this.badKey !== undefined && keys.includes(this.badKey)) throw Object.assign(new Error('value is not valid'), { code: 'LEVEL_INVALID_VALUE' });
    if (this.fault) throw this.fault;
    return super.batchImpl(ops, options);
  }

  protected override async roomToReopen(): Promise<void> {
    if (!this.room) throw new Error('waiting for free space: 0.0 MiB free');
  }

  protected override async reopen(): Promise<void> {
    // Reopening clears the remembered error, not a disk that is still full.
    if (this.sticky && this.room) {
      this.sticky = false;
      this.fault = undefined;
    }
    this.reopens++;
    await super.reopen();
  }
}

const diskFull = () => Object.assign(new Error('IO error: /data/db/000011.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' });
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: KvError) => err.code,
  );
const turn = () => new Promise<void>((r) => setImmediate(r));

async function until(t: T, what: string, check: () => boolean, clock?: VirtualClock): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    clock?.advance(50);
    await new Promise((r) => setTimeout(r, 5));
  }
  t.fail(`timed out waiting for ${what}`);
}

t.test('LevelStore: a failed batch rejects every write in it, acknowledges none, and later writes are refused while degraded', async (t) => {
  const logs: string[] = [];
  const clock = new VirtualClock(Date.now());
  const store = await FaultyStore.create(join(tempDir(t), 'db'), clock, logs);
  await store.write([{ type: 'put', key: b('before'), value: b('1') }]);
  store.fault = diskFull();
  store.sticky = true;
  store.room = false;
  const group = Array.from({ length: 10 }, (_, i) => outcome(store.write([{ type: 'put', key: b(`g${i}`), value: b('v') }])));
  t.same(await Promise.all(group), Array(10).fill('KV_STORAGE'), 'every write of the failed batch is refused');
  const status = store.status();
  t.equal(status.state, 'degraded');
  t.match(status.cause, /No space left on device/);
  t.equal(status.fault, 'no-space');
  t.ok(
    logs.some((l) => l.startsWith('storage degraded') && l.includes('No space left')),
    'entering degraded is logged with the cause',
  );
  const seen = store.batchesSeen.length;
  const refused = await store.write([{ type: 'put', key: b('later'), value: b('v') }]).catch((e: KvError) => e);
  t.equal((refused as KvError).code, 'KV_STORAGE', 'a write while degraded is refused');
  t.match((refused as KvError).message, /storage degraded since .*No space left on device.*retries on its own/);
  t.equal(store.batchesSeen.length, seen, 'without reaching LevelDB');
  t.equal((await store.get(b('before')))?.toString(), '1', 'reads go on');
  for (let i = 0; i < 10; i++) t.equal(await store.get(b(`g${i}`)), undefined, 'nothing of the failed batch stored');

  // The disk stays full: no reopen (reads keep working), still degraded.
  clock.advance(1000);
  await turn();
  t.equal(store.reopens, 0, 'no reopen while the disk has no room');
  t.equal(store.status().state, 'degraded');
  t.equal((await store.get(b('before')))?.toString(), '1');

  // Space comes back, but LevelDB still remembers its error: only a reopen clears it.
  store.room = true;
  await until(t, 'the store to be up', () => store.status().state === 'up', clock);
  t.equal(store.reopens, 1, 'reopened once');
  t.equal(store.status().reopens, 1);
  t.ok(
    logs.some((l) => l.startsWith('storage recovered') && l.includes('degradedMs')),
    'leaving degraded is logged, with how long it lasted',
  );
  await store.write([{ type: 'put', key: b('after'), value: b('2') }]);
  t.equal((await store.get(b('after')))?.toString(), '2', 'writes resume without a restart');
  t.equal((await store.get(b('before')))?.toString(), '1', 'what was acknowledged before is still there');
  await store.close();
});

t.test('LevelStore: a batch that succeeds while another in flight fails', async (t) => {
  const clock = new VirtualClock(Date.now());
  const store = await FaultyStore.create(join(tempDir(t), 'db'), clock, []);

  // Acknowledged first, then the other one fails: LevelDB may have written it after the torn
  // record, so it is written again after the reopen.
  let release!: () => void;
  store.gate = new Promise<void>((r) => {
    release = r;
  });
  const failing = outcome(store.write([{ type: 'put', key: b('failing'), value: b('x') }]));
  await turn(); // its batch is in flight, held at the gate
  store.gate = undefined;
  const acked = await outcome(store.write([{ type: 'put', key: b('acked'), value: b('y') }]));
  t.equal(acked, 'ok', 'acknowledged while the other batch is in flight');
  store.fault = diskFull();
  release();
  t.equal(await failing, 'KV_STORAGE');
  t.equal(store.status().state, 'degraded');
  store.fault = undefined;
  await until(t, 'the store to be up', () => store.status().state === 'up', clock);
  const rewritten = store.batchesSeen.filter((s) => s.reopens === 1 && s.keys.includes('acked'));
  t.equal(rewritten.length, 1, 'the acknowledged batch is written again after the reopen');
  t.equal((await store.get(b('acked')))?.toString(), 'y', 'and readable');

  // The fault is seen first, then the other batch succeeds: it is not acknowledged.
  store.gate = new Promise<void>((r) => {
    release = r;
  });
  const inFlight = outcome(store.write([{ type: 'put', key: b('in-flight'), value: b('z') }]));
  await turn();
  store.gate = undefined;
  store.fault = diskFull();
  t.equal(await outcome(store.write([{ type: 'put', key: b('fails'), value: b('w') }])), 'KV_STORAGE');
  store.fault = undefined;
  release();
  t.equal(await inFlight, 'KV_STORAGE', 'a batch in flight when the fault was seen is refused even though LevelDB took it');
  await until(t, 'the store to be up', () => store.status().state === 'up', clock);
  await store.close();
});

t.test('LevelStore: a write LevelDB refuses fails alone, not the writes joined with it, and does not degrade the store', async (t) => {
  const store = await FaultyStore.create(join(tempDir(t), 'db'), undefined, []);
  store.badKey = 'bad';
  const results = await Promise.all(['a', 'bad', 'c'].map((k) => outcome(store.write([{ type: 'put', key: b(k), value: b('v') }]))));
  t.same(results, ['ok', 'KV_STORAGE', 'ok']);
  t.equal(store.status().state, 'up', 'a refused request is no storage fault');
  t.equal((await store.get(b('c')))?.toString(), 'v');
  await store.close();
});
