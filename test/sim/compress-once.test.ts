/**
 * A value is compressed once, by the replica that first stores it, and its stored bytes travel
 * as they are (seeded simulation, real KvNodes): N=3 replication, hinted handoff to a node that
 * was down, anti-entropy repair of a wiped replica and ownership transfer to new replicas each
 * leave every copy byte-identical to the coordinator's, with exactly one brotli compression per
 * put in the whole cluster and no decompression anywhere on the way.
 */
import t from 'tap';
import type { ClusterSettings } from '../../src/config.js';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';
import { CODEC_BROTLI } from '../../src/storage/codec.js';
import { InlineBrotliCodec } from '../../src/storage/zlib-codec.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 14;
const PUTS = 40;

/** Counts every brotli call any node of the simulated cluster makes (they all run in this process). */
const calls = { compress: 0, decompress: 0 };
const { compress, decompress } = InlineBrotliCodec.prototype;
InlineBrotliCodec.prototype.compress = function (raw, quality) {
  calls.compress++;
  return compress.call(this, raw, quality);
};
InlineBrotliCodec.prototype.decompress = function (data) {
  calls.decompress++;
  return decompress.call(this, data);
};
t.teardown(() => {
  InlineBrotliCodec.prototype.compress = compress;
  InlineBrotliCodec.prototype.decompress = decompress;
});

/** A JSON document of ~1.5 KiB, different for every key, that brotli shrinks well. */
function documentFor(i: number): string {
  const items = Array.from({ length: 12 }, (_, j) => ({
    sku: `SKU-${i}-${j}`,
    title: `Item ${j} of order ${i}`,
    qty: (i * 7 + j) % 5,
    price: ((i + j) % 97) + 0.99,
  }));
  return JSON.stringify({ id: `order-${i}`, customer: { name: `Customer ${i}`, email: `customer${i}@example.com` }, items, note: 'deliver to the back door' });
}

async function startCluster(nodes: number, settings: ClusterSettings): Promise<SimCluster> {
  const sim = new SimCluster({ seed: SEED, nodes, settings });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  return sim;
}

async function putAll(sim: SimCluster, prefix: string, via: readonly SimNode[]): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < PUTS; i++) {
    const key = `${prefix}:${i}`;
    keys.push(key);
    await sim.settle(sim.request(via[i % via.length] as SimNode, { op: 'put', key, value: documentFor(i) }));
  }
  return keys;
}

/**
 * For each key, the stored bytes of its one value on every node holding it: all copies must be
 * brotli-compressed and byte-identical. Returns the keys that differ, with why.
 */
async function copiesDiffering(sim: SimCluster, keys: readonly string[], holders: (key: string) => readonly SimNode[]): Promise<string[]> {
  const differing: string[] = [];
  for (const key of keys) {
    const copies: Buffer[] = [];
    for (const node of holders(key)) {
      const record = await sim.settle(node.built.replica.read(Buffer.from(key), false));
      const value = record?.siblings.length === 1 ? record.siblings[0]?.value : undefined;
      if (!value) differing.push(`${key}: ${node.name} holds ${record ? `${record.siblings.length} siblings` : 'nothing'}`);
      else if (value.codec !== CODEC_BROTLI) differing.push(`${key}: ${node.name} holds it raw`);
      else copies.push(value.stored);
    }
    if (copies.some((c) => !c.equals(copies[0] as Buffer))) differing.push(`${key}: stored bytes differ between replicas`);
  }
  return differing;
}

const primariesOf = (sim: SimCluster) => (key: string) => {
  const state = (sim.nodes[0] as SimNode).built.state;
  const names = state.ring.primaries(Buffer.from(key), state.settings.n);
  return sim.nodes.filter((n) => names.includes(n.name));
};

t.test(`N=3 on 3 nodes: one compression per put, identical stored bytes on every replica (seed ${SEED})`, async (t) => {
  const sim = await startCluster(3, { n: 3, w: 2, r: 2, consistency: 'strict' });
  calls.compress = 0;
  calls.decompress = 0;
  const keys = await putAll(sim, 'doc', sim.nodes);
  await runFor(sim.clock, 1000, 10); // the third copy of each W=2 put arrives
  t.equal(calls.compress, PUTS, `${PUTS} puts, ${calls.compress} compressions in the cluster`);
  t.equal(calls.decompress, 0, 'no node decompressed a value to store it');
  t.same(await copiesDiffering(sim, keys, () => sim.nodes), [], 'each value is held compressed, byte-identical, by all three nodes');
  const compressedCounted = sim.nodes.reduce((sum, n) => sum + n.built.replica.codec.compressed, 0);
  t.equal(compressedCounted, PUTS, 'the nodes count as many compressed values as puts');
  sim.stop();
});

