/**
 * The trees follow the replica's committed changes, and a build from a scan of the records agrees
 * with them, also when writes, merges and forgets race the scan (the scan-and-replay path), on the
 * memory store and on LevelDB; a ring change keeps, splits and merges trees without a scan where
 * the node held the positions before, and agrees with a fresh build; leaf listings come from the data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { leafBounds } from '../../src/antientropy/merkle-tree.js';
import { TreeSet, type TreeSetState } from '../../src/antientropy/tree-set.js';
import { applyWrite, emptyRecord, emptyVector, versionDigest } from '../../src/clock/index.js';
import { VirtualClock } from '../../src/env/clock.js';
import { ClusterState } from '../../src/membership/cluster-state.js';
import { MemberTable, newMember } from '../../src/membership/member-table.js';
import type { TreeLeaf } from '../../src/protocol/peer.js';
import { LocalReplica } from '../../src/replica/local-replica.js';
import { Ring } from '../../src/ring/index.js';
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
  const table = new MemberTable(member('n1', 0), { intervalMs: 200, suspectAfterMs: 1000, downAfterMs: 2000 }, clock.now());
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
    const { replica, state, trees } = build(store);
    await replica.countKeys();
    await trees.rebuild();
    await workload(replica, 0, 300);
    const live = trees.roots();
    t.equal(Object.keys(live).length, 3, 'one root per peer');
    const fresh = new TreeSet('n1', state, replica);
    await fresh.rebuild();
    t.same(fresh.roots(), live, 'a build from a scan reproduces the trees the changes built');

    // Writes, merges and deletes while a new set of trees scans the records, the scan starting at
    // different points of the writes' progress (some committed but not yet reported, some not).
    for (let delay = 0; delay < 16; delay++) {
      const racing = new TreeSet('n1', state, replica);
      replica.onChange = (change) => {
        trees.onChange(change);
        racing.onChange(change);
      };
      const writing = workload(replica, 200 + delay * 50, 100);
      for (let i = 0; i < delay; i++) await (i % 3 === 2 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
      await Promise.all([writing, racing.rebuild()]);
      t.same(racing.roots(), trees.roots(), `a scan started after ${delay} turns of writing agrees with the trees kept by changes`);
      const quiet = new TreeSet('n1', state, replica);
      await quiet.rebuild();
      t.same(quiet.roots(), trees.roots(), 'and with a quiet scan');
    }
    replica.onChange = (change) => trees.onChange(change);

    // A forget removes the key's entry.
    const k = key(5);
    const record = (await replica.read(k, false)) as StoredRecord;
    const before = trees.roots();
    t.ok(await replica.forget(k, record));
    const afterForget = trees.roots();
    t.not(JSON.stringify(afterForget), JSON.stringify(before), 'forgetting a key changes a root');
    const again = new TreeSet('n1', state, replica);
    await again.rebuild();
    t.same(again.roots(), afterForget, 'and a scan agrees');
  });
}

t.test('entries(leaves) lists exactly the keys of those leaves, with their digests', async (t) => {
  const { replica, trees } = build(new MemoryStore());
  await trees.rebuild();
  await workload(replica, 0, 200);
  const ranges = trees.sharedWith('n2');
  t.ok(ranges.length > 0, 'n1 shares ranges with n2');
  // The leaves of the first keys, in the ranges holding them.
  const asked: TreeLeaf[] = [];
  for (let i = 0; i < 40; i++) {
    const position = Ring.keyHash(key(i * 13));
    const range = ranges.find((r) => r.first <= position && position <= r.last);
    if (range) asked.push({ first: range.first, last: range.last, leaf: range.tree.leafAt(position) });
  }
  t.ok(asked.length > 5, `${asked.length} leaves asked`);
  const got = await trees.entries(asked);
  t.equal(got.length, asked.length, 'one listing per leaf asked, in order');
  let listed = 0;
  for (const [j, leaf] of asked.entries()) {
    listed += got[j]?.length ?? 0;
    const [first, last] = leafBounds(leaf.first, leaf.last, leaf.leaf);
    const expected: [string, string][] = [];
    for (let i = 0; i < 600; i++) {
      const k = key(i);
      const record = await replica.read(k, false);
      const position = Ring.keyHash(k);
      if (record && position >= first && position <= last) expected.push([k.toString('base64'), versionDigest(record)]);
    }
    t.same(new Map(got[j]), new Map(expected), `leaf ${leaf.leaf} of [${leaf.first}, ${leaf.last}]`);
  }
  t.ok(listed >= 5, `${listed} entries listed`);
});

/** A ring the test moves by hand. */
function movableState(names: string[]): TreeSetState & { move(names: string[]): void } {
  const ringOf = (list: string[]) => new Ring(list.map((name) => ({ name, weight: 1 })));
  const state = {
    ring: ringOf(names),
    settings: { n: 3 },
    get placementId() {
      return `${state.ring.id}/n=3`;
    },
    move(list: string[]) {
      state.ring = ringOf(list);
    },
  };
  return state;
}

t.test('a ring change keeps unchanged ranges, derives split and merged ones without a scan, scans only positions newly ours', async (t) => {
  const store = new MemoryStore();
  const { replica } = build(store);
  await workload(replica, 0, 3000);
  let scans = 0;
  const counted = {
    scanMatching(match: (key: Buffer) => boolean) {
      scans++;
      return replica.scanMatching(match);
    },
  };
  const state = movableState(['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
  const trees = new TreeSet('n1', state, counted);
  replica.onChange = (change) => trees.onChange(change);
  await trees.rebuild();
  t.equal(scans, 1, 'the first build scans');
  const freshRoots = async () => {
    const fresh = new TreeSet('n1', state, replica);
    await fresh.rebuild();
    return fresh.roots();
  };

  // A join: n1 only loses positions, so nothing is scanned.
  const before = new Map(trees.sharedWith('n2').map((r) => [`${r.first}-${r.last}`, r.tree]));
  state.move(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
  t.notOk(trees.ready, 'a new ring makes the trees stale');
  await trees.rebuild();
  t.ok(trees.ready, 'the trees follow the new ring');
  t.equal(scans, 1, 'a join scans nothing here');
  const follow = trees.lastFollow;
  t.ok(follow && follow.kept > 0 && follow.derived > 0 && follow.toScan === 0, `kept ${follow?.kept}, derived ${follow?.derived}, scanned ${follow?.toScan}`);
  const keptSame = trees.sharedWith('n2').filter((r) => before.get(`${r.first}-${r.last}`) === r.tree).length;
  t.ok(keptSame > 0, `${keptSame} trees shared with n2 kept as they were`);
  t.same(trees.roots(), await freshRoots(), 'after a join the trees equal a fresh build');

  // A leave: n1 gains positions, which are scanned; the rest is derived.
  state.move(['n1', 'n2', 'n3', 'n4', 'n6', 'n7']);
  await trees.rebuild();
  t.equal(scans, 2, 'a leave scans once, for the positions newly ours');
  t.ok(
    (trees.lastFollow?.toScan ?? 0) > 0 && (trees.lastFollow?.toScan ?? 0) < trees.treeCount,
    `${trees.lastFollow?.toScan} of ${trees.treeCount} ranges scanned`,
  );
  t.same(trees.roots(), await freshRoots(), 'after a leave the trees equal a fresh build');

  // Writes keep following the new ranges.
  await workload(replica, 3000, 500);
  t.same(trees.roots(), await freshRoots(), 'and writes after it keep them equal');
});
