/**
 * Section 10 (`--only realistic`): what users will see, with peers measured in the same run on the
 * same cores. Every setup starts fresh and takes the same load from this process (the closed loop,
 * 64 requests in flight). Every value a get returns is checked against the values its key was
 * given, and after each phase that only writes, 1,000 of its keys are read back (unmeasured):
 *
 *   - load: the zipfian key space (1 M keys; --quick 100 k) written once with 1 KiB base64 text,
 *     16 connections, in a scrambled key order, measured in chunks of 100,000 puts (--quick
 *     10,000): the first chunk is the cold phase (a fresh store), the last the steady state;
 *   - then, with 1 and with 16 connections (per node for a cluster): puts of fresh keys, gets
 *     (uniform over the loaded keys), overwrites (plain puts to loaded keys, as users do),
 *     read-modify-write (get, then put with the context the get returned), and 90 % get / 10 %
 *     put with a zipfian key choice (s = 0.99) over the loaded keys;
 *   - value sweep, 16 connections: 1 KiB JSON documents, 1 KiB random bytes, and base64 text of
 *     100 B, 16 KiB and 256 KiB, fresh-key puts then gets of those keys.
 *
 * Setups: kvctl on one node (`--cache-mb 64`), kvctl on 3 nodes (N=3 W=2 R=2), raw classic-level
 * in this process, redis-server without persistence and with `appendfsync everysec`, and a
 * 3-member etcd (puts and gets of 1 KiB text only, over its HTTP gateway). A peer that is not
 * installed is skipped with how to install it. Per phase: ops/s, p50/p99/p99.9, the servers' CPU
 * per op (/proc utime+stime) and largest RSS (/proc VmRSS, sampled), this process's CPU per op.
 */
