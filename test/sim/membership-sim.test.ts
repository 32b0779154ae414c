/**
 * Seeded simulations of the gossip engine (Gossiper + MemberTable on SimNetwork + VirtualClock),
 * built as the daemon builds them. Each scenario runs for a fixed list of seeds; a failure names
 * its seed, and `SIM_SEED=<n>` replays that one seed only.
 */
import t from 'tap';
import type { ClusterSettings, MembershipSettings } from '../../src/config.js';
import { VirtualClock } from '../../src/env/clock.js';
import { SeededRandom } from '../../src/env/random.js';
import { KvError } from '../../src/errors.js';
import type { Gossiper } from '../../src/gossip/gossiper.js';
import { joinCluster } from '../../src/gossip/join.js';
import type { MemberInfo, MemberTable } from '../../src/membership/index.js';
import { decodeErrorFrame, FRAME_ERROR, FRAME_REPLY, FRAME_REQUEST } from '../../src/net/peer-frames.js';
import { gossipNode, runFor, SimNetwork } from '../../src/sim/index.js';

const SEEDS = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : [1, 2, 3];
t.comment(`seeds ${SEEDS.join(', ')}; replay one with SIM_SEED=<seed>`);

const membership: MembershipSettings = { gossipIntervalMs: 200, fanout: 3, suspectAfterMs: 1500, downAfterMs: 3000 };
const clusterSettings: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };
const CLUSTER_ID = 'sim-cluster';
/** Simulation step: engines continue after each reply within this much virtual time. */
const STEP_MS = 10;

interface SimNode {
  name: string;
  addr: string;
  table: MemberTable;
  gossiper: Gossiper;
}

class Cluster {
  readonly clock = new VirtualClock(1_700_000_000_000);
  readonly random: SeededRandom;
  readonly net: SimNetwork;
  readonly nodes = new Map<string, SimNode>();

  constructor(
    readonly seed: number,
    lossRate: number,
    readonly settings: MembershipSettings = membership,
  ) {
    this.random = new SeededRandom(seed);
    this.net = new SimNetwork(this.clock, this.random.fork(), { latencyMs: [1, 20], lossRate });
  }

  /** What a freshly started process says of itself: generation = its start time, heartbeat 0. */
  selfInfo(name: string): MemberInfo {
    return {
      name,
      addr: addrOf(name),
      incarnation: `inc-${name}`,
      generation: this.clock.now(),
      heartbeat: 0,
      weight: 1,
      status: 'up',
      keys: 0,
      handoffPending: 0,
      hintBacklog: 0,
      handoffRing: undefined,
    };
  }

  /** Builds (or rebuilds, after a crash) node `name` and starts its gossip after a random offset. */
  boot(name: string, seedAddr: string, known: readonly MemberInfo[] = [], self = this.selfInfo(name)): SimNode {
    const addr = self.addr;
    const { table, gossiper, serve } = gossipNode({
      self,
      network: this.net,
      clock: this.clock,
      random: this.random.fork(),
      settings: this.settings,
      cluster: { id: CLUSTER_ID, settings: clusterSettings },
      seed: seedAddr,
      known,
    });
    const node = { name, addr, table, gossiper };
    this.nodes.set(name, node);
    if (this.net.isCrashed(addr)) this.net.restart(addr, serve);
    else this.net.register(addr, serve);
    // Nodes do not start in lockstep: each first round comes at a random point of an interval.
    this.clock.setTimer(this.random.int(this.settings.gossipIntervalMs), () => gossiper.start());
    return node;
  }

  crash(name: string): void {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    node.gossiper.stop();
    this.net.crash(node.addr);
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => !this.net.isCrashed(n.addr));
  }

  /** True when every live node knows exactly the nodes in `names` and sees each alive: one view. */
  converged(names: readonly string[]): boolean {
    const now = this.clock.now();
    return this.live().every((n) => n.table.infos().length === names.length && names.every((m) => n.table.health(m, now) === 'alive'));
  }
}

const addrOf = (name: string) => `${name}:7070`;
const names = (count: number) => Array.from({ length: count }, (_, i) => `n${String(i).padStart(3, '0')}`);

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? Number.NaN, median: s[Math.floor(s.length / 2)] ?? Number.NaN, max: s[s.length - 1] ?? Number.NaN };
}

