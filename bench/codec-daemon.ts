/**
 * What value compression costs and saves in a running daemon:
 *
 *   npm run build && node dist/bench/codec-daemon.js [--json] [--quick]
 *
 * For 1 KiB JSON documents, 1 KiB base64 text and 16 KiB English-like text: puts of fresh keys,
 * 64 in flight over 4 connections, to one daemon with the default compression settings and one
 * storing every value raw (`--compress-min-bytes 1000000000`), rounds alternating between the two
 * so that both see the same machine; then the bytes on disk of each after a full compaction. Put
 * throughput lost to compression is printed next to the disk bytes it saves.
 */
import { join } from 'node:path';
import type { KvClient } from '../src/client/client.js';
import type { LoopResult } from './closed-loop.js';
import { corpusValues, type ValueKind } from './codec-corpus.js';
import { closeLanes, KvWorkload, type Lanes, openLanes, type PhaseResult } from './kv-workload.js';
import { compactDir } from './raw-level.js';
import { fmt, mib } from './report.js';
import { type BenchDaemon, dirBytes, Resources } from './resources.js';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const ROUNDS = QUICK ? 1 : 3;

interface Workload {
  kind: ValueKind;
  bytes: number;
  ops: number;
}

const WORKLOADS: Workload[] = [
  { kind: 'json', bytes: 1024, ops: QUICK ? 5_000 : 20_000 },
  { kind: 'base64', bytes: 1024, ops: QUICK ? 5_000 : 20_000 },
  { kind: 'json', bytes: 4096, ops: QUICK ? 2_000 : 8_000 },
  { kind: 'english', bytes: 16384, ops: QUICK ? 1_000 : 4_000 },
];

interface Side {
  label: string;
  daemon: BenchDaemon;
  lanes: Lanes;
  rounds: PhaseResult[];
}

interface WorkloadResult {
  kind: ValueKind;
  bytes: number;
  ops: number;
  sides: Array<{
    label: string;
    opsPerSec: number[];
    medianOpsPerSec: number;
    p99Us: number;
    daemonCpuUsPerOp: number;
    diskBytes: number;
    compressedValues: number;
    rawValues: number;
  }>;
  logicalBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measureWorkload(resources: Resources, w: Workload): Promise<WorkloadResult> {
  const values = corpusValues(w.kind, w.bytes, 2048, 41).map((v) => v.toString('utf8'));
  const sides: Side[] = [];
  const variants: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['compressed', ['--compress-min-bytes', '512'], {}],
    ['raw', ['--compress-min-bytes', '1000000000'], {}],
  ];
  for (const [label, flags, env] of variants) {
    const daemon = await resources.startDaemon(resources.tempDir(`codec-${w.kind}-${label.replace(' ', '-')}`), flags, env);
    sides.push({ label, daemon, lanes: await openLanes(daemon.addr, daemon.pid, 4), rounds: [] });
  }
  const workloads = sides.map(() => new KvWorkload(values));
  const warmOps = Math.ceil(w.ops / 4);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first, so neither always follows the other's disk writes.
    const order = sides.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const side = sides[i] as Side;
      const result = await (workloads[i] as KvWorkload).put(side.lanes, `r${r}`, w.ops, r === 0 ? warmOps : 0, 1);
      side.rounds.push(result);
    }
  }
  const out: WorkloadResult['sides'] = [];
  for (const side of sides) {
    const codec = (await (side.lanes.clients[0] as KvClient).stats()).codec as { compressedValues?: number; rawValues?: number };
    await closeLanes([side.lanes]);
    await resources.stopDaemon(side.daemon);
    const db = join(side.daemon.dataDir, 'db');
    await compactDir(db);
    const rates = side.rounds.map((r: LoopResult) => r.opsPerSec);
    const mid = side.rounds.find((r) => r.opsPerSec === median(rates)) as PhaseResult;
    out.push({
      label: side.label,
      opsPerSec: rates,
      medianOpsPerSec: median(rates),
      p99Us: mid.p99Us,
      daemonCpuUsPerOp: mid.daemonCpuUsPerOp,
      diskBytes: dirBytes(db),
      compressedValues: codec.compressedValues ?? 0,
      rawValues: codec.rawValues ?? 0,
    });
    resources.discard(side.daemon.dataDir);
  }
  let logicalBytes = 0;
  for (const [key, value] of (workloads[0] as KvWorkload).entries()) logicalBytes += key.length + value.length;
  return { kind: w.kind, bytes: w.bytes, ops: w.ops, sides: out, logicalBytes };
}

async function main(): Promise<void> {
  const resources = new Resources();
  const release = () => void resources.release().then(() => process.exit(130));
  process.on('SIGINT', release);
  process.on('SIGTERM', release);
  try {
    const results: WorkloadResult[] = [];
    for (const w of WORKLOADS) results.push(await measureWorkload(resources, w));
    if (argv.includes('--json')) {
      console.log(JSON.stringify(results, null, 1));
      return;
    }
    console.log(`daemon puts, 64 in flight over 4 connections, ${ROUNDS} rounds per side alternating (median; all rounds listed)`);
    const rows = results.flatMap((r) =>
      r.sides.map((s) => [
        `${r.kind} ${r.bytes >= 1024 ? `${r.bytes / 1024} KiB` : `${r.bytes} B`}`,
        s.label,
        fmt(s.medianOpsPerSec),
        s.opsPerSec.map((x) => fmt(x / 1000, 1)).join(' '),
        fmt(s.p99Us),
        fmt(s.daemonCpuUsPerOp, 1),
        `${fmt(s.compressedValues)}/${fmt(s.rawValues)}`,
        mib(s.diskBytes),
      ]),
    );
    const headers = ['values', 'daemon', 'put ops/s', 'rounds k/s', 'p99 µs', 'daemon cpu µs/op', 'compressed/raw', 'disk after compaction'];
    const cells = [headers, ...rows.map((row) => row.map(String))];
    const widths = headers.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
    for (const row of cells) console.log(`   ${row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}`);
    for (const r of results) {
      const [c, raw] = r.sides as [WorkloadResult['sides'][number], WorkloadResult['sides'][number]];
      const speed = c.medianOpsPerSec / raw.medianOpsPerSec;
      const disk = c.diskBytes / raw.diskBytes;
      console.log(
        `   ${r.kind} ${r.bytes} B: compressed puts at ${fmt(speed * 100, 0)}% of raw (${fmt((1 - speed) * 100, 0)}% slower), disk ${fmt(disk * 100, 0)}% of raw (${fmt((1 - disk) * 100, 0)}% saved); ${mib(r.logicalBytes)} of keys and values written`,
      );
    }
  } finally {
    await resources.release();
  }
}

await main();
