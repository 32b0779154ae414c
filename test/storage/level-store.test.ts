import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KvError } from '../../src/errors.js';
import { EARLY_COMMIT_WRITES, LevelStore } from '../../src/storage/level-store.js';

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
