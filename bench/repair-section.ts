/**
 * Section 7: what `kvctl repair` costs against how much differs. A 3-node cluster with the fault
 * switch on and background anti-entropy off holds `repairKeys` small values on all three replicas
 * (W=3). For each d, node3 is cut off (both ways), d of the keys get new values at W=2 through
 * node1 (with their contexts, so each replaces the value rather than adding a sibling), the link
 * heals, and the whole `kvctl repair --json` process is timed; afterwards every Merkle root must
 * agree. The baseline is a full copy of the same data set measured in the same run: every record
 * read from node1 at R=1 and written at W=1 to an empty standalone daemon, 64 in flight.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { RepairSummary } from '../src/cli/repair-run.js';
import type { KvClient } from '../src/client/client.js';
import type { BenchContext } from './bench-context.js';
import { runClosedLoop } from './closed-loop.js';
import { type BenchCluster, heal, isolate, keyCounts, merkleRoots, startCluster, stopCluster, waitUntilConverged } from './cluster.js';
import { randomValues, seededRng } from './json-documents.js';
import { connectClient, IN_FLIGHT, keyOf, shuffled } from './kv-workload.js';
import { type Cell, fmt } from './report.js';
import { KVCTL_BIN } from './resources.js';

const execFileAsync = promisify(execFile);

/** Value size of this section's data set, bytes (small records: repair cost is mostly per key). */
export const REPAIR_VALUE_BYTES = 100;
const PREFIX = 'rep';
/** The node cut off while keys change (index into the cluster). */
const CUT = 2;

interface RepairRun {
  changed: number;
  summary: RepairSummary;
  /** Sum of the per-pair exchange times from the progress lines. */
  exchangeMs: number;
  /** Whole `kvctl repair` process, spawn to exit. */
  wallMs: number;
  loopbackBytes: number;
  rootsAgree: boolean;
}

interface FullCopy {
  records: number;
  /** Bytes of the lines that carry the records: get replies from node1 and put requests to the target. */
  lineBytes: number;
  loopbackBytes: number;
  ms: number;
}

