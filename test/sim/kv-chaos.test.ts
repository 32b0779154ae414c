/**
 * Five real KvNodes on a simulated network, seeded: random crashes (kill -9, store kept), pauses
 * and partitions during thousands of client operations through random coordinators, in strict and
 * sloppy mode. After healing, hint delivery and a full anti-entropy repair, every pair of
 * replicas agrees and no acknowledged write is lost except to a causal successor.
 *
 * Two key spaces, so each has an exact oracle: on `k*` keys writes carry the context of a read
 * or keep siblings (`keepSiblings`), so a value may vanish only if some read that preceded a write
 * saw it; on `p*` keys every write is a plain overwrite, which supersedes whatever its replicas
 * held, so the oracle is the last write issued to each key: if it was acknowledged, it survives.
 * A failing run prints its seed; replay it with SIM_SEED=<seed>.
 */
import t from 'tap';
import { runFor, SimCluster, type SimNode } from '../../src/sim/index.js';

const seeds = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : [11, 22, 33];
const OPS = 2000;
const KEYS = 60;

interface PlainWrite {
  value: string;
  issuedAt: number;
  /** Virtual time its reply or failure came (infinity while in flight). */
  settledAt: number;
  acked: boolean;
}

interface Outcome {
  acked: number;
  failed: number;
  lost: string[];
  /** Plain-overwrite keys whose last write was acknowledged but is gone. */
  lostLast: string[];
  disagreeing: number;
  chaos: { crashes: number; pauses: number; partitions: number };
  virtualMs: number;
}

