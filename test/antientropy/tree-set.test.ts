/**
 * The trees follow the replica's committed changes, and a rebuild from a scan of the records
 * agrees with them, also when writes, merges and forgets race the rebuild (the scan-and-replay
 * path), on the memory store and on LevelDB; leaf listings come from the data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { leafOf } from '../../src/antientropy/merkle-tree.js';
import { TreeSet } from '../../src/antientropy/tree-set.js';
import { applyWrite, emptyRecord, emptyVector, versionDigest } from '../../src/clock/index.js';
import { VirtualClock } from '../../src/env/clock.js';
import { ClusterState } from '../../src/membership/cluster-state.js';
import { MemberTable, newMember } from '../../src/membership/member-table.js';
import { LocalReplica } from '../../src/replica/local-replica.js';
import { type StoredValue, ValueCodec } from '../../src/storage/codec.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { LruCache } from '../../src/storage/lru-cache.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { StoredRecord } from '../../src/storage/record-format.js';
import type { Store } from '../../src/storage/store.js';
import { ZlibBrotliCodec } from '../../src/storage/zlib-codec.js';

const NAMES = ['n1', 'n2', 'n3', 'n4'];

function build(store: Store) {
  const clock = new VirtualClock(1_700_000_000_000);
  const member = (name: string, i: number) => newMember({ name, addr: `127.0.0.1:${7000 + i}`, incarnation: 'x', generation: 1, weight: 1 });
  const table = new MemberTable(member('n1', 0), { suspectAfterMs: 1000, downAfterMs: 2000 }, clock.now());
  table.merge(
    NAMES.slice(1).map((name, i) => member(name, i + 1)),
    clock.now(),
  );
  const state = new ClusterState({ id: 'c', settings: { n: 3, w: 2, r: 2, consistency: 'strict' } }, table);
  const replica = new LocalReplica(
    store,
    new ValueCodec(new ZlibBrotliCodec(), { minBytes: 512, quality: 4 }),
    new LruCache<string, StoredRecord>(1 << 20),
    clock,
    {
      actor: 'n1#x',
      maxSiblings: 64,
      reportChanges: () => true,
    },
  );
  const trees = new TreeSet('n1', state, replica);
  replica.onChange = (change) => trees.onChange(change);
  return { clock, state, replica, trees };
}

const key = (i: number) => Buffer.from(`key:${i}`);

/** A record another replica wrote (so merges add versions this node did not create). */
function foreign(actor: string, value: string): StoredRecord {
  const v: StoredValue = { codec: 0, stored: Buffer.from(value), raw: Buffer.from(value) };
  return applyWrite(emptyRecord<StoredValue>(), emptyVector, actor, v, 1);
}

async function workload(replica: LocalReplica, from: number, count: number): Promise<void> {
  const ops: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) {
    ops.push(replica.write(key(i), Buffer.from(`v${i}`), undefined));
    if (i % 3 === 0) ops.push(replica.merge(key(i), foreign('n2#x', `w${i}`)));
    if (i % 7 === 0) ops.push(replica.write(key(i - 1), null, undefined));
  }
  await Promise.all(ops);
}

for (const kind of ['memory', 'level'] as const) {
  t.test(`${kind} store: trees kept up by changes equal trees rebuilt from the records, also when writes race a rebuild`, async (t) => {
    let dir: string | undefined;
    let store: Store;
    if (kind === 'level') {
      dir = mkdtempSync(join(tmpdir(), 'kvctl-trees-'));
      store = await LevelStore.open(join(dir, 'db'), { sync: false });
    } else store = new MemoryStore();
    t.teardown(async () => {
      await store.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    const { replica, trees } = build(store);
    await replica.countKeys();
    await trees.rebuild();
    await workload(replica, 0, 300);
    const live = trees.roots();
    t.equal(Object.keys(live).length, 3, 'one tree per peer');
    await trees.rebuild();
    t.same(trees.roots(), live, 'a rebuild reproduces the trees the changes built');

    // Writes, merges and deletes while a rebuild takes and reads its snapshot, the rebuild starting
    // at different points of the writes' progress (some committed but not yet reported, some not).
    for (let delay = 0; delay < 16; delay++) {
      const writing = workload(replica, 200 + delay * 50, 100);
      for (let i = 0; i < delay; i++) await (i % 3 === 2 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
      await Promise.all([writing, trees.rebuild()]);
      const afterRace = trees.roots();
      await trees.rebuild();
      t.same(afterRace, trees.roots(), `a rebuild started after ${delay} turns of writing agrees with a quiet one`);
    }

    // A forget removes the key's entry.
    const k = key(5);
    const record = (await replica.read(k, false)) as StoredRecord;
    const before = trees.roots();
    t.ok(await replica.forget(k, record));
    const afterForget = trees.roots();
    t.not(JSON.stringify(afterForget), JSON.stringify(before), 'forgetting a key changes a root');
    await trees.rebuild();
    t.same(trees.roots(), afterForget, 'and a rebuild agrees');
  });
}

t.test('entries(peer, leaves) lists exactly the keys of those leaves the peer shares, with their digests', async (t) => {
  const { replica, trees, state } = build(new MemoryStore());
  await workload(replica, 0, 200);
  const targets = [...new Set(Array.from({ length: 40 }, (_, i) => leafOf(key(i * 13))))];
  let listed = 0;
  for (const peer of ['n2', 'n3', 'n4']) {
    const got = await trees.entries(peer, targets);
    t.equal(got.length, targets.length, 'one listing per leaf asked, in order');
    for (const [j, leaf] of targets.entries()) {
      listed += got[j]?.length ?? 0;
      const expected: [string, string][] = [];
      for (let i = 0; i < 600; i++) {
        const k = key(i);
        const record = await replica.read(k, false);
        const shared = state.ring.primaries(k, 3);
        if (leafOf(k) === leaf && record && shared.includes('n1') && shared.includes(peer)) expected.push([k.toString('base64'), versionDigest(record)]);
      }
      t.same(new Map(got[j]), new Map(expected), `${peer}, leaf ${leaf}`);
    }
  }
  t.ok(listed > 20, `${listed} entries listed`);
});