/** Bytes received on the loopback interface so far (machine-wide; loopback counts each byte once each way). */
function loopbackBytes(): number {
  try {
    const line = readFileSync('/proc/net/dev', 'utf8')
      .split('\n')
      .find((l) => l.trim().startsWith('lo:'));
    const fields = line
      ?.slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/);
    return Number(fields?.[0] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

function lineBytes(body: unknown): number {
  return Buffer.byteLength(JSON.stringify(body)) + 1;
}

/** Runs `kvctl repair --addr ADDR --json` to completion and times the whole process. */
async function timedRepair(addr: string): Promise<{ summary: RepairSummary; exchangeMs: number; wallMs: number; loopbackBytes: number }> {
  const lo = loopbackBytes();
  const started = process.hrtime.bigint();
  const { stdout } = await execFileAsync(process.execPath, [KVCTL_BIN, 'repair', '--addr', addr, '--json'], {
    timeout: 5 * 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const bytes = loopbackBytes() - lo;
  const events = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RepairSummary & { event?: string });
  const summary = events.find((e) => e.event === 'summary');
  if (!summary) throw new Error(`kvctl repair printed no summary line: ${stdout.slice(0, 500)}`);
  if (summary.pairsFailed > 0) throw new Error(`kvctl repair: ${summary.pairsFailed} of ${summary.pairs} pairs failed`);
  const exchangeMs = events.filter((e) => e.event === 'progress').reduce((sum, e) => sum + Number(e.ms), 0);
  return { summary, exchangeMs, wallMs, loopbackBytes: bytes };
}

/** Every record read from `source` at R=1 and written at W=1 to an empty standalone daemon, 64 in flight. */
async function fullCopy(ctx: BenchContext, source: KvClient, records: number): Promise<FullCopy> {
  const target = await ctx.resources.startDaemon(ctx.resources.tempDir('full-copy'), [], ctx.config.daemonEnv);
  const dst = await connectClient(target.addr);
  try {
    let bytes = 0;
    const lo = loopbackBytes();
    const result = await runClosedLoop(records, IN_FLIGHT, async (i) => {
      const key = keyOf(PREFIX, i);
      const reply = await source.request({ op: 'get', key, r: 1 });
      const values = reply.values as string[] | undefined;
      if (reply.found !== true || values?.length !== 1) throw new Error(`full copy: ${key} has ${values?.length ?? 0} values on node1, expected 1`);
      const base64 = reply.encoding === 'base64';
      const put = { op: 'put', key: base64 ? Buffer.from(key).toString('base64') : key, value: values[0], encoding: base64 ? 'base64' : 'utf8', w: 1 };
      bytes += lineBytes(reply) + lineBytes(put);
      await dst.request(put);
    });
    const copied = Number((await dst.stats()).keys);
    if (copied !== records) throw new Error(`full copy: the target holds ${copied} records, expected ${records}`);
    return { records, lineBytes: bytes, loopbackBytes: loopbackBytes() - lo, ms: result.elapsedMs };
  } finally {
    await dst.close();
    await ctx.resources.stopDaemon(target);
  }
}

/** Cuts node3 off, changes `keys` through node1 at W=2, heals, waits for the cluster to converge. */
async function diverge(cluster: BenchCluster, keys: Uint32Array, newValue: (k: number) => Buffer, contexts: string[]): Promise<void> {
  const node1 = cluster.control[0] as KvClient;
  await isolate(cluster, CUT);
  try {
    await runClosedLoop(keys.length, IN_FLIGHT, async (i) => {
      const k = keys[i] as number;
      contexts[k] = (await node1.put(keyOf(PREFIX, k), newValue(k), { w: 2, context: contexts[k] })).context;
    });
  } finally {
    await heal(cluster);
  }
  await waitUntilConverged(cluster);
}

export async function repairSection(ctx: BenchContext): Promise<void> {
  const { report, config } = ctx;
  const records = config.repairKeys;
  report.heading(
    `7. Repair cost: 3 nodes (--testing-faults, --anti-entropy-interval-ms 0), ${fmt(records)} keys of ${REPAIR_VALUE_BYTES} B random bytes on all three; ` +
      'node3 cut off while d keys change at W=2 through node1, then `kvctl repair --json`',
  );
  const values = randomValues(seededRng(7), 4096, REPAIR_VALUE_BYTES);
  const changedValues = randomValues(seededRng(71), 4096, REPAIR_VALUE_BYTES);
  const cluster = await startCluster(ctx, 'repair', { flags: ['--testing-faults', '--anti-entropy-interval-ms', '0'] });
  const runs: RepairRun[] = [];
  let full: FullCopy;
  try {
    const contexts: string[] = new Array(records);
    const load = await runClosedLoop(records, IN_FLIGHT, async (i, w) => {
      const client = cluster.control[w % cluster.control.length] as KvClient;
      contexts[i] = (await client.put(keyOf(PREFIX, i), values[i % values.length] as Buffer, { w: 3 })).context;
    });
    const counts = await keyCounts(cluster);
    if (counts.some((c) => c !== records)) throw new Error(`after the W=3 load the nodes hold ${counts.join('/')} records, expected ${records} each`);
    report.note(
      `loaded at W=3, one connection per node, 64 in flight: ${fmt(load.opsPerSec)} puts/s (p50 ${fmt(load.p50Us)} µs, p99 ${fmt(load.p99Us)} µs); each node holds ${fmt(records)} records`,
    );

    const order = shuffled(records, seededRng(72));
    let next = 0;
    for (const d of config.repairDiffs) {
      if (next + d > records) throw new RangeError(`repair diffs need ${next + d} distinct keys, only ${records} loaded`);
      await diverge(cluster, order.subarray(next, next + d), (k) => changedValues[k % changedValues.length] as Buffer, contexts);
      next += d;
      const repair = await timedRepair((cluster.nodes[0] as { addr: string }).addr);
      const roots = await merkleRoots(cluster);
      runs.push({ changed: d, ...repair, rootsAgree: roots.length > 0 && roots.every((r) => r === roots[0]) });
    }
    full = await fullCopy(ctx, cluster.control[0] as KvClient, records);
  } finally {
    await stopCluster(ctx, cluster);
  }

  report.table(
    [
      'd changed',
      'differing found',
      'keys transferred',
      'bytes transferred',
      'ranges compared',
      'pair exchanges ms',
      'repair ms (summary)',
      'kvctl repair wall ms',
      'loopback bytes',
      'roots agree after',
    ],
    runs.map((r) => [
      fmt(r.changed),
      fmt(r.summary.keysDiffering),
      fmt(r.summary.keysTransferred),
      fmt(r.summary.bytesTransferred),
      fmt(r.summary.rangesCompared),
      fmt(r.exchangeMs),
      fmt(r.summary.ms),
      fmt(r.wallMs),
      fmt(r.loopbackBytes),
      r.rootsAgree ? 'yes' : 'NO',
    ]),
  );
  report.note(
    "figures from the summary line (all 3 pairs); bytes transferred is repair's own count: the keys, stored values and clocks (a 64 B bound per clock entry or sibling) of the records fetched from the peer and of the merged ones sent back",
  );
  report.note("pair exchanges ms: the Merkle exchanges' own times, summed over the pairs' progress lines");
  report.note(
    `repair ms: the summary's in-process time, which also covers connecting${runs.some((r) => r.summary.tombstonesReaped !== undefined) ? " and the tombstone-reaping pass kvctl repair runs after the exchanges (it scans every node's records)" : ''}; ` +
      'wall ms: the whole `kvctl repair` process, CLI start-up included (see section 5)',
  );
  report.note(
    'loopback bytes: /proc/net/dev over the repair, machine-wide — also Merkle hashes, leaf key lists, gossip, and any other traffic on this machine',
  );
  report.note(
    `full copy (the baseline): all ${fmt(full.records)} records read from node1 at R=1 and written at W=1 to an empty standalone daemon, 64 in flight, ` +
      `through the client API: ${fmt(full.ms)} ms (${fmt((full.records / full.ms) * 1000)} records/s), ${fmt(full.lineBytes)} bytes in the get-reply and put-request lines, ` +
      `${fmt(full.loopbackBytes)} loopback bytes (an R=1 get still asks all three replicas)`,
  );
  const ratio = (x: number, base: number): Cell => `${fmt(x / base, x / base < 0.01 ? 4 : 3)}x`;
  report.table(
    [
      'd changed',
      'repair bytes / full bytes',
      'repair loopback / full bytes',
      'repair wall ms / full ms',
      'repair summary ms / full ms',
      'pair exchanges ms / full ms',
    ],
    runs.map((r) => [
      fmt(r.changed),
      ratio(r.summary.bytesTransferred, full.lineBytes),
      ratio(r.loopbackBytes, full.lineBytes),
      ratio(r.wallMs, full.ms),
      ratio(r.summary.ms, full.ms),
      ratio(r.exchangeMs, full.ms),
    ]),
  );
  report.note('"full bytes" is the copy\'s record-carrying line bytes (not its loopback total), so the ratios favour the baseline');
  if (runs.some((r) => !r.rootsAgree)) report.note('WARNING: Merkle roots still differ after a repair: the replicas did not converge');
}