async function chaosRun(seed: number): Promise<Outcome> {
  const sim = new SimCluster({ seed, nodes: 5, settings: { n: 3, w: 2, r: 2, consistency: 'strict' }, lossRate: 0.01 });
  await sim.start();
  await runFor(sim.clock, 3000, 20);
  const { random } = sim;
  const acked = new Set<string>(); // values acknowledged (k* keys)
  const superseded = new Set<string>(); // values some write's read context covered
  const plainWrites = new Map<string, PlainWrite[]>(); // per p* key, in issue order
  let failed = 0;
  let inFlight = 0;
  let issued = 0;
  const impaired = new Map<SimNode, { until: number; kind: 'crash' | 'pause' }>();
  let partitionUntil = 0;
  const chaos = { crashes: 0, pauses: 0, partitions: 0 };

  const live = () => sim.nodes.filter((n) => !sim.isDown(n));
  const op = async (i: number) => {
    const coordinators = live();
    const node = coordinators[random.int(coordinators.length)] as SimNode;
    const consistency = random.next() < 0.5 ? 'strict' : 'sloppy';
    if (random.next() < 0.3) {
      const key = `p${random.int(KEYS)}`;
      const value = `${key}=v${i}`;
      const write: PlainWrite = { value, issuedAt: sim.clock.now(), settledAt: Number.POSITIVE_INFINITY, acked: false };
      plainWrites.set(key, [...(plainWrites.get(key) ?? []), write]);
      try {
        await sim.request(node, { op: 'put', key, value, consistency });
        write.acked = true;
      } catch {
        failed++;
      }
      write.settledAt = sim.clock.now();
      return;
    }
    const key = `k${random.int(KEYS)}`;
    const value = `${key}=v${i}`;
    try {
      if (random.next() < 0.5) {
        // Read, then write with the context: supersedes what the read saw.
        const got = await sim.request(node, { op: 'get', key, consistency });
        for (const v of (got.values as string[] | undefined) ?? []) superseded.add(v);
        await sim.request(node, { op: 'put', key, value, consistency, ...(got.context ? { context: got.context } : {}) });
      } else {
        await sim.request(node, { op: 'put', key, value, consistency, keepSiblings: true });
      }
      acked.add(value);
    } catch {
      failed++;
    }
  };

  while (issued < OPS || inFlight > 0) {
    const now = sim.clock.now();
    // Chaos: end impairments that are over, start new ones now and then (at most two nodes at once).
    for (const [node, state] of impaired) {
      if (now < state.until) continue;
      impaired.delete(node);
      if (state.kind === 'crash') await sim.restart(node);
      else sim.resume(node);
    }
    if (partitionUntil && now >= partitionUntil) {
      sim.network.heal();
      partitionUntil = 0;
    }
    if (random.next() < 0.01 && impaired.size < 2) {
      const candidates = sim.nodes.filter((n) => !impaired.has(n));
      const node = candidates[random.int(candidates.length)] as SimNode;
      const kind = random.next() < 0.5 ? 'crash' : 'pause';
      if (kind === 'crash') sim.crash(node);
      else sim.pause(node);
      chaos[kind === 'crash' ? 'crashes' : 'pauses']++;
      impaired.set(node, { until: now + 500 + random.int(4000), kind });
    }
    if (random.next() < 0.004 && !partitionUntil) {
      const shuffled = [...sim.nodes].sort(() => random.next() - 0.5);
      sim.network.partition(
        shuffled.slice(0, 2).map((n) => n.addr),
        shuffled.slice(2).map((n) => n.addr),
      );
      partitionUntil = now + 1000 + random.int(3000);
      chaos.partitions++;
    }
    for (let j = 0; j < 4 && issued < OPS; j++) {
      const i = issued++;
      inFlight++;
      void op(i).finally(() => inFlight--);
    }
    await runFor(sim.clock, 10, 10);
  }

  // Heal everything (loss included), let gossip settle and hints drain, then repair every pair.
  sim.network.heal();
  sim.network.setLossRate(0);
  for (const [node, state] of impaired) {
    if (state.kind === 'crash') await sim.restart(node);
    else sim.resume(node);
  }
  await runFor(sim.clock, 8000, 20);
  for (const a of sim.nodes) {
    for (const b of sim.nodes) {
      if (a.name >= b.name) continue;
      await sim.settle(a.built.antiEntropy.exchange(b.name));
    }
  }

  // Every replica pair agrees; every acknowledged value not superseded is still there.
  let disagreeing = 0;
  for (const a of sim.nodes) for (const b of sim.nodes) if (a !== b && a.built.trees.tree(b.name).root() !== b.built.trees.tree(a.name).root()) disagreeing++;
  const present = new Set<string>();
  for (let k = 0; k < KEYS; k++) {
    for (const key of [`k${k}`, `p${k}`]) {
      const reader = sim.nodes[k % sim.nodes.length] as SimNode;
      const got = await sim.settle(sim.request(reader, { op: 'get', key, r: 3, consistency: 'strict' }));
      for (const v of (got.values as string[] | undefined) ?? []) present.add(v);
    }
  }
  const lost = [...acked].filter((v) => !superseded.has(v) && !present.has(v));
  // The last plain write of a key, if acknowledged, survives unless a write still in flight when it was issued superseded it.
  const lostLast: string[] = [];
  for (const writes of plainWrites.values()) {
    const last = writes.at(-1) as PlainWrite;
    const mayHaveSuperseded = writes.filter((w) => w === last || w.settledAt >= last.issuedAt);
    if (last.acked && !mayHaveSuperseded.some((w) => present.has(w.value))) lostLast.push(last.value);
  }
  sim.stop();
  return { acked: acked.size, failed, lost, lostLast, disagreeing, chaos, virtualMs: sim.clock.now() - 1_000_000 };
}

for (const seed of seeds) {
  t.test(`chaos run, seed ${seed}`, async (t) => {
    const outcome = await chaosRun(seed);
    const { crashes, pauses, partitions } = outcome.chaos;
    t.comment(
      `seed ${seed}: ${outcome.acked} acknowledged, ${outcome.failed} refused or failed, ${outcome.lost.length} lost; ${crashes} crashes, ${pauses} pauses, ${partitions} partitions in ${outcome.virtualMs} virtual ms`,
    );
    t.ok(crashes + pauses + partitions >= 3, `seed=${seed}: faults were injected`);
    t.ok(outcome.acked > OPS / 4, `seed=${seed}: the cluster stayed mostly available (${outcome.acked} of ${OPS} acknowledged)`);
    t.equal(outcome.disagreeing, 0, `seed=${seed}: every pair of replicas agrees after repair (replay: SIM_SEED=${seed})`);
    t.same(outcome.lost, [], `seed=${seed}: no acknowledged write lost (replay: SIM_SEED=${seed})`);
    t.same(outcome.lostLast, [], `seed=${seed}: the last acknowledged overwrite of each key survives (replay: SIM_SEED=${seed})`);
  });
}
