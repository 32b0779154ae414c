/**
 * Writes coordinated in the same turn reach each replica as one kv.replicate.many line, and a
 * replica answers per record: one bad record fails only its own write. Three real KvNodes on the
 * simulated network, seeded.
 */
import t from 'tap';
import { runFor, SimCluster } from '../../src/sim/index.js';

async function cluster(seed: number): Promise<SimCluster> {
  const sim = new SimCluster({ seed, nodes: 3, settings: { n: 3, w: 3, r: 3, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  return sim;
}

t.test('concurrent writes through one coordinator share replica lines; every replica holds every write', async (t) => {
  const sim = await cluster(5);
  const node1 = sim.nodes[0];
  if (!node1) throw new Error('no node');
  const writes = Array.from({ length: 40 }, (_, i) => sim.request(node1, { op: 'put', key: `k${i}`, value: `v${i}` }));
  const replies = await sim.settle(Promise.all(writes));
  t.equal(replies.filter((r) => r.ok === true).length, 40, 'all 40 writes met W=3');
  const { replicaBatches, replicaRecords } = (await sim.settle(sim.request(node1, { op: 'stats' }))).ops as Record<string, number>;
  t.equal(replicaRecords, 80, '40 writes x 2 other replicas');
  t.ok(replicaBatches !== undefined && replicaBatches <= 4, `sent in ${replicaBatches} lines, not 80`);
  for (const node of sim.nodes) {
    for (let i = 0; i < 40; i += 13) {
      const got = await sim.settle(sim.request(node, { op: 'get', key: `k${i}`, r: 1 }));
      t.same(got.values, [`v${i}`], `${node.name} reads k${i} at R=1`);
    }
  }
});

t.test('a replica answers per record: the bad one fails, the good ones are stored', async (t) => {
  const sim = await cluster(6);
  const [node1, node2] = sim.nodes;
  if (!node1 || !node2) throw new Error('no nodes');
  await sim.settle(sim.request(node1, { op: 'put', key: 'good', value: 'x' }));
  // A well-formed record for a new key, taken from a real read of node1's copy.
  const wire = (await sim.settle(sim.request(node1, { op: 'kv.read', key: Buffer.from('good').toString('base64') }))).record;
  const reply = await sim.settle(
    sim.request(node2, {
      op: 'kv.replicate.many',
      items: [
        { key: Buffer.from('other').toString('base64'), record: wire },
        { key: Buffer.from('broken').toString('base64'), record: { clock: 'nope', siblings: [] } },
      ],
    }),
  );
  const results = reply.results as ({ code: string } | null)[];
  t.equal(results.length, 2);
  t.equal(results[0], null, 'the good record is stored');
  t.equal(results[1]?.code, 'KV_BAD_REQUEST', 'the malformed one gets its own error');
  const got = await sim.settle(sim.request(node2, { op: 'kv.read', key: Buffer.from('other').toString('base64') }));
  t.ok(got.record, 'node2 holds the good record');
});
