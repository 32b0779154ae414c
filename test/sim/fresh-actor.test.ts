/**
 * A node that forgets keys it handed off moves to a new clock actor first (seeded simulation of
 * three real KvNodes). Without it, the node would mint for such a key, coordinated again before
 * its record came back, the same dot it minted before, and the replicas holding the first version
 * would drop the new one while acknowledging it.
 */
import t from 'tap';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';
import { simAsPeer } from '../helpers/peer-frames.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 4;
const b64 = (text: string) => Buffer.from(text).toString('base64');

t.test(`keys a node forgot and then coordinates again keep every acknowledged write (seed ${SEED})`, async (t) => {
  const sim = new SimCluster({ seed: SEED, nodes: 3, settings: { n: 3, w: 2, r: 2, consistency: 'strict' } });
  await sim.start();
  await runFor(sim.clock, 2000, 20);
  const [node1] = sim.nodes as [SimNode, SimNode, SimNode];
  const actorBefore = node1.built.replica.actor;
  for (let i = 0; i < 60; i++) await sim.settle(sim.request(node1, { op: 'put', key: `k${i}`, value: `first${i}` }));
  await runFor(sim.clock, 500, 20);

  // N 3 -> 2: node1 stops being a replica of about a third of the keys, hands them off and forgets them.
  await sim.settle(sim.request(node1, { op: 'cluster.set', n: 2, w: 2, r: 2 }));
  await runFor(sim.clock, 8000, 20);
  const { state } = node1.built;
  const forgotten: string[] = [];
  for (let i = 0; i < 60; i++) {
    const key = `k${i}`;
    if (!state.ring.primaries(Buffer.from(key), 2).includes('node1') && !(await node1.built.replica.read(Buffer.from(key), false))) forgotten.push(key);
  }
  t.ok(forgotten.length > 5, `node1 forgot ${forgotten.length} keys it no longer holds a copy of`);
  t.not(node1.built.replica.actor, actorBefore, `node1 mints under a new actor (${node1.built.replica.actor})`);

  // A write to each such key coordinated at node1 (as a forwarding node would ask it to), keeping siblings.
  for (const key of forgotten) {
    const write = { op: 'kv.coordinate', key: b64(key), value: b64(`second-${key}`), keepSiblings: true };
    await simAsPeer(sim, node1, write);
  }
  const dropped: string[] = [];
  for (const key of forgotten) {
    const got = await sim.settle(sim.request(node1, { op: 'get', key, r: 2 }));
    const values = ((got.values as string[] | undefined) ?? []).sort();
    if (!values.includes(`second-${key}`)) dropped.push(key);
    else t.same(values, [`first${key.slice(1)}`, `second-${key}`], `${key}: both acknowledged writes, as siblings`);
  }
  t.same(dropped, [], 'no acknowledged write was dropped as a version the replicas already had');

  // The epoch survives a restart: the node never goes back to the actor it left.
  const actorAfter = node1.built.replica.actor;
  sim.crash(node1);
  await sim.restart(node1);
  t.equal(node1.built.replica.actor, actorAfter, 'a restart on the same boot keeps the epoch');
  sim.stop();
});
