/**
 * Gossip and failure detection at scale, measured on the real Gossiper and MemberTable over
 * SimNetwork and VirtualClock (gossip-only nodes, as test/sim/membership-sim.test.ts builds them).
 *
 *   node dist/bench/gossip-scale.js --nodes 200 --loss 0.1 --steady 20 --crashes 5 --watch 0 --seed 1 [--json]
 *
 * Prints: rounds until every node sees every node alive (all booting at once through one seed),
 * gossip message sizes and bytes per node per second in steady state, the worst heartbeat
 * staleness, detection times of crashes (each crash watched by every live node), and false downs
 * (a live member judged down by anyone) over `--watch` more virtual seconds.
 */
import { type ClusterSettings, defaultMembershipSettings, type MembershipSettings } from '../src/config.js';
import { VirtualClock } from '../src/env/clock.js';
import { SeededRandom } from '../src/env/random.js';
import type { Gossiper } from '../src/gossip/gossiper.js';
import type { MemberInfo, MemberTable, MergeResult } from '../src/membership/index.js';
import { newMember } from '../src/membership/index.js';
import { gossipNode, runFor, SimNetwork } from '../src/sim/index.js';

interface Options {
  nodes: number;
  loss: number;
  steadySeconds: number;
  crashes: number;
  watchSeconds: number;
  seed: number;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { nodes: 200, loss: 0, steadySeconds: 20, crashes: 5, watchSeconds: 0, seed: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = Number(argv[i + 1]);
    if (arg === '--json') o.json = true;
    else if (arg === '--nodes') o.nodes = value;
    else if (arg === '--loss') o.loss = value;
    else if (arg === '--steady') o.steadySeconds = value;
    else if (arg === '--crashes') o.crashes = value;
    else if (arg === '--watch') o.watchSeconds = value;
    else if (arg === '--seed') o.seed = value;
    else throw new Error(`unknown argument ${arg}`);
    if (arg !== '--json') i++;
  }
  return o;
}

const settings: MembershipSettings = { ...defaultMembershipSettings };
const clusterSettings: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };
const STEP_MS = 10;
const addrOf = (name: string) => `${name}:7070`;

interface SimNode {
  name: string;
  addr: string;
  table: MemberTable;
  gossiper: Gossiper;
}

/** Traffic delivered to handlers: request and reply frames. */
class Traffic {
  requests = 0;
  requestBytes = 0;
  maxRequestBytes = 0;
  replies = 0;
  replyBytes = 0;
  maxReplyBytes = 0;
  reset(): void {
    Object.assign(this, { requests: 0, requestBytes: 0, maxRequestBytes: 0, replies: 0, replyBytes: 0, maxReplyBytes: 0 });
  }
}

class Cluster {
  readonly clock = new VirtualClock(1_700_000_000_000);
  readonly random: SeededRandom;
  readonly net: SimNetwork;
  readonly nodes = new Map<string, SimNode>();
  readonly traffic = new Traffic();
  /** Live members some node judged down and later heard from again (from merge results). */
  recoveredLive = 0;
  crashed = new Set<string>();

  constructor(seed: number, loss: number) {
    this.random = new SeededRandom(seed);
    this.net = new SimNetwork(this.clock, this.random.fork(), { latencyMs: [1, 20], lossRate: loss });
  }

