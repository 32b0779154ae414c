/**
 * Sections 1-3: kvctl daemons under put/get load (random values with the cache on and off, JSON
 * values with and without value compression), raw classic-level under the same load, the
 * kvctl/raw ratios, and bytes on disk for the JSON data set.
 */
import { join } from 'node:path';
import type { KvClient } from '../src/client/client.js';
import { type BenchContext, VALUE_BYTES } from './bench-context.js';
import type { LoopResult, Median } from './closed-loop.js';
import { jsonDocument, randomValues, seededRng } from './json-documents.js';
import { closeLanes, KvWorkload, type Lanes, lastRound, openLanes, type PhaseResult } from './kv-workload.js';
import { compactDir, loadRaw, openRaw, rawPutGet } from './raw-level.js';
import { type Cell, fmt, mib } from './report.js';
import { type BenchDaemon, dirBytes } from './resources.js';

/** A daemon with its two lane sets (1x64, 4x16) and the results measured on it, in lane order. */
export interface DaemonUnderTest {
  label: string;
  daemon: BenchDaemon;
  lanes: Lanes[];
  /** The single-connection lane's client, for stats and one-off requests. */
  client: KvClient;
  puts: Median<PhaseResult>[];
  gets: Median<PhaseResult>[];
}

export const ROW_HEADERS = [
  'phase',
  'daemon',
  'conns',
  'ops',
  'ops/s',
  'rounds min–max',
  'p50 µs',
  'p99 µs',
  'daemon cpu µs/op',
  'client cpu µs/op',
  'daemon counters',
];

/** Throughput spread of the rounds, in thousands. */
export function spread(r: Median<LoopResult>): string {
  return `${fmt(r.minOpsPerSec / 1000, 1)}k–${fmt(r.maxOpsPerSec / 1000, 1)}k`;
}

/** One table row (ROW_HEADERS) of a measured phase. */
export function row(phase: string, daemon: string, lanes: Lanes, r: Median<PhaseResult>): Cell[] {
  const counters =
    r.cacheHitRatio !== undefined ? `cache hits ${fmt(r.cacheHitRatio * 100, 1)}%` : r.opsPerBatch !== undefined ? `${fmt(r.opsPerBatch, 1)} puts/batch` : '';
  const cpu = [fmt(r.daemonCpuUsPerOp, 1), fmt(r.clientCpuUsPerOp, 1)];
  return [phase, daemon, lanes.label, fmt(r.ops), fmt(r.opsPerSec), spread(r), fmt(r.p50Us), fmt(r.p99Us), ...cpu, counters];
}

async function underTest(ctx: BenchContext, label: string, flags: string[]): Promise<DaemonUnderTest> {
  const daemon = await ctx.resources.startDaemon(ctx.resources.tempDir(label), flags, ctx.config.daemonEnv);
  const single = await openLanes(daemon.addr, daemon.pid, 1);
  const quad = await openLanes(daemon.addr, daemon.pid, 4);
  return { label, daemon, lanes: [single, quad], client: single.clients[0] as KvClient, puts: [], gets: [] };
}

/** Stops the daemon and removes its data dir, unless `keepData` (its bytes on disk are still to be measured). */
export async function stop(ctx: BenchContext, d: DaemonUnderTest, keepData = false): Promise<void> {
  await closeLanes(d.lanes);
  await ctx.resources.stopDaemon(d.daemon);
  if (!keepData) ctx.resources.discard(d.daemon.dataDir);
}

/** Puts on each daemon (1x64, then 4x16, fresh keys each), returning one table row per phase. */
async function puts(ctx: BenchContext, daemons: Array<[DaemonUnderTest, KvWorkload]>): Promise<Cell[][]> {
  const rows: Cell[][] = [];
  for (const [d, workload] of daemons) {
    for (const lanes of d.lanes) {
      const { keys, warmOps, freshWarmOps, rounds } = ctx.config;
      const result = await workload.put(lanes, `p${lanes.clients.length}`, keys, lanes === d.lanes[0] ? freshWarmOps : warmOps, rounds);
      d.puts.push(result);
      rows.push(row('put', d.label, lanes, result));
    }
  }
  return rows;
}

