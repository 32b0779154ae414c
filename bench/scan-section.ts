/**
 * Scan (`npm run bench -- --only scan`): a 3-node cluster (N=3 W=2 R=2) loaded with
 * BENCH_SCAN_KEYS keys (default 1,000,000) of 100-byte values, then scanned whole through one
 * node with the client library: keys only, then keys and values. Prints keys/s and each node's
 * RSS after the load and at its peak during each scan (sampled every 50 ms), and a client that
 * reads one line of a scan and then stops for a few seconds: the nodes' RSS and the pages they
 * read while it waits show the scan stopped, in bounded memory, on every node.
 */
import { KvClient } from '../src/client/client.js';
import type { BenchContext } from './bench-context.js';
import { runClosedLoop } from './closed-loop.js';
import { type BenchCluster, startCluster, stopCluster } from './cluster.js';
import { connectClient } from './kv-workload.js';
import { rssBytes, sampleRss } from './reply-flood.js';
import { fmt, mib } from './report.js';

const VALUE = 'v'.repeat(100);
const LOAD_IN_FLIGHT = 64;
const STALL_MS = 5_000;

function keyOf(i: number): string {
  return `scan:${String(i).padStart(8, '0')}`;
}

async function scanPages(cluster: BenchCluster): Promise<number> {
  let total = 0;
  for (const c of cluster.control) total += ((await c.stats()).ops as { scanPages: number }).scanPages;
  return total;
}

interface ScanPhase {
  phase: string;
  keys: number;
  seconds: number;
  keysPerSec: number;
  rssPeak: number[];
}

async function timedScan(cluster: BenchCluster, phase: string, values: boolean): Promise<ScanPhase> {
  const samplers = cluster.nodes.map((n) => sampleRss(n.pid, 50));
  const client = await KvClient.connect((cluster.nodes[0] as { addr: string }).addr, { timeoutMs: 60_000 });
  const started = process.hrtime.bigint();
  let keys = 0;
  try {
    for await (const _ of client.scan({ values, pageKeys: 1000 })) keys++;
  } finally {
    await client.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { phase, keys, seconds, keysPerSec: keys / seconds, rssPeak: samplers.map((s) => s.stop()) };
}

export async function scanSection(ctx: BenchContext): Promise<void> {
  const { report } = ctx;
  const count = process.env.BENCH_SCAN_KEYS ? Number.parseInt(process.env.BENCH_SCAN_KEYS, 10) : 1_000_000;
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`BENCH_SCAN_KEYS must be a whole number, got "${process.env.BENCH_SCAN_KEYS}"`);
  report.heading(`Scan: ${fmt(count)} keys of ${VALUE.length} B on 3 nodes (N=3 W=2 R=2), scanned whole through one node`);
  const cluster = await startCluster(ctx, 'scan');
  try {
    const clients = await Promise.all(cluster.nodes.map((n) => connectClient(n.addr)));
    const loadStarted = Date.now();
    const load = await runClosedLoop(count, LOAD_IN_FLIGHT * clients.length, async (i, worker) => {
      // A put that times out on a busy machine is sent again (the same value: an overwrite changes nothing).
      for (let attempt = 1; ; attempt++) {
        try {
          await (clients[worker % clients.length] as KvClient).put(keyOf(i), VALUE);
          return;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (attempt >= 5 || (code !== 'KV_QUORUM_NOT_MET' && code !== 'KV_TIMEOUT')) throw err;
        }
      }
    });
    await Promise.all(clients.map((c) => c.close()));
    report.note(`loaded in ${fmt((Date.now() - loadStarted) / 1000, 1)} s (${fmt(load.opsPerSec)} puts/s)`);
    const rssAfterLoad = cluster.nodes.map((n) => rssBytes(n.pid));

    const phases = [await timedScan(cluster, 'keys', false), await timedScan(cluster, 'keys and values', true)];
    for (const p of phases) {
      if (p.keys !== count) throw new Error(`the ${p.phase} scan read ${p.keys} keys, not ${count}`);
    }

    // A client that takes one line and then nothing: the nodes stop, their memory stays where it was.
    const pagesBefore = await scanPages(cluster);
    const stalled = await KvClient.connect((cluster.nodes[0] as { addr: string }).addr, { timeoutMs: 60_000 });
    const samplers = cluster.nodes.map((n) => sampleRss(n.pid, 50));
    let lines = 0;
    let flow: { pause(): void; resume(): void } | undefined;
    flow = stalled.requestStream(
      { op: 'scan', values: true, pageKeys: 1000 },
      () => {
        if (++lines === 1) flow?.pause();
      },
      () => {},
      60_000,
    );
    // Socket buffers take part of the scan first: wait until no node reads a page for a second (30 s at most).
    let settled = await scanPages(cluster);
    for (let quiet = 0, waited = 0; quiet < 4 && waited < 120; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = await scanPages(cluster);
      quiet = now === settled ? quiet + 1 : 0;
      settled = now;
    }
    const pagesAtStall = settled;
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    const pagesWhileStalled = (await scanPages(cluster)) - pagesAtStall;
    const rssStalled = samplers.map((s) => s.stop());
    const held = ((await (cluster.control[0] as KvClient).stats()).server as { replyBytesUnsent: number }).replyBytesUnsent;
    stalled.destroy();

    report.table(
      ['phase', 'keys', 's', 'keys/s', ...cluster.nodes.map((_, i) => `node${i + 1} RSS`)],
      [
        ['after the load', fmt(count), '', '', ...rssAfterLoad.map(mib)],
        ...phases.map((p) => [`scan ${p.phase} (peak)`, fmt(p.keys), fmt(p.seconds, 1), fmt(p.keysPerSec), ...p.rssPeak.map(mib)]),
        [`client stalled ${STALL_MS / 1000} s (peak)`, '', '', '', ...rssStalled.map(mib)],
      ],
    );
    report.note(
      `a client that reads one line, then nothing: the nodes read ${fmt(pagesAtStall - pagesBefore)} kv.scan pages before the socket buffers filled, then ${pagesWhileStalled} in ${STALL_MS / 1000} s; the coordinator holds ${mib(held)} of replies unsent`,
    );
    const peakGrowth = Math.max(...phases.flatMap((p) => p.rssPeak.map((rss, i) => rss - (rssAfterLoad[i] ?? 0))));
    report.target('scan keys/s (keys only, 3 nodes)', phases[0]?.keysPerSec ?? 0, '≥', 10_000, ' keys/s');
    report.target('largest node RSS growth during a scan', peakGrowth / 2 ** 20, '≤', 100, ' MiB');
    report.record({ section: 'scan', keys: count, loadPutsPerSec: load.opsPerSec, rssAfterLoad, phases, rssStalled, pagesWhileStalled, heldUnsent: held });
  } finally {
    await stopCluster(ctx, cluster);
  }
}