/** The oldest heartbeat any node holds of any other, in ms. */
function worstHeartbeatAge(c: Cluster, now: number): number {
  let worst = 0;
  for (const n of c.nodes.values()) for (const v of n.table.view(now)) worst = Math.max(worst, v.heartbeatAgeMs);
  return worst;
}

/** Boots `count` nodes all joining through the first, and runs until they converge (or `boundMs`). */
async function bootCluster(c: Cluster, count: number, boundMs: number): Promise<{ all: string[]; tookMs: number | undefined }> {
  const all = names(count);
  const seedAddr = addrOf(all[0] as string);
  const start = c.clock.now();
  for (const name of all) c.boot(name, seedAddr);
  const done = await runFor(c.clock, boundMs, STEP_MS, () => c.converged(all));
  if (!done && process.env.SIM_DEBUG) {
    const now = c.clock.now();
    for (const n of c.live()) {
      const missing = all.filter((m) => n.table.health(m, now) !== 'alive').map((m) => `${m}:${n.table.health(m, now)}`);
      if (missing.length > 0) console.error(n.name, 'knows', n.table.infos().length, 'not alive:', missing.join(' ').slice(0, 300));
    }
  }
  return { all, tookMs: done ? c.clock.now() - start : undefined };
}

t.test('60 nodes with 5% loss converge to one view', async (t) => {
  const boundMs = 5000;
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.05);
    const { tookMs } = await bootCluster(c, 60, boundMs);
    t.ok(tookMs !== undefined, `seed ${seed}: every node knows all 60 nodes alive within ${boundMs} ms of virtual time`);
    t.comment(`seed ${seed}: 60 nodes, 5% loss: converged after ${tookMs} ms virtual (${c.net.stats.requests} requests, ${c.net.stats.lost} lost)`);
  }
});

t.test('a crashed node is marked down by every other node within the bound, and stays down', async (t) => {
  const { downAfterMs } = membership;
  // A prober must first reach the crashed node (one member a round each, in turn), and at 30 nodes the
  // suspicion lasts 1.5 s x log10(30) once confirmed: the 3 s of a small cluster, stretched.
  const boundMs = 2 * downAfterMs;
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.05);
    const { all, tookMs } = await bootCluster(c, 30, 5000);
    t.ok(tookMs !== undefined, `seed ${seed}: 30 nodes converged before the crash`);
    await runFor(c.clock, 2000, STEP_MS);
    const victim = all[1 + c.random.int(all.length - 1)] as string;
    const crashedAt = c.clock.now();
    c.crash(victim);
    const detected = new Map<string, number>();
    let flapped = '';
    await runFor(c.clock, boundMs + 10_000, STEP_MS, (now) => {
      for (const n of c.live()) {
        const down = n.table.health(victim, now) === 'down';
        if (down && !detected.has(n.name)) detected.set(n.name, now - crashedAt);
        if (!down && detected.has(n.name) && !flapped) flapped = `${n.name} saw ${victim} ${n.table.health(victim, now)} at +${now - crashedAt} ms`;
      }
      return undefined;
    });
    const times = [...detected.values()];
    t.equal(detected.size, all.length - 1, `seed ${seed}: all ${all.length - 1} observers marked ${victim} down`);
    const late = [...detected].filter(([, ms]) => ms > boundMs);
    t.same(late, [], `seed ${seed}: every observer marked ${victim} down within ${boundMs} ms`);
    t.equal(flapped, '', `seed ${seed}: once down, ${victim} stays down for 10 s after the bound`);
    const s = stats(times);
    t.comment(
      `seed ${seed}: ${victim} crashed; detection over ${times.length} observers: min ${s.min} ms, median ${s.median} ms, max ${s.max} ms (bound ${boundMs})`,
    );
  }
});

