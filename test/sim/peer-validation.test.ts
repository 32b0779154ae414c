/**
 * What a peer may ask is checked by the node's own rules (seeded simulation of three real
 * KvNodes): no hints for nodes it does not know, no tombstone dropped before its own grace period.
 */
import t from 'tap';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';
import { simAsPeer } from '../helpers/peer-frames.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 9;
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function cluster(): Promise<{ sim: SimCluster; nodes: [SimNode, SimNode, SimNode] }> {
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings: { n: 3, w: 3, r: 3, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  return { sim, nodes: sim.nodes as [SimNode, SimNode, SimNode] };
}

t.test(`a hint is kept only for a member the node knows (seed ${SEED})`, async (t) => {
  const { sim, nodes } = await cluster();
  const [node1, node2] = nodes;
  await sim.settle(sim.request(node1, { op: 'put', key: 'k', value: 'v' }));
  const { record } = await simAsPeer(sim, node1, { op: 'kv.read', key: b64('k') });
  const asPeer = (body: Record<string, unknown>) => simAsPeer(sim, node2, body);
  const reply = await asPeer({
    op: 'kv.replicate.many',
    items: [
      { key: b64('k'), record, hintFor: 'ghost' },
      { key: b64('k'), record, hintFor: 'node3' },
    ],
  });
  const results = reply.results as ({ code: string } | null)[];
  t.equal(results[0]?.code, 'KV_BAD_REQUEST', 'a hint for an invented node is refused');
  t.equal(results[1], null, 'a hint for a member is kept');
  t.equal(node2.built.hints.total(), 1, 'only the member has a hint held for it');
  sim.stop();
});

t.test(`a tombstone younger than the node's grace period is not dropped on request (seed ${SEED})`, async (t) => {
  const { sim, nodes } = await cluster();
  const [node1, node2] = nodes;
  await sim.settle(sim.request(node1, { op: 'put', key: 'gone', value: 'v' }));
  await sim.settle(sim.request(node1, { op: 'delete', key: 'gone' }));
  const { record } = await simAsPeer(sim, node2, { op: 'kv.read', key: b64('gone') });
  const reap = await simAsPeer(sim, node2, { op: 'kv.reap', key: b64('gone'), record });
  t.equal(reap.dropped, false, 'refused: the tombstone is younger than the grace period');
  t.ok(await node2.built.replica.read(Buffer.from('gone'), false), 'the tombstone is still there');
  sim.stop();
});

t.test(`admin ops are taken only from the node's own host (seed ${SEED})`, async (t) => {
  const { sim, nodes } = await cluster();
  const [node1] = nodes;
  const fromElsewhere = (body: Record<string, unknown>) => sim.settle(sim.request(node1, body, 5000, 'client', false));
  await t.rejects(fromElsewhere({ op: 'leave' }), { code: 'KV_FORBIDDEN' }, 'leave from another host');
  await t.rejects(fromElsewhere({ op: 'cluster.set', n: 1, w: 1, r: 1 }), { code: 'KV_FORBIDDEN' }, 'cluster settings from another host');
  t.equal(node1.built.state.table.me.status, 'up', 'the node did not leave');
  t.equal(node1.built.state.settings.n, 3, 'the settings did not change');
  const put = await fromElsewhere({ op: 'put', key: 'k', value: 'v' });
  t.equal(put.ok, true, 'data ops are served to any client');
  const set = await sim.settle(sim.request(node1, { op: 'cluster.set', n: 3, w: 2, r: 2 }));
  t.equal(set.ok, true, "the node's own host may change the settings");
  sim.stop();
});