t.test(`hinted handoff: a hint reaches a node that was down as the bytes first stored (seed ${SEED})`, async (t) => {
  // Four nodes so that each key has a fallback outside its three replicas to keep its hint.
  const sim = await startCluster(4, { n: 3, w: 2, r: 2, consistency: 'sloppy' });
  const [a, b, c, d] = sim.nodes as [SimNode, SimNode, SimNode, SimNode];
  sim.pause(d);
  await runFor(sim.clock, 5000, 20); // gossip calls d down: writes plan a fallback for it at once
  t.notOk(a.built.state.table.isUp(d.name, sim.clock.now()), 'd is down for the others');
  calls.compress = 0;
  calls.decompress = 0;
  const keys = await putAll(sim, 'hinted', [a, b, c]);
  const hintsHeld = sim.nodes.reduce((sum, n) => sum + n.built.hints.total(), 0);
  t.ok(hintsHeld > 0, `${hintsHeld} hints held for d`);

  sim.resume(d);
  await runFor(sim.clock, 10_000, 20); // gossip sees d back; hints are delivered
  t.equal(
    sim.nodes.reduce((sum, n) => sum + n.built.hints.total(), 0),
    0,
    'every hint was delivered',
  );
  const delivered = sim.nodes.reduce((sum, n) => sum + n.built.hints.counters.delivered, 0);
  t.ok(delivered >= hintsHeld, `${delivered} hints delivered`);
  t.equal(calls.compress, PUTS, `${PUTS} puts, ${calls.compress} compressions, hints and deliveries included`);
  t.equal(calls.decompress, 0, 'no hint was decompressed on its way');
  const holdersWithD = (key: string) => primariesOf(sim)(key);
  t.ok(
    keys.some((k) => holdersWithD(k).includes(d)),
    'd is a replica of some of the keys',
  );
  t.same(await copiesDiffering(sim, keys, holdersWithD), [], 'd holds the same bytes as the other replicas');
  sim.stop();
});

t.test(`anti-entropy: a wiped replica gets back the bytes first stored (seed ${SEED})`, async (t) => {
  const sim = await startCluster(3, { n: 3, w: 2, r: 2, consistency: 'strict' });
  const [a, b, c] = sim.nodes as [SimNode, SimNode, SimNode];
  calls.compress = 0;
  calls.decompress = 0;
  const keys = await putAll(sim, 'repair', sim.nodes);
  await runFor(sim.clock, 1000, 10);

  // c loses its data (identity and membership kept), as after a disk replaced under it.
  sim.crash(c);
  const store = c.disk.open();
  const dataKeys: Buffer[] = [];
  for await (const key of store.keys(Buffer.from('d'), Buffer.from('e'))) dataKeys.push(key);
  await store.write(dataKeys.map((key) => ({ type: 'del' as const, key })));
  t.equal(dataKeys.length, PUTS, `c's ${PUTS} records wiped`);
  await sim.restart(c);
  await runFor(sim.clock, 2000, 20);
  t.same((await copiesDiffering(sim, keys.slice(0, 1), () => [c])).length, 1, 'c holds nothing before the repair');

  for (const peer of [a, b]) await sim.settle(c.built.antiEntropy.exchange(peer.name));
  t.equal(calls.compress, PUTS, `${PUTS} puts, ${calls.compress} compressions, the repair included`);
  t.equal(calls.decompress, 0, 'the repair decompressed nothing');
  t.same(await copiesDiffering(sim, keys, () => sim.nodes), [], 'c holds the same bytes as a and b again');
  sim.stop();
});

t.test(`ownership transfer: raising N copies the bytes first stored to the new replicas (seed ${SEED})`, async (t) => {
  const sim = await startCluster(3, { n: 1, w: 1, r: 1, consistency: 'strict' });
  calls.compress = 0;
  calls.decompress = 0;
  const keys = await putAll(sim, 'moved', sim.nodes);
  t.equal(
    sim.nodes.reduce((sum, n) => sum + n.built.replica.keys, 0),
    PUTS,
    'N=1: one copy of each key',
  );
  await sim.settle(sim.request(sim.nodes[0] as SimNode, { op: 'cluster.set', n: 3, w: 2, r: 2 }));
  await runFor(sim.clock, 5000, 20);
  t.same(
    sim.nodes.map((n) => n.built.replica.keys),
    [PUTS, PUTS, PUTS],
    'N=3: every node holds every key',
  );
  t.equal(calls.compress, PUTS, `${PUTS} puts, ${calls.compress} compressions, the transfers included`);
  t.equal(calls.decompress, 0, 'the transfers decompressed nothing');
  t.same(await copiesDiffering(sim, keys, () => sim.nodes), [], 'the new replicas hold the same bytes as the first');
  sim.stop();
});