t.test('no live node is ever seen down under 10% loss (50 nodes, 60 s virtual)', async (t) => {
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.1);
    const { all, tookMs } = await bootCluster(c, 50, 5000);
    t.ok(tookMs !== undefined, `seed ${seed}: 50 nodes converged under 10% loss`);
    let falseDown = '';
    let suspects = 0;
    let maxAgeMs = 0;
    const start = c.clock.now();
    await runFor(c.clock, 60_000, STEP_MS, (now) => {
      for (const n of c.nodes.values()) {
        for (const m of all) {
          const h = n.table.health(m, now);
          if (h === 'suspect') suspects++;
          if (h !== 'alive' && h !== 'suspect' && !falseDown) falseDown = `${n.name} saw ${m} ${h} at +${now - start} ms`;
        }
      }
      // Heartbeat ages are only reported, so sampling them once a gossip interval will do (view() allocates).
      if ((now - start) % membership.gossipIntervalMs === 0) maxAgeMs = Math.max(maxAgeMs, worstHeartbeatAge(c, now));
      return falseDown !== '';
    });
    t.equal(falseDown, '', `seed ${seed}: no false down over 60 s`);
    t.comment(
      `seed ${seed}: 50 nodes, 10% loss, 60 s: longest without news of a member ${Math.round(maxAgeMs)} ms (no news is no suspicion); suspect observations ${suspects}; ${c.net.stats.lost} of ${c.net.stats.requests * 2} messages lost`,
    );
  }
});

t.test('200 nodes under 10% loss: one view in a few rounds, no live node ever seen down, a crash seen by all', async (t) => {
  const seed = SEEDS[0] as number;
  const c = new Cluster(seed, 0.1);
  const { all, tookMs } = await bootCluster(c, 200, 5000);
  t.ok(tookMs !== undefined, `seed ${seed}: 200 nodes converged within 5000 ms of virtual time`);
  let falseDown = '';
  let maxAgeMs = 0;
  const check = (now: number, except?: string) => {
    for (const n of c.live()) {
      for (const m of all) {
        if (m === except || falseDown) continue;
        const h = n.table.health(m, now);
        if (h !== 'alive' && h !== 'suspect') falseDown = `${n.name} saw ${m} ${h}`;
      }
    }
  };
  const steadyStart = c.clock.now();
  await runFor(c.clock, 6000, STEP_MS, (now) => {
    if ((now - steadyStart) % membership.gossipIntervalMs === 0) {
      check(now);
      maxAgeMs = Math.max(maxAgeMs, worstHeartbeatAge(c, now));
    }
    return falseDown !== '';
  });
  t.equal(falseDown, '', `seed ${seed}: no live node seen down over 6 s`);
  const victim = all[1 + c.random.int(all.length - 1)] as string;
  c.crash(victim);
  const crashedAt = c.clock.now();
  const detected = new Map<string, number>();
  const boundMs = 10_000;
  await runFor(c.clock, boundMs, STEP_MS, (now) => {
    for (const n of c.live()) if (!detected.has(n.name) && n.table.health(victim, now) === 'down') detected.set(n.name, now - crashedAt);
    if ((now - crashedAt) % membership.gossipIntervalMs === 0) check(now, victim);
    return detected.size === all.length - 1;
  });
  t.equal(detected.size, all.length - 1, `seed ${seed}: all ${all.length - 1} observers saw ${victim} down within ${boundMs} ms`);
  t.equal(falseDown, '', `seed ${seed}: and no live node down meanwhile`);
  const s = stats([...detected.values()]);
  t.comment(
    `seed ${seed}: 200 nodes, 10% loss: converged after ${tookMs} ms virtual; longest without news of a member ${Math.round(maxAgeMs)} ms; ${victim} crashed: detected after min ${s.min} ms, median ${s.median} ms, max ${s.max} ms`,
  );
});