  boot(name: string, seedAddr: string): SimNode {
    const addr = addrOf(name);
    const self: MemberInfo = newMember({ name, addr, incarnation: `inc-${name}`, generation: this.clock.now(), weight: 1 });
    const { table, gossiper, serve } = gossipNode({
      self,
      network: this.net,
      clock: this.clock,
      random: this.random.fork(),
      settings,
      cluster: { id: 'bench', settings: clusterSettings },
      seed: seedAddr,
      onMerge: (result: MergeResult) => {
        for (const m of result.recovered) if (!this.crashed.has(m)) this.recoveredLive++;
      },
    });
    const node = { name, addr, table, gossiper };
    this.nodes.set(name, node);
    this.net.register(addr, async (frame, from) => {
      this.traffic.requests++;
      this.traffic.requestBytes += frame.length;
      this.traffic.maxRequestBytes = Math.max(this.traffic.maxRequestBytes, frame.length);
      const reply = await serve(frame, from);
      this.traffic.replies++;
      this.traffic.replyBytes += reply.length;
      this.traffic.maxReplyBytes = Math.max(this.traffic.maxReplyBytes, reply.length);
      return reply;
    });
    this.clock.setTimer(this.random.int(settings.gossipIntervalMs), () => gossiper.start());
    return node;
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => !this.crashed.has(n.name));
  }

  converged(names: readonly string[]): boolean {
    const now = this.clock.now();
    return this.live().every((n) => n.table.infos().length === names.length && names.every((m) => n.table.health(m, now) === 'alive'));
  }

  /** Pairs (observer, live member) judged down now. */
  downPairs(): number {
    const now = this.clock.now();
    let down = 0;
    for (const n of this.live()) for (const m of this.live()) if (n !== m && n.table.health(m.name, now) === 'down') down++;
    return down;
  }

  worstHeartbeatAge(): number {
    const now = this.clock.now();
    let worst = 0;
    for (const n of this.live()) for (const v of n.table.view(now)) if (!this.crashed.has(v.name)) worst = Math.max(worst, v.heartbeatAgeMs);
    return worst;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const cpuStart = process.cpuUsage();
  const c = new Cluster(o.seed, o.loss);
  const names = Array.from({ length: o.nodes }, (_, i) => `n${String(i).padStart(4, '0')}`);
  const seedAddr = addrOf(names[0] as string);
  for (const name of names) c.boot(name, seedAddr);
  const bootAt = c.clock.now();
  let convergedAt: number | undefined;
  await runFor(c.clock, 60_000, STEP_MS, (now) => {
    if ((now - bootAt) % 50 !== 0) return false;
    if (c.converged(names)) convergedAt = now;
    return convergedAt !== undefined;
  });
  const convergenceRounds = convergedAt === undefined ? undefined : (convergedAt - bootAt) / settings.gossipIntervalMs;
  // Phases are reported as they finish (on stderr), so a long run at scale yields figures before its end.
  const progress = (phase: string, figures: Record<string, unknown>) => console.error(JSON.stringify({ phase, ...figures }));
  progress('converged', { convergenceRounds });

  // Steady state: traffic and staleness.
  await runFor(c.clock, 2000, STEP_MS);
  c.traffic.reset();
  c.recoveredLive = 0;
  let worstAge = 0;
  const steadyStart = c.clock.now();
  const sampleEvery = o.nodes > 500 ? 2000 : 400;
  await runFor(c.clock, o.steadySeconds * 1000, STEP_MS, (now) => {
    if ((now - steadyStart) % sampleEvery === 0) worstAge = Math.max(worstAge, c.worstHeartbeatAge());
    return false;
  });
  const t = { ...c.traffic };
  const bytesPerNodePerSec = (t.requestBytes + t.replyBytes) / o.nodes / o.steadySeconds;
  const steadyFalseDowns = c.recoveredLive + c.downPairs();
  progress('steady', {
    bytesPerNodePerSec: Math.round(bytesPerNodePerSec),
    meanRequestBytes: Math.round(t.requestBytes / Math.max(1, t.requests)),
    worstAge,
    steadyFalseDowns,
  });

  // Crashes, one at a time: time until each live node judges the victim down.
  const detections: number[] = [];
  let undetected = 0;
  for (let i = 0; i < o.crashes; i++) {
    const candidates = c.live().filter((n) => n.name !== names[0]);
    const victim = candidates[c.random.int(candidates.length)] as SimNode;
    victim.gossiper.stop();
    c.net.crash(victim.addr);
    c.crashed.add(victim.name);
    const crashedAt = c.clock.now();
    const seen = new Map<string, number>();
    await runFor(c.clock, 30_000, STEP_MS, (now) => {
      for (const n of c.live()) if (!seen.has(n.name) && n.table.health(victim.name, now) === 'down') seen.set(n.name, now - crashedAt);
      return seen.size === c.live().length;
    });
    undetected += c.live().length - seen.size;
    detections.push(...seen.values());
    await runFor(c.clock, 1000, STEP_MS);
  }
  detections.sort((a, b) => a - b);

  // A long watch for false downs.
  c.recoveredLive = 0;
  let watchDowns = 0;
  const watchStart = c.clock.now();
  await runFor(c.clock, o.watchSeconds * 1000, STEP_MS, (now) => {
    if ((now - watchStart) % 1000 === 0) watchDowns += c.downPairs();
    return false;
  });
  const cpu = process.cpuUsage(cpuStart);
  const result = {
    nodes: o.nodes,
    loss: o.loss,
    seed: o.seed,
    convergenceRounds,
    meanRequestBytes: Math.round(t.requestBytes / Math.max(1, t.requests)),
    maxRequestBytes: t.maxRequestBytes,
    meanReplyBytes: Math.round(t.replyBytes / Math.max(1, t.replies)),
    maxReplyBytes: t.maxReplyBytes,
    messagesPerNodePerSec: Math.round(((t.requests + t.replies) / o.nodes / o.steadySeconds) * 10) / 10,
    bytesPerNodePerSec: Math.round(bytesPerNodePerSec),
    worstHeartbeatAgeMs: Math.round(worstAge),
    steadyFalseDowns,
    detectionMs: { p50: percentile(detections, 0.5), p99: percentile(detections, 0.99), max: detections.at(-1), observations: detections.length, undetected },
    watchSeconds: o.watchSeconds,
    watchFalseDowns: { recovered: c.recoveredLive, downPairSamples: watchDowns },
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
  };
  if (o.json) console.log(JSON.stringify(result));
  else console.log(result);
}

await main();
