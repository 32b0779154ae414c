/**
 * The chaos workload: five real KvNodes (N=3 W=2 R=2) on a lossy simulated network, seeded, with
 * random crashes (kill -9), pauses, partitions and optionally power losses during client
 * operations through random coordinators, in strict and sloppy mode. Invariants are checked after
 * every step (invariants.ts); once the faults stop, after hint delivery and a full anti-entropy
 * repair, every pair of replicas agrees and every acknowledged value is still read at R=3 unless a
 * causal successor replaced it. The first violation ends the run.
 *
 * Two key spaces, so each has an exact oracle (ack-ledger.ts): on `k*` keys writes carry the
 * context of a read or keep siblings (`keepSiblings`); on `p*` keys every write is a plain
 * overwrite. Used by test/sim/kv-chaos.test.ts and by the seed sweep (seed-sweep.ts).
 */
import type { ClusterSettings } from '../config.js';
import type { KvError } from '../errors.js';
import { AckLedger } from './ack-ledger.js';
import type { Violation } from './invariants.js';
import type { PlantedBug } from './planted-bugs.js';
import { SimCluster, type SimNode } from './sim-cluster.js';

export interface ChaosOptions {
  seed: number;
  /** Client operations; default 2000. */
  ops?: number;
  /** Keys per key space; default 60. */
  keys?: number;
  /** Values are padded to this many bytes (512 or more are compressed); default: unpadded (~12 bytes). */
  valueBytes?: number;
  /** Stores fsync every write (the daemon's --sync); default false. */
  sync?: boolean;
  /**
   * Power losses among the faults. Without sync they are spaced at least the disks' write-back
   * time apart (see sim-store.ts for why that is what no-sync durability rests on).
   */
  powerLoss?: boolean;
  /** Check invariants after every step; default true. */
  checkEveryStep?: boolean;
  trace?: boolean;
  plant?: PlantedBug;
}

export interface ChaosOutcome {
  seed: number;
  acked: number;
  failed: number;
  chaos: { crashes: number; pauses: number; partitions: number; powerLosses: number };
  virtualMs: number;
  /** Values the nodes' current processes stored compressed (with `valueBytes` >= 512). */
  compressed: number;
  /** The first violation ends the run, so at most one (plus any found in the same step). */
  violations: Violation[];
  traceHash: string | undefined;
}

export const CHAOS_SETTINGS: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };

type Impairment = 'crash' | 'pause' | 'power';

/** Runs the workload for one seed; never throws for what the cluster does (violations are returned). */
export async function chaosRun(options: ChaosOptions): Promise<ChaosOutcome> {
  const { seed } = options;
  const ops = options.ops ?? 2000;
  const keyCount = options.keys ?? 60;
  const ledger = new AckLedger();
  const sim = new SimCluster({
    seed,
    nodes: 5,
    settings: CHAOS_SETTINGS,
    lossRate: 0.01,
    sync: options.sync,
    checkEveryStep: options.checkEveryStep ?? true,
    ledger,
    trace: options.trace,
    plant: options.plant,
  });
  const start = sim.clock.now();
  const violations = () => sim.violations.length > 0;
  await sim.start();
  await sim.run(3000, 20);
  const { random } = sim;
  const pad = (value: string) => (options.valueBytes ? `${value}|${filler(options.valueBytes - value.length - 1)}` : value);
  let inFlight = 0;
  let issued = 0;
  const impaired = new Map<SimNode, { until: number; kind: Impairment }>();
  let partitionUntil = 0;
  let lastPowerLoss = Number.NEGATIVE_INFINITY;
  const chaos = { crashes: 0, pauses: 0, partitions: 0, powerLosses: 0 };
  const kinds: Impairment[] = options.powerLoss ? ['crash', 'pause', 'power'] : ['crash', 'pause'];
  const writebackMs = (sim.nodes[0] as SimNode).disk.writebackMs;

  const live = () => sim.nodes.filter((n) => !sim.isDown(n));
  const put = async (node: SimNode, body: Record<string, unknown>, replaces: readonly string[] | 'plain') => {
    const key = body.key as string;
    const write = ledger.issue(key, body.value as string, replaces, sim.clock.now());
    let acked = false;
    try {
      await sim.request(node, body);
      acked = true;
    } catch {
      // refused, timed out or reset: not acknowledged
    }
    ledger.settle(write, acked, sim.clock.now());
  };
  const op = async (i: number) => {
    const coordinators = live();
    const node = coordinators[random.int(coordinators.length)] as SimNode;
    const consistency = random.next() < 0.5 ? 'strict' : 'sloppy';
    if (random.next() < 0.3) {
      const key = `p${random.int(keyCount)}`;
      await put(node, { op: 'put', key, value: pad(`${key}=v${i}`), consistency }, 'plain');
      return;
    }
    const key = `k${random.int(keyCount)}`;
    const value = pad(`${key}=v${i}`);
    if (random.next() < 0.5) {
      // Read, then write with the context: replaces what the read saw.
      let got: Record<string, unknown>;
      try {
        got = await sim.request(node, { op: 'get', key, consistency });
      } catch {
        return;
      }
      const seen = (got.values as string[] | undefined) ?? [];
      await put(node, { op: 'put', key, value, consistency, ...(got.context ? { context: got.context } : {}) }, seen);
    } else {
      await put(node, { op: 'put', key, value, consistency, keepSiblings: true }, []);
    }
  };

  while ((issued < ops || inFlight > 0) && !violations()) {
    const now = sim.clock.now();
    // Chaos: end impairments that are over, start new ones now and then (at most two nodes at once).
    for (const [node, state] of impaired) {
      if (now < state.until) continue;
      impaired.delete(node);
      if (state.kind === 'pause') sim.resume(node);
      else await sim.restart(node);
    }
    if (partitionUntil && now >= partitionUntil) {
      sim.heal();
      partitionUntil = 0;
    }
    if (random.next() < 0.01 && impaired.size < 2) {
      const candidates = sim.nodes.filter((n) => !impaired.has(n));
      const node = candidates[random.int(candidates.length)] as SimNode;
      let kind = kinds[random.int(kinds.length)] as Impairment;
      if (kind === 'power' && !options.sync && now - lastPowerLoss < writebackMs) kind = 'crash';
      if (kind === 'crash') sim.crash(node);
      else if (kind === 'pause') sim.pause(node);
      else {
        sim.powerLoss(node, { partial: random.next() < 0.5 });
        lastPowerLoss = now;
      }
      chaos[kind === 'crash' ? 'crashes' : kind === 'pause' ? 'pauses' : 'powerLosses']++;
      impaired.set(node, { until: now + 500 + random.int(4000), kind });
    }
    if (random.next() < 0.004 && !partitionUntil) {
      const shuffled = [...sim.nodes].sort(() => random.next() - 0.5);
      sim.partition(shuffled.slice(0, 2), shuffled.slice(2));
      partitionUntil = now + 1000 + random.int(3000);
      chaos.partitions++;
    }
    for (let j = 0; j < 4 && issued < ops; j++) {
      const i = issued++;
      inFlight++;
      void op(i).finally(() => inFlight--);
    }
    await sim.run(10, 10);
  }

  const found = [...sim.violations];
  if (found.length === 0) found.push(...(await checkAfterRepair(sim, ledger, impaired, keyCount)));
  sim.stop();
  let compressed = 0;
  for (const n of sim.nodes) compressed += n.built.replica.codec.compressed;
  return {
    seed,
    acked: ledger.ackedCount,
    failed: ledger.failedCount,
    chaos,
    virtualMs: sim.clock.now() - start,
    compressed,
    violations: found,
    traceHash: options.trace ? sim.traceHash() : undefined,
  };
}

