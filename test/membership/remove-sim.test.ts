/**
 * Removing a dead node, simulated with whole KvNodes (SimCluster), seeded: the removal asked of one
 * node spreads by gossip and wins over the dead node's last entry everywhere; the survivors copy
 * each key it held from the remaining replicas, so every key ends with N copies on its new
 * replicas; and the dead node restarted from its old store learns it was removed and stays out.
 * A failing run names its seed; `SIM_SEED=<n>` replays that one seed only.
 */
import t from 'tap';
import type { KvError } from '../../src/errors.js';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const SEEDS = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : [1, 2, 3];
const KEYS = 100;
const STEP_MS = 10;

function survivorsAgree(sim: SimCluster, victim: SimNode): boolean {
  return sim.nodes
    .filter((n) => n !== victim)
    .every((n) => {
      const { state, transfer } = n.built;
      return (
        state.table.get(victim.name)?.status === 'removed' && !state.ring.members.some((m) => m.name === victim.name) && !state.previousRing && transfer.done
      );
    });
}

t.test('a removed dead node: the removal spreads, every key gets N copies, and a restart stays out', async (t) => {
  for (const seed of SEEDS) {
    const sim = new SimCluster({ seed, nodes: 5, settings: { n: 3, w: 2, r: 2, consistency: 'strict' } });
    t.teardown(() => sim.stop());
    await sim.start();
    await runFor(sim.clock, 3000, STEP_MS);
    const [first] = sim.nodes as [SimNode];
    for (let i = 0; i < KEYS; i++) await sim.settle(sim.request(first, { op: 'put', key: `k${i}`, value: `v${i}`, w: 3 }));

    const victim = sim.nodes[1 + sim.random.int(sim.nodes.length - 1)] as SimNode;
    const asker = sim.nodes.find((n) => n !== victim && n !== first) as SimNode;
    t.ok(victim.built.replica.keys > 0, `seed ${seed}: ${victim.name} holds keys`);
    sim.crash(victim);
    const down = await runFor(sim.clock, 10_000, STEP_MS, (now) =>
      sim.nodes.every((n) => n === victim || n.built.state.table.health(victim.name, now) === 'down'),
    );
    t.ok(down, `seed ${seed}: everyone sees ${victim.name} down`);
    const reply = await sim.settle(sim.request(asker, { op: 'remove', node: victim.name }));
    t.equal(reply.status, 'removed');

    const settled = await runFor(sim.clock, 30_000, STEP_MS, () => survivorsAgree(sim, victim));
    t.ok(settled, `seed ${seed}: every survivor has ${victim.name} removed, off its ring, and its handoff done`);
    const ring = first.built.state.ring;
    let copies = 0;
    for (let i = 0; i < KEYS; i++) {
      const key = Buffer.from(`k${i}`);
      for (const name of ring.primaries(key, 3)) {
        const node = sim.nodes.find((n) => n.name === name) as SimNode;
        if (await node.built.replica.read(key, false)) copies++;
      }
    }
    t.equal(copies, KEYS * 3, `seed ${seed}: each key is held by its 3 replicas on the new ring`);

    await sim.restart(victim);
    const heard = await runFor(sim.clock, 5000, STEP_MS, () => victim.built.state.table.me.status === 'removed');
    t.ok(heard, `seed ${seed}: the restarted node hears it was removed`);
    await runFor(sim.clock, 3000, STEP_MS);
    t.ok(survivorsAgree(sim, victim), `seed ${seed}: its restart does not put it back on any survivor's ring`);
    t.notOk(
      victim.built.state.ring.members.some((m) => m.name === victim.name),
      `seed ${seed}: not even on its own`,
    );
    const refused = await sim.settle(sim.request(victim, { op: 'put', key: 'k0', value: 'stale' }).catch((err: KvError) => err));
    t.equal((refused as KvError).code, 'KV_NOT_MEMBER', `seed ${seed}: it takes no client requests`);
    sim.stop();
  }
});

t.test('hints held for a removed node go to the current replicas of their keys', async (t) => {
  for (const seed of SEEDS) {
    const sim = new SimCluster({ seed, nodes: 5, settings: { n: 3, w: 3, r: 2, consistency: 'sloppy' } });
    t.teardown(() => sim.stop());
    await sim.start();
    await runFor(sim.clock, 3000, STEP_MS);
    const [first] = sim.nodes as [SimNode];
    const victim = sim.nodes[1 + sim.random.int(sim.nodes.length - 1)] as SimNode;
    const survivors = sim.nodes.filter((n) => n !== victim);
    sim.crash(victim);
    await runFor(sim.clock, 10_000, STEP_MS, (now) => survivors.every((n) => n.built.state.table.health(victim.name, now) === 'down'));
    // Written while the victim is down: W=3 is met with a fallback holding a hint for it.
    for (let i = 0; i < KEYS; i++) await sim.settle(sim.request(first, { op: 'put', key: `k${i}`, value: `v${i}` }));
    const hintsFor = () => survivors.reduce((sum, n) => sum + (n.built.hints.targets().includes(victim.name) ? 1 : 0), 0);
    t.ok(hintsFor() > 0, `seed ${seed}: survivors hold hints for ${victim.name}`);

    await sim.settle(sim.request(first, { op: 'remove', node: victim.name }));
    const delivered = await runFor(sim.clock, 30_000, STEP_MS, () => hintsFor() === 0 && survivorsAgree(sim, victim));
    t.ok(delivered, `seed ${seed}: no survivor keeps hints for the removed node`);
    let copies = 0;
    for (let i = 0; i < KEYS; i++) {
      const key = Buffer.from(`k${i}`);
      for (const name of first.built.state.ring.primaries(key, 3)) {
        if (await (survivors.find((n) => n.name === name) as SimNode).built.replica.read(key, false)) copies++;
      }
    }
    t.equal(copies, KEYS * 3, `seed ${seed}: each key is held by its 3 replicas on the new ring`);
    sim.stop();
  }
});

t.test('remove refuses a live node, ourselves and unknown names', async (t) => {
  const sim = new SimCluster({ seed: 7, nodes: 3, settings: { n: 3, w: 2, r: 2, consistency: 'strict' } });
  t.teardown(() => sim.stop());
  await sim.start();
  await runFor(sim.clock, 3000, STEP_MS);
  const [a, b] = sim.nodes as [SimNode, SimNode];
  const attempt = (body: Record<string, unknown>) => sim.settle(sim.request(a, { op: 'remove', ...body }).catch((err: KvError) => err));
  t.match(await attempt({ node: b.name }), { code: 'KV_NODE_UP', message: /node2 is alive .* kvctl leave/ });
  t.match(await attempt({ node: a.name }), { code: 'KV_BAD_REQUEST', message: /cannot remove itself/ });
  t.match(await attempt({ node: 'node9' }), { code: 'KV_BAD_REQUEST', message: /unknown node node9/ });
  t.equal(a.built.state.table.get(b.name)?.status, 'up', 'nothing changed');
  const forced = await attempt({ node: b.name, force: true });
  t.match(forced, { status: 'removed', health: 'alive' });
  const heard = await runFor(sim.clock, 5000, STEP_MS, () => b.built.state.table.me.status === 'removed');
  t.ok(heard, 'a forced live node hears of its removal from the answers to its own gossip');
});