/** Gets of the keys the last 4x16 put round wrote (the most recent, so cache-resident), alternating daemons. */
async function gets(ctx: BenchContext, daemons: Array<[DaemonUnderTest, KvWorkload]>, seed: number): Promise<Cell[][]> {
  const rows: Cell[][] = [];
  for (let l = 0; l < 2; l++) {
    for (const [d, workload] of daemons) {
      const lanes = d.lanes[l] as Lanes;
      const { keys, getOps, warmOps, rounds } = ctx.config;
      const result = await workload.get(lanes, lastRound('p4', rounds), keys, getOps, warmOps, rounds, seededRng(seed + l));
      d.gets.push(result);
      rows.push(row('get', d.label, lanes, result));
    }
  }
  return rows;
}

/** Section 1. Returns the cache-on daemon still running (section 5 uses it) and the results. */
export async function randomValuesSection(ctx: BenchContext): Promise<{ on: DaemonUnderTest; off: DaemonUnderTest; values: Buffer[] }> {
  const { report, config } = ctx;
  report.heading('1. Single node, 1 KiB random values (incompressible; sent as Buffers, so base64 on the wire)');
  const values = randomValues(seededRng(1), 4096, VALUE_BYTES);
  const workload = new KvWorkload(values);
  const on = await underTest(ctx, 'cache-on', []);
  const off = await underTest(ctx, 'cache-off', ['--cache-mb', '0']);
  const daemons: Array<[DaemonUnderTest, KvWorkload]> = [
    [on, workload],
    [off, workload],
  ];
  report.table(ROW_HEADERS, [...(await puts(ctx, daemons)), ...(await gets(ctx, daemons, 11))]);
  report.note(`"cache-on" runs with the default --cache-mb 64: the ${fmt(config.keys)} keys read (~${mib(config.keys * 1250)} of records) fit`);
  report.note("daemon cpu from /proc (10 ms ticks); puts/batch and cache hits from the daemon's stats, over the measured phase");
  for (let l = 0; l < 2; l++) {
    const ratio = (on.gets[l]?.opsPerSec ?? 0) / (off.gets[l]?.opsPerSec ?? 1);
    report.target(`get ops/s cache on / off (${on.lanes[l]?.label})`, ratio, '≥', 1);
  }
  await stop(ctx, off);
  return { on, off, values };
}

/** Section 2: raw classic-level under the same load, and the kvctl/raw ratios. */
export async function rawLevelSection(ctx: BenchContext, values: Buffer[], on: DaemonUnderTest, off: DaemonUnderTest): Promise<void> {
  const { report, config } = ctx;
  report.heading('2. Raw classic-level in this process (buffer encodings), 64 operations in flight, same values');
  const rawDir = ctx.resources.tempDir('raw');
  const db = await openRaw(join(rawDir, 'db'));
  const raw = await rawPutGet(db, values, config.keys, config.getOps, { put: config.freshWarmOps, get: config.warmOps }, config.rounds, seededRng(21));
  await db.close();
  ctx.resources.discard(rawDir);
  report.table(
    ['phase', 'ops', 'ops/s', 'rounds min–max', 'p50 µs', 'p99 µs', 'process cpu µs/op'],
    (['put', 'get'] as const).map((phase) => {
      const r = raw[phase];
      return [phase, fmt(r.ops), fmt(r.opsPerSec), spread(r), fmt(r.p50Us), fmt(r.p99Us), fmt(r.cpuUsPerOp, 1)];
    }),
  );
  const ratios = (results: PhaseResult[], base: number) => results.map((r) => `${fmt(r.opsPerSec / base, 2)}x`);
  report.table(
    ['kvctl / raw ops/s', '1x64', '4x16'],
    [
      ['put (cache-on daemon)', ...ratios(on.puts, raw.put.opsPerSec)],
      ['get, cache on', ...ratios(on.gets, raw.get.opsPerSec)],
      ['get, cache off', ...ratios(off.gets, raw.get.opsPerSec)],
    ],
  );
  report.target('put kvctl/raw (1x64)', (on.puts[0]?.opsPerSec ?? 0) / raw.put.opsPerSec, '≥', 0.5);
  report.target('get kvctl/raw (1x64, cache on)', (on.gets[0]?.opsPerSec ?? 0) / raw.get.opsPerSec, '≥', 0.3);
}

