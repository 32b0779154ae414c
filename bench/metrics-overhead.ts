/**
 * Section "metrics": what --metrics-port costs put throughput. Two single-node daemons on this
 * machine in this run, one without the endpoint and one with it (scraped every second, far more
 * often than Prometheus' usual 15 s, so scrapes count too); rounds of fresh-key puts alternate
 * between them (off, on, on, off, ...) so drift in the machine's load falls on both alike. Each
 * pair of rounds gives an on/off ratio; the median pair is the figure, the spread is printed.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { KvClient } from '../src/client/client.js';
import { RequestMetrics } from '../src/metrics/request-metrics.js';
import { type BenchContext, VALUE_BYTES } from './bench-context.js';
import { type LoopResult, runClosedLoop } from './closed-loop.js';
import { randomValues, seededRng } from './json-documents.js';
import { closeLanes, type Lanes, openLanes } from './kv-workload.js';
import { fmt } from './report.js';

const IN_FLIGHT = 64;
const SCRAPE_EVERY_MS = 1000;

/** One GET /metrics; resolves with the body's length. */
function scrape(addr: string): Promise<number> {
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`scrape answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function putRound(lanes: Lanes, prefix: string, keys: number, values: Buffer[]): Promise<LoopResult> {
  return runClosedLoop(keys, IN_FLIGHT, (i, w) =>
    (lanes.clients[w % lanes.clients.length] as KvClient).put(`${prefix}:${i}`, values[i % values.length] as Buffer).then(() => {}),
  );
}

/**
 * What recording one request costs, ns: the part of the metrics every daemon pays, endpoint or not
 * (the interleaved runs above compare daemons that both record). Timed here on the daemon's clock.
 */
function recordCostNs(requests: number): number {
  const metrics = new RequestMetrics(() => performance.now());
  const started = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) metrics.record('put', 'w2', metrics.start(), 'ok');
  return Number(process.hrtime.bigint() - started) / requests;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function metricsOverheadSection(ctx: BenchContext): Promise<void> {
  const { report, config, resources } = ctx;
  report.heading('Metrics: put throughput with and without --metrics-port (same machine, same run, interleaved rounds)');
  const values = randomValues(seededRng(21), 1024, VALUE_BYTES);
  const pairs = config.quick ? 3 : 12;
  const keys = config.keys;
  const off = await resources.startDaemon(resources.tempDir('metrics-off'), [], config.daemonEnv);
  const onDir = resources.tempDir('metrics-on');
  const on = await resources.startDaemon(onDir, ['--metrics-port', '0'], config.daemonEnv);
  const onSettings = JSON.parse(readFileSync(join(onDir, 'node.json'), 'utf8')) as { settings: { 'metrics-port': number } };
  const metricsAddr = `127.0.0.1:${onSettings.settings['metrics-port']}`;
  const lanes = { off: await openLanes(off.addr, off.pid, 4), on: await openLanes(on.addr, on.pid, 4) };
  let scrapes = 0;
  let scrapeBytes = 0;
  const scraper = setInterval(() => {
    scrape(metricsAddr).then(
      (bytes) => {
        scrapes++;
        scrapeBytes = bytes;
      },
      (err) => report.note(`a scrape failed: ${(err as Error).message}`),
    );
  }, SCRAPE_EVERY_MS);
  try {
    // Warm both (JIT, heap, LevelDB's first files) before anything is measured.
    await putRound(lanes.off, 'warm', config.freshWarmOps, values);
    await putRound(lanes.on, 'warm', config.freshWarmOps, values);
    const results = { off: [] as LoopResult[], on: [] as LoopResult[] };
    const ratios: number[] = [];
    for (let p = 0; p < pairs; p++) {
      // off-on, then on-off: neither always runs first.
      const order = p % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const which of order) results[which].push(await putRound(lanes[which], `r${p}`, keys, values));
      ratios.push((results.on[p] as LoopResult).opsPerSec / (results.off[p] as LoopResult).opsPerSec);
    }
    const rows = (['off', 'on'] as const).map((which) => {
      const rates = results[which].map((r) => r.opsPerSec);
      return [
        which === 'on' ? '--metrics-port 0 (scraped every 1 s)' : 'no metrics endpoint',
        fmt(keys),
        fmt(median(rates)),
        `${fmt(Math.min(...rates) / 1000, 1)}k–${fmt(Math.max(...rates) / 1000, 1)}k`,
        fmt(median(results[which].map((r) => r.p50Us))),
        fmt(median(results[which].map((r) => r.p99Us))),
      ];
    });
    report.table(['daemon', 'puts per round', 'median ops/s', 'rounds min–max', 'p50 µs', 'p99 µs'], rows);
    const ratio = median(ratios);
    report.note(
      `${pairs} interleaved pairs of rounds, 4 connections x 16 in flight, ${VALUE_BYTES} B values; on/off ratio per pair: ${ratios.map((r) => r.toFixed(3)).join(' ')}`,
    );
    report.note(`${scrapes} scrapes during the run, ${fmt(scrapeBytes)} bytes each`);
    report.target('put throughput overhead of --metrics-port (median pair)', (1 - ratio) * 100, '≤', 3, ' %');
    recordCostNs(100_000); // warm the JIT
    const costNs = median([recordCostNs(1_000_000), recordCostNs(1_000_000), recordCostNs(1_000_000)]);
    const offRate = median(results.off.map((r) => r.opsPerSec));
    report.note(
      `recording a request (always on, both daemons): ${fmt(costNs, 0)} ns; at ${fmt(offRate)} puts/s that is ${fmt((costNs * offRate) / 1e7, 2)} % of one core`,
    );
    report.target('put throughput share spent recording request metrics', (costNs * offRate) / 1e7, '≤', 3, ' %');
  } finally {
    clearInterval(scraper);
    await closeLanes([lanes.off, lanes.on]);
    await resources.stopDaemon(off);
    await resources.stopDaemon(on);
    resources.discard(off.dataDir);
    resources.discard(on.dataDir);
  }
}