t.test('a restarted node (new generation, heartbeat 0) is re-admitted', async (t) => {
  const boundMs = 3000;
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.05);
    const { all } = await bootCluster(c, 20, 5000);
    const seedAddr = addrOf(all[0] as string);
    const victim = all[1 + c.random.int(all.length - 1)] as string;
    const oldGeneration = c.nodes.get(victim)?.table.me.generation;
    c.crash(victim);
    const allDown = await runFor(c.clock, 10_000, STEP_MS, (now) => c.live().every((n) => n.table.health(victim, now) === 'down'));
    t.ok(allDown, `seed ${seed}: everyone saw ${victim} down before its restart`);
    const restartedAt = c.clock.now();
    const node = c.boot(victim, seedAddr);
    t.equal(node.table.me.heartbeat, 0, `seed ${seed}: restart begins at heartbeat 0`);
    t.ok(node.table.me.generation > (oldGeneration ?? Number.POSITIVE_INFINITY), `seed ${seed}: restart has a higher generation`);
    const back = await runFor(c.clock, boundMs, STEP_MS, () => c.converged(all));
    if (!back && process.env.SIM_DEBUG) {
      const now = c.clock.now();
      for (const n of c.live()) {
        const off = all.filter((m) => n.table.health(m, now) !== 'alive').map((m) => `${m}:${n.table.health(m, now)}`);
        if (off.length > 0) console.error(n.name, 'knows', n.table.infos().length, 'not alive:', off.join(' ').slice(0, 300));
      }
    }
    t.ok(back, `seed ${seed}: within ${boundMs} ms everyone sees ${victim} alive again, and it sees everyone`);
    const generations = new Set(c.live().map((n) => n.table.get(victim)?.generation));
    t.same([...generations], [node.table.me.generation], `seed ${seed}: everyone holds the new generation of ${victim}`);
    t.comment(`seed ${seed}: ${victim} re-admitted by all after ${c.clock.now() - restartedAt} ms virtual`);
  }
});

t.test('a node joining through one seed is learned by all', async (t) => {
  const boundMs = 3000;
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.05);
    const { all } = await bootCluster(c, 30, 5000);
    const through = addrOf(all[c.random.int(all.length)] as string);
    const joiner = 'joiner';
    const self = c.selfInfo(joiner);
    c.net.register(self.addr, () => Buffer.alloc(0));
    // As the daemon does: push our entry with join:true, adopt the reply, then gossip.
    let joined: Awaited<ReturnType<typeof joinCluster>> | undefined;
    let joinError: unknown;
    // Retry like an operator would: one seed, but the join message itself may be lost.
    for (let attempt = 0; attempt < 5 && !joined; attempt++) {
      const pending = joinCluster(c.net.transportFor(self.addr), [through], self, {}, 500, c.random.fork()).then(
        (r) => {
          joined = r;
        },
        (err: unknown) => {
          joinError = err;
        },
      );
      let settled = false;
      void pending.then(() => {
        settled = true;
      });
      await runFor(c.clock, 1000, STEP_MS, () => settled);
    }
    if (!joined) {
      t.fail(`seed ${seed}: join through ${through} failed: ${String(joinError)}`);
      continue;
    }
    t.equal(joined.cluster.id, CLUSTER_ID, `seed ${seed}: the joiner adopts the cluster id`);
    t.same(joined.cluster.settings, clusterSettings, `seed ${seed}: the joiner adopts the cluster settings`);
    const joinedAt = c.clock.now();
    c.boot(joiner, through, joined.members, self);
    const learned = await runFor(c.clock, boundMs, STEP_MS, () => c.converged([...all, joiner]));
    t.ok(learned, `seed ${seed}: within ${boundMs} ms all 31 nodes know each other alive`);
    t.comment(`seed ${seed}: joiner (through ${through}) learned by all after ${c.clock.now() - joinedAt} ms virtual`);
  }
});

t.test('a join whose explicit settings conflict is refused across the network', async (t) => {
  const c = new Cluster(SEEDS[0] as number, 0);
  const { all } = await bootCluster(c, 3, 5000);
  let error: unknown;
  const pending = joinCluster(c.net.transportFor('x:1'), [addrOf(all[0] as string)], c.selfInfo('x'), { n: 5 }, 500, c.random.fork()).catch((err: unknown) => {
    error = err;
  });
  await runFor(c.clock, 1000, STEP_MS, () => error !== undefined);
  await pending;
  t.equal((error as KvError).code, 'KV_CLUSTER_MISMATCH');
  t.match((error as KvError).message, /N=5/);
});

t.test('a partitioned cluster sees the other side down, and heals', async (t) => {
  for (const seed of SEEDS) {
    const c = new Cluster(seed, 0.05);
    const { all } = await bootCluster(c, 20, 5000);
    const left = all.slice(0, 10).map(addrOf);
    const right = all.slice(10).map(addrOf);
    c.net.partition(left, right);
    const split = await runFor(c.clock, 10_000, STEP_MS, (now) =>
      c.live().every((n) => all.every((m) => (left.includes(n.addr) === left.includes(addrOf(m)) ? n.table.isUp(m, now) : n.table.health(m, now) === 'down'))),
    );
    t.ok(split, `seed ${seed}: each side sees its own side up and the other side down`);
    c.net.heal();
    const healedAt = c.clock.now();
    const healed = await runFor(c.clock, 5000, STEP_MS, () => c.converged(all));
    t.ok(healed, `seed ${seed}: after heal() everyone sees everyone alive again`);
    t.comment(`seed ${seed}: partition of 10|10 healed in ${c.clock.now() - healedAt} ms virtual`);
  }
});