/**
 * Section 3: JSON values on the default daemon, puts of the same data to a daemon that stores
 * values raw (--compress-min-bytes above the value size), and bytes on disk of both against raw
 * classic-level holding the same keys and JSON.
 */
export async function jsonSection(ctx: BenchContext): Promise<void> {
  const { report } = ctx;
  report.heading('3. Single node, 1 KiB JSON user records (compressible; sent as UTF-8 strings), cache on');
  const rng = seededRng(3);
  const docs = Array.from({ length: 4096 }, (_, i) => jsonDocument(rng, i, VALUE_BYTES));
  const brotli = await underTest(ctx, 'json', []);
  const plain = await underTest(ctx, 'json-raw', ['--compress-min-bytes', String(VALUE_BYTES + 1)]);
  const workload = new KvWorkload(docs);
  const rows = [...(await puts(ctx, [[brotli, workload]])), ...(await gets(ctx, [[brotli, workload]], 31))];
  rows.push(...(await puts(ctx, [[plain, new KvWorkload(docs)]])));
  report.table(ROW_HEADERS, rows);
  const codec = (await brotli.client.stats()).codec as { compressedValues?: number; rawValues?: number };
  report.note(`"json": ${fmt(codec.compressedValues ?? 0)} values stored brotli-compressed, ${fmt(codec.rawValues ?? 0)} raw`);
  report.note(`"json-raw": --compress-min-bytes ${VALUE_BYTES + 1}, so values are stored as sent (LevelDB's snappy still applies)`);
  await stop(ctx, brotli, true);
  await stop(ctx, plain, true);

  const rawParent = ctx.resources.tempDir('raw-json');
  const rawDir = join(rawParent, 'db');
  await loadRaw(rawDir, workload.entries());
  const dirs: Array<[string, string]> = [
    ['kvctl "json" (brotli q4 per value + record header)', join(brotli.daemon.dataDir, 'db')],
    ['kvctl "json-raw" (JSON + record header)', join(plain.daemon.dataDir, 'db')],
    ['raw classic-level (JSON as is)', rawDir],
  ];
  const closed = dirs.map(([, dir]) => dirBytes(dir));
  for (const [, dir] of dirs) await compactDir(dir);
  const compacted = dirs.map(([, dir]) => dirBytes(dir));
  let logical = 0;
  for (const [key, value] of workload.entries()) logical += key.length + value.length;
  const rawClosed = closed[2] ?? 1;
  const rawCompacted = compacted[2] ?? 1;
  report.note(`bytes on disk, same keys and JSON (${mib(logical)} logical); LevelDB's snappy block compression is on in all three`);
  report.table(
    ['store', 'after stop/close', 'vs raw', 'after compactRange', 'vs raw'],
    dirs.map(([label], i) => {
      const [c = 0, k = 0] = [closed[i], compacted[i]];
      return [label, mib(c), `${fmt(c / rawClosed, 2)}x`, mib(k), `${fmt(k / rawCompacted, 2)}x`];
    }),
  );
  for (const dir of [brotli.daemon.dataDir, plain.daemon.dataDir, rawParent]) ctx.resources.discard(dir);
}
