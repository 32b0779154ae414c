/**
 * Writes coordinated in the same turn reach each replica as one kv.replicate.many line, and a
 * replica answers per record: a record it cannot store fails only its own write. Three real KvNodes on the
 * simulated network, seeded.
 */
import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { runFor, SimCluster } from '../../src/sim/index.js';
import { simAsPeer } from '../helpers/peer-frames.js';

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

t.test('a replica answers per record: the one it cannot store fails, the others are stored', async (t) => {
  const sim = await cluster(6);
  const [node1, node2] = sim.nodes;
  if (!node1 || !node2) throw new Error('no nodes');
  const asPeer = (node: typeof node1, body: Record<string, unknown>) => simAsPeer(sim, node, body);
  await sim.settle(sim.request(node1, { op: 'put', key: 'good', value: 'x' }));
  // A well-formed record for a new key, taken from a real read of node1's copy.
  const wire = (await asPeer(node1, { op: 'kv.read', key: Buffer.from('good').toString('base64') })).record;
  // A well-formed record, at the sibling limit, that the replica cannot merge: the key already
  // holds a version concurrent with all of them, and the merge would go over the limit.
  await sim.settle(sim.request(node2, { op: 'put', key: 'crowded', value: 'already there' }));
  const atLimit = defaultLimits.maxSiblings;
  const crowded = {
    clock: Array.from({ length: atLimit }, (_, i) => [`w${i}~1`, 1]),
    siblings: Array.from({ length: atLimit }, (_, i) => [`w${i}~1`, 1, 5, 0, Buffer.from(`v${i}`).toString('base64')]),
  };
  const reply = await asPeer(node2, {
    op: 'kv.replicate.many',
    items: [
      { key: Buffer.from('other').toString('base64'), record: wire },
      { key: Buffer.from('crowded').toString('base64'), record: crowded },
    ],
  });
  const results = reply.results as ({ code: string } | null)[];
  t.equal(results.length, 2);
  t.equal(results[0], null, 'the good record is stored');
  t.equal(results[1]?.code, 'KV_TOO_MANY_SIBLINGS', 'the crowded one gets its own error');
  const got = await asPeer(node2, { op: 'kv.read', key: Buffer.from('other').toString('base64') });
  t.ok(got.record, 'node2 holds the good record');
});

t.test('a malformed record refuses the whole message; a client connection may not replicate at all', async (t) => {
  const sim = await cluster(7);
  const [, node2] = sim.nodes;
  if (!node2) throw new Error('no nodes');
  const body = {
    op: 'kv.replicate.many',
    items: [
      { key: Buffer.from('fine').toString('base64'), record: { clock: [['a~1', 1]], siblings: [['a~1', 1, 5, 0, 'dg==']] } },
      { key: Buffer.from('broken').toString('base64'), record: { clock: [['a~1', 1]], siblings: [['a~1', 9, 5, 0, 'dg==']] } },
    ],
  };
  await t.rejects(simAsPeer(sim, node2, body), { code: 'KV_BAD_REQUEST' }, 'refused as a whole');
  const fine = await simAsPeer(sim, node2, { op: 'kv.read', key: Buffer.from('fine').toString('base64') });
  t.equal(fine.record, null, 'nothing of a refused message was stored');
  await t.rejects(sim.settle(sim.request(node2, { ...body, items: body.items.slice(0, 1) })), { code: 'KV_FORBIDDEN' }, 'peer ops need a peer connection');
});