import { join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import { kvctlStore, rawLevelStore, type Store } from './bench-store.js';
import { type LoopResult, runClosedLoop } from './closed-loop.js';
import { startCluster, stopCluster } from './cluster.js';
import { base64TextValues, jsonDocument, type Rng, randomValues, seededRng } from './json-documents.js';
import { KeySpace, type Payload, payloadsOf } from './key-space.js';
import { closeLanes, IN_FLIGHT, openClusterLanes, openLanes, processCpuUs } from './kv-workload.js';
import { etcdStore, startEtcd, stopEtcd } from './peer-etcd.js';
import { REDIS_PERSISTENCE, redisBenchmark, redisStore, startRedis, stopRedis } from './peer-redis.js';
import { openRaw } from './raw-level.js';
import { rssBytes, sampleRss } from './reply-flood.js';
import { type Cell, fmt, mib } from './report.js';
import { Scramble, ZipfianKeys } from './zipf.js';

const INSTALL_HINT = 'apt-get install redis-server etcd-server';
/** Connections (per node for a cluster) of the load and of the value sweep. */
const MANY = 16;
const CONNECTION_COUNTS = [1, MANY];
const ZIPF_S = 0.99;
const ZIPF_PUT_SHARE = 0.1;
const RSS_TARGET_MB = 300;

interface Plan {
  zipfKeys: number;
  /** Puts per load chunk; the first chunk is the cold phase. */
  chunkOps: number;
  putOps: number;
  getOps: number;
  rmwOps: number;
  /** Puts, and as many gets of those keys, against etcd. */
  etcdOps: number;
}

function planOf(ctx: BenchContext): Plan {
  // BENCH_OPS sets the puts per phase and shrinks the key space with them (40 keys per put); by
  // default 10,000 puts and 1 M keys, --quick 5,000 and 100 k. The 1 M-key load is most of the run.
  const fromEnv = process.env.BENCH_OPS !== undefined;
  const putOps = fromEnv ? ctx.config.keys : ctx.config.quick ? 5_000 : 10_000;
  const keyCap = ctx.config.quick ? 100_000 : 1_000_000;
  const zipfKeys = fromEnv ? Math.min(keyCap, putOps * 40) : keyCap;
  return { zipfKeys, chunkOps: Math.min(100_000, zipfKeys / 10), putOps, getOps: putOps * 2, rmwOps: putOps / 2, etcdOps: Math.min(putOps, 20_000) };
}

/** A setup under test: how to reach it and what it takes part in. */
interface Setup {
  label: string;
  /** Processes whose CPU and RSS are measured (none for the in-process LevelDB). */
  serverPids: number[];
  /** Connection counts measured (per node for a cluster); 0 when connections do not apply. */
  connections: number[];
  /** False for etcd: no 1 M-key load, no read-modify-write, no value sweep; puts and gets of 1 KiB text only. */
  full: boolean;
  open(connections: number): Promise<Store>;
  stop(): Promise<void>;
}

/** One measured phase, as printed and as written to the JSON. */
export interface PhaseFigures extends LoopResult {
  setup: string;
  workload: string;
  value: string;
  /** Connections (per node for a cluster); 0 in-process; 64 for etcd's keep-alive pool. */
  connections: number;
  lanes: string;
  serverCpuUsPerOp: number | null;
  clientCpuUsPerOp: number;
  /** Largest RSS of any one server process during the phase. */
  serverRssMaxBytes: number | null;
  /** Reads that returned more than one value (kvctl siblings). */
  siblings: number;
  /** Load chunks: which 100,000 (0 the cold phase). */
  chunk?: number;
}

interface ValueSet {
  name: string;
  payloads: Payload[];
}

function valueSets(): { text: ValueSet; sweep: ValueSet[] } {
  const docRng = seededRng(101);
  const sizedText = (name: string, bytes: number, seed: number): ValueSet => {
    // At most ~32 MiB of distinct values in memory, at least 16 of them.
    const count = Math.max(16, Math.min(1000, Math.floor((32 * 1024 * 1024) / bytes)));
    return { name, payloads: payloadsOf(base64TextValues(seededRng(seed), count, bytes)) };
  };
  return {
    text: sizedText('text 1 KiB', 1024, 100),
    sweep: [
      { name: 'JSON 1 KiB', payloads: payloadsOf(Array.from({ length: 1000 }, (_, i) => jsonDocument(docRng, i, 1024))) },
      { name: 'random 1 KiB', payloads: payloadsOf(randomValues(seededRng(102), 1000, 1024)) },
      sizedText('text 100 B', 100, 103),
      sizedText('text 16 KiB', 16 * 1024, 104),
      sizedText('text 256 KiB', 256 * 1024, 105),
    ],
  };
}

/** Fewer requests for larger values (about the same bytes as 1 KiB phases), at least 4 per request in flight. */
function opsForSize(plan: Plan, bytes: number): number {
  return Math.max(IN_FLIGHT * 4, Math.min(plan.putOps, Math.round((plan.putOps * 1024) / bytes)));
}

class SetupRun {
  readonly results: PhaseFigures[] = [];
  /** RSS of each server process right after the load, bytes. */
  rssAfterLoad: number[] = [];

  constructor(
    readonly ctx: BenchContext,
    readonly setup: Setup,
  ) {}

  /** Runs `ops` requests of `op` through the closed loop and records the figures. */
  async phase(
    store: Store,
    connections: number,
    names: { workload: string; value: string; chunk?: number },
    ops: number,
    op: (i: number, worker: number, seen: { siblings: number }) => Promise<void>,
  ): Promise<PhaseFigures> {
    const pids = this.setup.serverPids;
    const seen = { siblings: 0 };
    const rss = pids.map((pid) => sampleRss(pid, 100));
    const serverBefore = pids.reduce((sum, pid) => sum + processCpuUs(pid), 0);
    const clientBefore = process.cpuUsage();
    const loop: LoopResult = await runClosedLoop(ops, IN_FLIGHT, (i, worker) => op(i, worker, seen));
    const client = process.cpuUsage(clientBefore);
    const serverCpu = pids.reduce((sum, pid) => sum + processCpuUs(pid), 0) - serverBefore;
    const rssMax = Math.max(0, ...rss.map((r) => r.stop()));
    const figures: PhaseFigures = {
      setup: this.setup.label,
      ...names,
      connections,
      lanes: store.lanes,
      ...loop,
      serverCpuUsPerOp: pids.length > 0 ? serverCpu / ops : null,
      clientCpuUsPerOp: (client.user + client.system) / ops,
      serverRssMaxBytes: pids.length > 0 ? rssMax : null,
      siblings: seen.siblings,
    };
    this.results.push(figures);
    this.ctx.report.record({ section: 'realistic', ...figures });
    return figures;
  }
}

/** Throws unless the read found the key and every value it returned is one the key was given. */
function check(label: string, space: KeySpace, k: number, got: Buffer[], seen: { siblings: number }): void {
  if (got.length === 0) throw new Error(`${label}: ${space.key(k)} not found`);
  if (got.length > 1) seen.siblings++;
  for (const value of got) {
    if (!space.accepts(k, value)) throw new Error(`${label}: ${space.key(k)} read back a ${value.length}-byte value it was never given`);
  }
}

const uniform = (rng: Rng, n: number) => Math.floor(rng() * n);

/** Keys a put phase wrote that are read back afterwards, unmeasured. */
const READ_BACK = 1000;

/** Reads the keys `ks` of `space` back (unmeasured) and checks each value: for phases that only write. */
async function readBack(label: string, store: Store, space: KeySpace, ks: readonly number[]): Promise<void> {
  const seen = { siblings: 0 };
  await runClosedLoop(ks.length, IN_FLIGHT, async (i, w) => {
    const k = ks[i] as number;
    check(`${label} (read back)`, space, k, await store.get(space.key(k), w), seen);
  });
}

/** Up to READ_BACK keys of 0..n-1, spread evenly. */
function sampleOf(n: number): number[] {
  const count = Math.min(n, READ_BACK);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/** Fresh-key puts of `space` (keys 0..size-1 in order), then as many gets, uniform over them. */
async function putThenGet(run: SetupRun, store: Store, connections: number, space: KeySpace, value: string, ops: number, seed: number): Promise<void> {
  await run.phase(store, connections, { workload: 'put', value }, ops, (i, w) => store.put(space.key(i), space.first(i), w));
  const rng = seededRng(seed);
  const label = `${run.setup.label} get ${value}`;
  await run.phase(store, connections, { workload: 'get', value }, ops, async (_i, w, seen) => {
    const k = uniform(rng, space.size);
    check(label, space, k, await store.get(space.key(k), w), seen);
  });
}

async function runSetup(run: SetupRun, plan: Plan, values: ReturnType<typeof valueSets>): Promise<void> {
  const { setup } = run;
  const text = values.text.name;
  if (!setup.full) {
    for (const connections of setup.connections) {
      const store = await setup.open(connections);
      try {
        await putThenGet(run, store, connections, new KeySpace(`e${connections}`, plan.etcdOps, values.text.payloads), text, plan.etcdOps, 201);
      } finally {
        await store.close();
      }
    }
    return;
  }

  // The load: the zipfian key space, written once in a scrambled order, chunk by chunk.
  const zipfSpace = new KeySpace('z', plan.zipfKeys, values.text.payloads);
  const order = new Scramble(plan.zipfKeys);
  const loadConnections = Math.max(...setup.connections);
  const loadStore = await setup.open(loadConnections);
  try {
    const chunks = Math.ceil(plan.zipfKeys / plan.chunkOps);
    for (let chunk = 0; chunk < chunks; chunk++) {
      const base = chunk * plan.chunkOps;
      const ops = Math.min(plan.chunkOps, plan.zipfKeys - base);
      const workload = chunk === 0 ? 'cold' : chunk === chunks - 1 ? 'steady' : 'load';
      await run.phase(loadStore, loadConnections, { workload, value: text, chunk }, ops, (i, w) => {
        const k = order.at(base + i);
        return loadStore.put(zipfSpace.key(k), zipfSpace.first(k), w);
      });
    }
    await readBack(`${setup.label} load`, loadStore, zipfSpace, sampleOf(plan.zipfKeys));
  } finally {
    await loadStore.close();
  }
  run.rssAfterLoad = setup.serverPids.map((pid) => rssBytes(pid));
  if (run.rssAfterLoad.length > 0) {
    run.ctx.report.record({ section: 'realistic', setup: setup.label, workload: 'rss after load', keys: plan.zipfKeys, rssBytes: run.rssAfterLoad });
  }

  for (const connections of setup.connections) {
    const store = await setup.open(connections);
    try {
      const fresh = new KeySpace(`p${connections}`, plan.putOps, values.text.payloads);
      const label = (workload: string) => `${setup.label} ${workload} ${connections} conns`;
      await run.phase(store, connections, { workload: 'put', value: text }, plan.putOps, (i, w) => store.put(fresh.key(i), fresh.first(i), w));
      await readBack(label('put'), store, fresh, sampleOf(plan.putOps));
      const rng = seededRng(300 + connections);
      await run.phase(store, connections, { workload: 'get', value: text }, plan.getOps, async (_i, w, seen) => {
        const k = uniform(rng, plan.zipfKeys);
        check(label('get'), zipfSpace, k, await store.get(zipfSpace.key(k), w), seen);
      });
      const overwritten: number[] = [];
      await run.phase(store, connections, { workload: 'overwrite', value: text }, plan.putOps, (_i, w) => {
        const k = uniform(rng, plan.zipfKeys);
        if (overwritten.length < READ_BACK) overwritten.push(k);
        return store.put(zipfSpace.key(k), zipfSpace.next(k), w);
      });
      await readBack(label('overwrite'), store, zipfSpace, overwritten);
      await run.phase(store, connections, { workload: 'read-modify-write', value: text }, plan.rmwOps, async (_i, w, seen) => {
        const k = uniform(rng, plan.zipfKeys);
        check(label('read-modify-write'), zipfSpace, k, await store.readModifyWrite(zipfSpace.key(k), zipfSpace.next(k), w), seen);
      });
      const zipf = new ZipfianKeys(plan.zipfKeys, ZIPF_S, seededRng(400 + connections));
      await run.phase(store, connections, { workload: 'zipf 90/10', value: text }, plan.getOps, async (_i, w, seen) => {
        const k = zipf.next();
        if (rng() < ZIPF_PUT_SHARE) return store.put(zipfSpace.key(k), zipfSpace.next(k), w);
        check(label('zipf'), zipfSpace, k, await store.get(zipfSpace.key(k), w), seen);
      });
    } finally {
      await store.close();
    }
  }

  const sweepConnections = Math.max(...setup.connections);
  const store = await setup.open(sweepConnections);
  try {
    for (const [s, set] of values.sweep.entries()) {
      const space = new KeySpace(`s${s}`, opsForSize(plan, set.payloads[0]?.bytes.length ?? 1024), set.payloads);
      await putThenGet(run, store, sweepConnections, space, set.name, space.size, 500 + s);
    }
  } finally {
    await store.close();
  }
}

/** The setups in the order they run, each started only when its turn comes (one at a time on the shared cores). */
function setupStarters(ctx: BenchContext): Array<{ label: string; start: () => Promise<Setup> }> {
  const { resources, config } = ctx;
  return [
    {
      label: 'raw classic-level',
      start: async () => {
        const dir = resources.tempDir('realistic-raw');
        const db = await openRaw(join(dir, 'db'));
        return {
          label: 'raw classic-level',
          serverPids: [],
          connections: [0],
          full: true,
          open: async () => rawLevelStore(db),
          stop: async () => {
            await db.close();
            resources.discard(dir);
          },
        };
      },
    },
    ...(
      [
        ['redis', 'none'],
        ['redis aof everysec', 'aofEverysec'],
      ] as const
    ).map(([label, persistence]) => ({
      label,
      start: async (): Promise<Setup> => {
        const redis = await startRedis(ctx, persistence, REDIS_PERSISTENCE[persistence]);
        return {
          label,
          serverPids: [redis.server.pid],
          connections: CONNECTION_COUNTS,
          full: true,
          open: (connections: number) => redisStore(redis, connections),
          stop: async () => {
            if (persistence === 'none') {
              const lines = await redisBenchmark(redis, config.quick ? 20_000 : 100_000);
              ctx.report.note(`redis-benchmark -t set,get -d 1024 -c 64 (sanity check, its own values): ${lines.join('; ')}`);
            }
            await stopRedis(ctx, redis);
          },
        };
      },
    })),
    {
      label: 'kvctl 1 node',
      start: async () => {
        const daemon = await resources.startDaemon(resources.tempDir('realistic-single'), ['--cache-mb', '64'], config.daemonEnv);
        return {
          label: 'kvctl 1 node',
          serverPids: [daemon.pid],
          connections: CONNECTION_COUNTS,
          full: true,
          open: async (connections: number) => {
            const lanes = await openLanes(daemon.addr, daemon.pid, connections);
            return kvctlStore(lanes, () => closeLanes([lanes]));
          },
          stop: async () => {
            await resources.stopDaemon(daemon);
            resources.discard(daemon.dataDir);
          },
        };
      },
    },
    {
      label: 'kvctl 3 nodes',
      start: async () => {
        const cluster = await startCluster(ctx, 'realistic-cluster');
        return {
          label: 'kvctl 3 nodes',
          serverPids: cluster.nodes.map((n) => n.pid),
          connections: CONNECTION_COUNTS,
          full: true,
          open: async (connections: number) => {
            const targets = Array.from({ length: connections }, () => cluster.nodes).flat();
            const lanes = await openClusterLanes(`${connections} per node`, targets, cluster.nodes);
            return kvctlStore(lanes, () => closeLanes([lanes]));
          },
          stop: () => stopCluster(ctx, cluster),
        };
      },
    },
    {
      label: 'etcd 3 members',
      start: async () => {
        const etcd = await startEtcd(ctx);
        return {
          label: 'etcd 3 members',
          serverPids: etcd.members.map((m) => m.pid),
          connections: [IN_FLIGHT],
          full: false,
          open: async () => etcdStore(etcd),
          stop: () => stopEtcd(ctx, etcd),
        };
      },
    },
  ];
}

export async function realisticSection(ctx: BenchContext): Promise<void> {
  const { report } = ctx;
  const plan = planOf(ctx);
  report.heading(
    `10. What users will see: kvctl next to raw classic-level, Redis and etcd in the same run, ${IN_FLIGHT} in flight, every value read back checked`,
  );
  report.note(
    `load: ${fmt(plan.zipfKeys)} keys of 1 KiB base64 text, ${MANY} connections, in chunks of ${fmt(plan.chunkOps)} (the first is the cold phase, the last the steady state); ` +
      `then with 1 and ${MANY} connections: ${fmt(plan.putOps)} fresh puts, ${fmt(plan.getOps)} gets, ${fmt(plan.putOps)} overwrites, ` +
      `${fmt(plan.rmwOps)} read-modify-writes, ${fmt(plan.getOps)} zipfian (s=${ZIPF_S}) 90/10 get/put; value sweep with ${MANY} connections; ` +
      `etcd: ${fmt(plan.etcdOps)} puts and gets of 1 KiB text`,
  );
  report.note('connections are per node for the kvctl cluster; a read-modify-write counts as one op (a get and a put); gets are uniform over the loaded keys');
  const values = valueSets();
  const runs: SetupRun[] = [];
  const missing: string[] = [];
  const failed: string[] = [];
  for (const starter of setupStarters(ctx)) {
    let setup: Setup;
    try {
      setup = await starter.start();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(starter.label);
      report.note(`${starter.label}: not installed, skipped (install with: ${INSTALL_HINT})`);
      continue;
    }
    report.note(`${starter.label}: measuring…`);
    const run = new SetupRun(ctx, setup);
    runs.push(run);
    const started = Date.now();
    try {
      await runSetup(run, plan, values);
    } catch (err) {
      // One setup failing (e.g. a quorum timeout on an overloaded machine) keeps what it and the others measured.
      const message = err instanceof Error ? err.message : String(err);
      report.note(`${starter.label}: FAILED after ${fmt(run.results.length)} phases: ${message}`);
      report.record({ section: 'realistic', setup: starter.label, failed: message });
      failed.push(starter.label);
    } finally {
      await setup.stop();
    }
    report.note(`${starter.label}: ${fmt((Date.now() - started) / 1000)} s`);
  }
  printResults(ctx, plan, runs);
  if (missing.length > 0) report.note(`not measured (not installed): ${missing.join(', ')}; install with: ${INSTALL_HINT}`);
  if (failed.length > 0) {
    // The summary and the JSON still come out; the exit status says the run is incomplete.
    report.note(`FAILED: ${failed.join(', ')} (the error is in the notes above; the JSON holds it too)`);
    process.exitCode = 1;
  }
}

const HEADERS = [
  'setup',
  'workload',
  'value',
  'lanes',
  'ops',
  'ops/s',
  'p50 µs',
  'p99 µs',
  'p99.9 µs',
  'server cpu µs/op',
  'client cpu µs/op',
  'server max RSS',
  'siblings',
];

function rowOf(f: PhaseFigures): Cell[] {
  return [
    f.setup,
    f.chunk === undefined ? f.workload : `${f.workload} (${fmt(f.chunk)})`,
    f.value,
    f.lanes,
    fmt(f.ops),
    fmt(f.opsPerSec),
    fmt(f.p50Us),
    fmt(f.p99Us),
    fmt(f.p999Us),
    f.serverCpuUsPerOp === null ? '—' : fmt(f.serverCpuUsPerOp, 1),
    fmt(f.clientCpuUsPerOp, 1),
    f.serverRssMaxBytes === null ? '—' : mib(f.serverRssMaxBytes),
    fmt(f.siblings),
  ];
}

function printResults(ctx: BenchContext, plan: Plan, runs: SetupRun[]): void {
  const { report } = ctx;
  const all = runs.flatMap((r) => r.results);
  const shown = all.filter((f) => f.workload !== 'load');
  report.table(HEADERS, shown.map(rowOf));
  report.note(
    'server cpu: user+system of the server processes (summed over a cluster), 10 ms ticks; client cpu: this process (for raw classic-level, LevelDB too)',
  );
  for (const run of runs) {
    const chunks = run.results.filter((f) => f.chunk !== undefined);
    if (chunks.length === 0) continue;
    const seconds = chunks.reduce((sum, f) => sum + f.elapsedMs, 0) / 1000;
    const ops = chunks.reduce((sum, f) => sum + f.ops, 0);
    const rss = run.rssAfterLoad.map((b) => mib(b)).join(' / ');
    report.note(
      `${run.setup.label} load: ${fmt(ops)} puts in ${fmt(seconds, 1)} s, ${fmt(ops / seconds)}/s; per chunk ${chunks.map((f) => `${fmt(f.opsPerSec / 1000, 1)}k`).join(' ')}/s` +
        (rss ? `; RSS after: ${rss}` : ''),
    );
  }

  const find = (setup: string, workload: string, value: string, connections?: number) => {
    const candidates = all.filter((f) => f.setup === setup && f.workload === workload && f.value === value);
    return candidates.find((f) => f.connections === connections) ?? (candidates.length === 1 ? candidates[0] : undefined);
  };
  const pairs: Array<[string, string[]]> = [
    ['kvctl 1 node', ['raw classic-level', 'redis', 'redis aof everysec']],
    ['kvctl 3 nodes', ['kvctl 1 node', 'etcd 3 members']],
  ];
  const comparison: Cell[][] = [];
  for (const [mine, peers] of pairs) {
    for (const f of all.filter((r) => r.setup === mine && r.workload !== 'load')) {
      for (const peer of peers) {
        const p = find(peer, f.workload, f.value, f.connections);
        if (!p) continue;
        comparison.push([
          f.workload,
          f.value,
          f.lanes,
          mine,
          fmt(f.opsPerSec),
          fmt(f.p99Us / 1000, 2),
          peer,
          p.lanes,
          fmt(p.opsPerSec),
          fmt(p.p99Us / 1000, 2),
          `${fmt(f.opsPerSec / p.opsPerSec, 2)}x`,
        ]);
      }
    }
  }
  report.table(['workload', 'value', 'lanes', 'kvctl', 'ops/s', 'p99 ms', 'peer', 'peer lanes', 'peer ops/s', 'peer p99 ms', 'ratio'], comparison);
  report.note(
    "ratio: kvctl ops/s over the peer's, same workload and value, same connection count where the peer has one (raw classic-level: in-process; etcd: 64 keep-alive connections over its members)",
  );
  report.note('etcd gets read keys of its own 1 KiB put phase; kvctl gets are uniform over the loaded key space (mostly not in its cache)');

  const text = 'text 1 KiB';
  const ratioTarget = (label: string, a: PhaseFigures | undefined, b: PhaseFigures | undefined, target: number) => {
    if (a && b) report.target(label, a.opsPerSec / b.opsPerSec, '≥', target);
    else report.note(`target ${label}: not measured`);
  };
  const single = (workload: string) => find('kvctl 1 node', workload, text, MANY);
  const cluster = (workload: string) => find('kvctl 3 nodes', workload, text, MANY);
  ratioTarget(`1 node put / Redis SET (${MANY} conns)`, single('put'), find('redis', 'put', text, MANY), 0.6);
  ratioTarget(`1 node put (${MANY} conns) / raw classic-level put`, single('put'), find('raw classic-level', 'put', text), 0.5);
  ratioTarget(`1 node get / Redis GET (${MANY} conns)`, single('get'), find('redis', 'get', text, MANY), 0.8);
  ratioTarget(`3 nodes put (${MANY}/node) / etcd put`, cluster('put'), find('etcd 3 members', 'put', text), 5);
  ratioTarget(`3 nodes put / 1 node put (${MANY} conns)`, cluster('put'), single('put'), 0.4);
  ratioTarget(`3 nodes get (${MANY}/node) / etcd get`, cluster('get'), find('etcd 3 members', 'get', text), 5);
  for (const workload of ['put', 'get']) {
    const f = cluster(workload);
    if (f) report.target(`3 nodes ${workload} p99 (${MANY}/node)`, f.p99Us / 1000, '≤', 10, ' ms');
  }
  for (const setup of ['kvctl 1 node', 'kvctl 3 nodes']) {
    ratioTarget(`${setup}: cold (first ${fmt(plan.chunkOps)} puts) / steady`, find(setup, 'cold', text), find(setup, 'steady', text), 0.7);
  }
  const singleRun = runs.find((r) => r.setup.label === 'kvctl 1 node');
  const rss = singleRun?.rssAfterLoad[0];
  if (rss !== undefined) report.target(`1 node RSS after ${fmt(plan.zipfKeys)} keys, --cache-mb 64`, rss / 1e6, '≤', RSS_TARGET_MB, ' MB');
  const peersCold = runs
    .filter((r) => !r.setup.label.startsWith('kvctl'))
    .map((r) => {
      const cold = find(r.setup.label, 'cold', text);
      const steady = find(r.setup.label, 'steady', text);
      return cold && steady ? `${r.setup.label} ${fmt(cold.opsPerSec / steady.opsPerSec, 2)}x` : undefined;
    })
    .filter((s) => s !== undefined);
  if (peersCold.length > 0) report.note(`cold / steady of the peers, for reference: ${peersCold.join(', ')}`);
}