/**
 * Heals everything (loss included), lets gossip settle and hints drain, repairs every pair; then
 * every pair of replicas agrees and every acknowledged value not replaced is read at R=3.
 */
async function checkAfterRepair(sim: SimCluster, ledger: AckLedger, impaired: Map<SimNode, { kind: Impairment }>, keyCount: number): Promise<Violation[]> {
  sim.heal();
  sim.network.setLossRate(0);
  for (const [node, state] of impaired) {
    if (state.kind === 'pause') sim.resume(node);
    else await sim.restart(node);
  }
  await sim.run(8000, 20);
  for (const a of sim.nodes) {
    for (const b of sim.nodes) {
      if (a.name >= b.name) continue;
      await sim.settle(a.built.antiEntropy.exchange(b.name));
    }
  }
  const found: Violation[] = [];
  const fail = (invariant: Violation['invariant'], detail: string) => found.push({ invariant, at: sim.clock.now(), detail });
  const disagreeing: string[] = [];
  for (const a of sim.nodes) {
    for (const b of sim.nodes) {
      if (a.name < b.name && a.built.trees.tree(b.name).root() !== b.built.trees.tree(a.name).root()) disagreeing.push(`${a.name}/${b.name}`);
    }
  }
  if (disagreeing.length > 0) fail('replicas-agree', `after repair, the trees of ${disagreeing.join(', ')} differ`);
  for (let k = 0; k < keyCount; k++) {
    for (const key of [`k${k}`, `p${k}`]) {
      const reader = sim.nodes[k % sim.nodes.length] as SimNode;
      let values: string[];
      try {
        const got = await sim.settle(sim.request(reader, { op: 'get', key, r: 3, consistency: 'strict' }));
        values = (got.values as string[] | undefined) ?? [];
      } catch (err) {
        fail('acked-readable', `after repair, a read of ${key} at R=3 failed: ${(err as KvError).code}`);
        continue;
      }
      const lost = ledger.lost(key, new Set(values));
      if (lost.length > 0)
        fail('acked-readable', `after repair, a read of ${key} at R=3 misses acknowledged ${lost.map((w) => w.value.split('|')[0]).join(', ')}`);
    }
  }
  return [...sim.violations, ...found];
}

/** Compressible filler text of `bytes` bytes (JSON-like, a handful of distinct bytes). */
function filler(bytes: number): string {
  const unit = '{"item":"widget","qty":1,"tags":["a","b"]},';
  return unit.repeat(Math.ceil(Math.max(0, bytes) / unit.length)).slice(0, Math.max(0, bytes));
}