t.test('a run replays exactly from its seed', async (t) => {
  const run = async () => {
    const c = new Cluster(SEEDS[0] as number, 0.1);
    await bootCluster(c, 20, 3000);
    c.crash('n005');
    await runFor(c.clock, 2000, STEP_MS);
    return { stats: { ...c.net.stats }, views: [...c.nodes.values()].map((n) => n.table.view(c.clock.now()).map((v) => [v.name, v.heartbeat, v.health])) };
  };
  t.same(await run(), await run());
});

t.test('SimNetwork: frames between addresses', async (t) => {
  const make = (lossRate = 0) => {
    const clock = new VirtualClock(0);
    const net = new SimNetwork(clock, new SeededRandom(7), { latencyMs: [5, 5], lossRate });
    return { clock, net };
  };
  /** Runs `promise` to completion on the virtual clock; returns its outcome and the virtual time it took. */
  /** A frame of `kind` whose payload is `body` as JSON (the network carries bytes; what they say is its users' business). */
  const frame = (kind: number, body: Record<string, unknown>) => {
    const json = Buffer.from(JSON.stringify(body));
    const header = Buffer.alloc(10);
    header.writeUInt32BE(6 + json.length, 0);
    header[4] = kind;
    header.writeUInt32BE(1, 5);
    return Buffer.concat([header, json]);
  };
  /** A request frame from `from` to `to`; resolves the reply's fields, rejects its error. */
  const ask = (net: SimNetwork, from: string, to: string, body: Record<string, unknown>, timeoutMs: number) =>
    net.requestFrame(from, to, frame(FRAME_REQUEST, body), timeoutMs).then((reply) => {
      if (reply[4] === FRAME_ERROR) throw decodeErrorFrame(reply);
      return JSON.parse(reply.subarray(10).toString()) as Record<string, unknown>;
    });
  /** A handler answering each frame's fields with `answer` (sync or async), as a reply frame. */
  const serve =
    (answer: (body: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>) =>
    async (wire: Buffer): Promise<Buffer> =>
      frame(FRAME_REPLY, await answer(JSON.parse(wire.subarray(10).toString()) as Record<string, unknown>));
  const settle = async (clock: VirtualClock, promise: Promise<Record<string, unknown>>) => {
    let outcome: { reply?: Record<string, unknown>; error?: KvError } | undefined;
    const start = clock.now();
    promise.then(
      (reply) => {
        outcome = { reply };
      },
      (error: KvError) => {
        outcome = { error };
      },
    );
    await runFor(clock, 5000, 1, () => outcome !== undefined);
    return { ...outcome, ms: clock.now() - start };
  };

  t.test('a reply comes back after latency each way, copied as on a wire', async (t) => {
    const { clock, net } = make();
    const seen: Record<string, unknown>[] = [];
    const body = { op: 'echo', x: 1, gone: undefined };
    net.register(
      'b',
      serve((b) => {
        seen.push(b);
        return { got: b.x };
      }),
    );
    const r = await settle(clock, ask(net, 'a', 'b', body, 1000));
    t.same(r.reply, { got: 1 });
    t.equal(r.ms, 10, 'two one-way latencies of 5 ms');
    t.not(seen[0], body, 'the handler gets a copy');
    t.notOk(seen[0] && 'gone' in seen[0], 'undefined fields vanish as in JSON');
  });

  t.test('async handlers and handler errors', async (t) => {
    const { clock, net } = make();
    net.register(
      'b',
      serve(async (b) => {
        if (b.op === 'bad') throw new KvError('KV_BAD_REQUEST', 'nope', { why: 1 });
        if (b.op === 'bug') throw new Error('boom');
        return { fine: true };
      }),
    );
    net.register('c', () => {
      throw new KvError('KV_NOT_MEMBER', 'left');
    });
    const tr = { request: (to: string, body: Record<string, unknown>, timeoutMs: number) => ask(net, 'a', to, body, timeoutMs) };
    t.same((await settle(clock, tr.request('b', { op: 'ok' }, 1000))).reply, { fine: true });
    const bad = await settle(clock, tr.request('b', { op: 'bad' }, 1000));
    t.equal(bad.error?.code, 'KV_BAD_REQUEST');
    t.same(bad.error?.details, { why: 1 });
    t.equal((await settle(clock, tr.request('b', { op: 'bug' }, 1000))).error?.code, 'KV_INTERNAL');
    t.equal((await settle(clock, tr.request('c', {}, 1000))).error?.code, 'KV_NOT_MEMBER', 'a synchronous throw is a reply too');
  });

  t.test('crashed and unregistered targets refuse; restart serves again', async (t) => {
    const { clock, net } = make();
    net.register(
      'b',
      serve(() => ({ life: 1 })),
    );
    const tr = { request: (to: string, body: Record<string, unknown>, timeoutMs: number) => ask(net, 'a', to, body, timeoutMs) };
    const unknown = await settle(clock, tr.request('nobody', {}, 1000));
    t.equal(unknown.error?.code, 'KV_UNREACHABLE');
    t.equal(unknown.ms, 10, 'the refusal takes a round trip');
    net.crash('b');
    t.equal((await settle(clock, tr.request('b', {}, 1000))).error?.code, 'KV_UNREACHABLE');
    t.equal((await settle(clock, ask(net, 'b', 'a', {}, 1000))).error?.code, 'KV_UNREACHABLE', 'a crashed node cannot send');
    net.restart(
      'b',
      serve(() => ({ life: 2 })),
    );
    t.same((await settle(clock, tr.request('b', {}, 1000))).reply, { life: 2 });
  });

  t.test('a target that crashes while handling resets the request', async (t) => {
    const { clock, net } = make();
    let release: (() => void) | undefined;
    net.register(
      'b',
      serve(() => new Promise((resolve) => (release = () => resolve({ late: true })))),
    );
    const pending = settle(clock, ask(net, 'a', 'b', {}, 1000));
    await runFor(clock, 6, 1);
    t.ok(release, 'the request arrived');
    net.crash('b');
    release?.();
    t.equal((await pending).error?.code, 'KV_UNREACHABLE');
  });

  t.test("a crashed sender's requests never settle, even after a restart", async (t) => {
    const { clock, net } = make();
    net.register(
      'b',
      serve(() => ({})),
    );
    let settled = false;
    ask(net, 'a', 'b', {}, 100).then(
      () => (settled = true),
      () => (settled = true),
    );
    net.crash('a');
    net.restart('a');
    await runFor(clock, 500, 1);
    t.notOk(settled);
  });

  t.test('loss and partitions time out through the clock', async (t) => {
    const { clock, net } = make(1);
    net.register(
      'b',
      serve(() => ({})),
    );
    const lost = await settle(clock, ask(net, 'a', 'b', {}, 300));
    t.equal(lost.error?.code, 'KV_TIMEOUT');
    t.equal(lost.ms, 300);
    net.setLossRate(0);
    net.partition(['a'], ['b', 'c']);
    t.equal((await settle(clock, ask(net, 'b', 'a', {}, 200))).error?.code, 'KV_TIMEOUT', 'cut both ways');
    net.heal();
    t.same((await settle(clock, ask(net, 'a', 'b', {}, 200))).reply, {});
    t.equal(net.stats.timeouts, 2);
    t.throws(() => net.setLossRate(1.5), RangeError);
  });

  t.test('per-direction loss rate is close to the setting', async (t) => {
    const { clock, net } = make(0.2);
    net.register(
      'b',
      serve(() => ({})),
    );
    const tr = { request: (to: string, body: Record<string, unknown>, timeoutMs: number) => ask(net, 'a', to, body, timeoutMs) };
    let ok = 0;
    const total = 2000;
    const count = () => ok++;
    for (let i = 0; i < total; i++) tr.request('b', {}, 100).then(count, () => {});
    await runFor(clock, 200, 10);
    // Both directions must survive: 0.8 * 0.8 = 0.64.
    t.ok(Math.abs(ok / total - 0.64) < 0.04, `success rate ${ok / total} is near 0.64`);
  });
});
