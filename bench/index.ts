/**
 * kvctl benchmarks (`npm run bench`; `--quick` or BENCH_OPS=N to shrink). Prints figures, never
 * fails on them: each target is reported as "meets" or "MISSES".
 *
 *   1. one daemon, 1 KiB random values over NDJSON/TCP, 64 in flight, cache on vs --cache-mb 0
 *   2. raw classic-level in this process, same load; kvctl/raw ratios
 *   3. 1 KiB JSON values: put/get, and bytes on disk against raw LevelDB
 *   4. brotli codecs on a JSON corpus: ratio, MB/s
 *   5. CLI start-up: `node bin/kvctl get` against `node -e 0`
 *   6. 3-node cluster (N=3 W=2 R=2), section 1's load, next to the single node of section 1
 *   7. repair cost: `kvctl repair` after d of 100,000 keys changed on two of three replicas,
 *      against a full copy of the data set
 *   8. overwrites without contexts (10,000 keys, ten passes) next to inserts, one node and three
 *   9. TLS and authentication: a plain 3-node cluster and one with TLS 1.3 (mutual between nodes)
 *      and client tokens, same run, alternating phase by phase; 1 KiB base64 text; connection set-up
 *  10. what users will see (realistic-section.ts): JSON, text and random values of 100 B – 256 KiB,
 *      a cold phase, overwrites, read-modify-write, zipfian 90/10 over 1 M keys, 1 and 16
 *      connections, one node and three; next to raw classic-level, redis-server (no persistence,
 *      and appendfsync everysec) and a 3-member etcd started by the bench in the same run when
 *      installed (`apt-get install redis-server etcd-server`; skipped with that hint when not)
 *
 * `--only single` runs section 1 alone, `--only overwrite` section 8 (`npm run bench -- --only overwrite`),
 * `--only security` section 9, `--only realistic` section 10 (29 minutes on 2 cores at load average 11, mostly loading
 * 1 M keys into the 3-node cluster; far less on an idle machine; `--quick` about 3).
 * `--only metrics` runs the metrics section alone: put throughput with and without --metrics-port, interleaved (metrics-overhead.ts).
 * `--only scan` runs the scan section (scan-section.ts: BENCH_SCAN_KEYS keys, default 1 M, loaded into a 3-node cluster
 * and scanned whole; keys/s and each node's RSS), which the default run leaves out.
 * `--only export` runs export and import (export-section.ts: BENCH_EXPORT_KEYS keys, default 1 M, exported from a
 * 3-node cluster to a file and imported into a fresh one through the CLI), which the default run leaves out.
 * `--only ring` runs the ring section (ring-section.ts, in process, about a minute): ring changes from scratch and from the
 * previous ring at 100 / 1,000 / 2,000 nodes, preference-list lookups with nodes down, and the bound on the memo of arcs.
 * `--only soak` runs the soak (soak-section.ts; SOAK_MINUTES, default 10), which the default run
 * leaves out, as it leaves out section 10: a cluster under mixed load with a node killed every minute.
 *
 * `--json` writes one JSON object to stdout when the run ends: the machine, load averages, git
 * commit, settings, every target line and every phase a section recorded (section 10 records all
 * of its phases), so runs can be compared (`npm run bench -- --only realistic --json > run.json`).
 * The human text then goes to stderr.
 * The bench process is the client; daemons are separate processes started with `kvctl start
 * --port 0` on 127.0.0.1. BENCH_CPU_PROF=DIR profiles the daemons' CPU (cpu-prof-preload.ts;
 * profiles land in DIR when they stop; summarize with `node dist/bench/cpu-profile-summary.js FILE... [TOP]`,
 * which sums several files, e.g. the three daemons of a cluster).
 * Every daemon and temp dir is released at the end, on error, and on SIGINT/SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { constants, cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmBrotliCodec } from '../src/storage/wasm-codec.js';
import { InlineBrotliCodec, ZlibBrotliCodec } from '../src/storage/zlib-codec.js';
import { type BenchConfig, type BenchContext, QUALITY, VALUE_BYTES } from './bench-context.js';
import { clusterSection } from './cluster-section.js';
import { measureCodec } from './codec-bench.js';
import { exportSection } from './export-section.js';
import { jsonCorpus, jsonDocument, seededRng } from './json-documents.js';
import { type DaemonUnderTest, jsonSection, randomValuesSection, rawLevelSection, stop } from './kv-sections.js';
import { metricsOverheadSection } from './metrics-overhead.js';
import { overwriteSection } from './overwrite-section.js';
import { realisticSection } from './realistic-section.js';
import { repairSection } from './repair-section.js';
import { fmt, mib, Report } from './report.js';
import { Resources } from './resources.js';
import { ringSection } from './ring-section.js';
import { scanSection } from './scan-section.js';
import { securitySection } from './security-section.js';
import { soakSection } from './soak-section.js';
import { measureStartup } from './startup-bench.js';
import { treesSection } from './trees-section.js';

const PROFILER_PRELOAD = fileURLToPath(new URL('./cpu-prof-preload.js', import.meta.url));

function configFrom(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const quick = argv.includes('--quick');
  const keys = env.BENCH_OPS ? Math.max(100, Number.parseInt(env.BENCH_OPS, 10)) : quick ? 5_000 : 25_000;
  if (!Number.isFinite(keys)) throw new RangeError(`BENCH_OPS must be a whole number, got "${env.BENCH_OPS}"`);
  const profDir = env.BENCH_CPU_PROF;
  return {
    quick,
    keys,
    getOps: keys * 2,
    warmOps: Math.min(2_000, Math.ceil(keys / 10)),
    freshWarmOps: keys * 2,
    rounds: quick ? 1 : 5,
    startupRuns: quick ? 5 : 10,
    codecDocs: quick ? 500 : 2_000,
    repairKeys: quick ? 20_000 : 100_000,
    repairDiffs: quick ? [0, 100, 2_000] : [0, 100, 10_000],
    // Node 20 refuses --cpu-prof in NODE_OPTIONS; the preload starts the profiler in daemons only.
    daemonEnv: profDir ? { NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import=${PROFILER_PRELOAD}`.trim(), BENCH_CPU_PROF: resolve(profDir) } : {},
  };
}

/** Section 4. */
async function codecSection({ report, config }: BenchContext): Promise<void> {
  report.heading(`4. Codecs on a JSON corpus (${fmt(config.codecDocs)} documents, 200 B – 8 KiB, log-uniform sizes), brotli quality ${QUALITY}`);
  const corpus = jsonCorpus(seededRng(4), config.codecDocs, 200, 8192).map((d) => Buffer.from(d, 'utf8'));
  report.note(`corpus ${mib(corpus.reduce((s, d) => s + d.length, 0))}; MB/s counts raw JSON bytes (10^6), one document per call`);
  const codecs = [
    await measureCodec('ZlibBrotliCodec, 1 call at a time', new ZlibBrotliCodec(), corpus, QUALITY),
    await measureCodec('ZlibBrotliCodec, 4 calls in flight', new ZlibBrotliCodec(), corpus, QUALITY, 4),
    await measureCodec('WasmBrotliCodec, 1 call at a time', new WasmBrotliCodec(), corpus, QUALITY),
    await measureCodec('InlineBrotliCodec (on the event loop), 1 call at a time', new InlineBrotliCodec(), corpus, QUALITY),
  ];
  report.table(
    ['codec', 'ratio', 'compress MB/s', 'decompress MB/s'],
    codecs.map((c) => [c.label, fmt(c.ratio, 2), fmt(c.compressMBps, 1), fmt(c.decompressMBps, 1)]),
  );
}

/** Section 5, against a daemon that is still running. */
async function startupSection({ report, config }: BenchContext, d: DaemonUnderTest): Promise<void> {
  report.heading('5. CLI start-up, whole process wall time');
  const value = Buffer.from(jsonDocument(seededRng(5), 0, VALUE_BYTES), 'utf8');
  await d.client.put('bench:startup', value);
  const startup = measureStartup(d.daemon.addr, 'bench:startup', value, config.startupRuns);
  report.table(
    ['command', 'median ms', 'runs (ms)'],
    [
      ['node bin/kvctl get bench:startup', fmt(startup.kvctlGetMs, 1), startup.kvctlSamplesMs.map((ms) => fmt(ms)).join(' ')],
      ['node -e 0', fmt(startup.nodeEmptyMs, 1), startup.nodeSamplesMs.map((ms) => fmt(ms)).join(' ')],
    ],
  );
  report.target('kvctl get / node -e 0', startup.kvctlGetMs / startup.nodeEmptyMs, '≤', 3);
}

/** The sections `--only NAME` runs alone. */
const SECTIONS_RUN_ALONE: Record<string, (ctx: BenchContext) => Promise<void>> = {
  single: async (ctx) => {
    const { on } = await randomValuesSection(ctx);
    await stop(ctx, on);
  },
  overwrite: overwriteSection,
  security: securitySection,
  soak: soakSection,
  realistic: realisticSection,
  metrics: metricsOverheadSection,
  scan: scanSection,
  export: exportSection,
  ring: ringSection,
  trees: treesSection,
};

async function run(ctx: BenchContext): Promise<void> {
  const { config } = ctx;
  const cpu = cpus();
  const only = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] ?? '') : undefined;
  ctx.report.print(`kvctl bench — ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ${mib(totalmem())} RAM\n`);
  // The soak and section 10 say their own load; the phases' settings below are the other sections'.
  if (only !== 'soak' && only !== 'realistic' && only !== 'scan' && only !== 'ring')
    ctx.report.print(
      `${fmt(config.keys)} keys per put phase, ${fmt(config.getOps)} requests per get phase, ${fmt(config.warmOps)} warm-up requests before each ` +
        `(${fmt(config.freshWarmOps)} puts before the first phase of a fresh daemon, cluster or LevelDB), ` +
        `${VALUE_BYTES} B values, 64 in flight; each phase is the median of ${config.rounds} round(s)\n`,
    );
  warnIfBusy(ctx, 'before the run');
  if (only !== undefined) {
    const section = SECTIONS_RUN_ALONE[only];
    if (!section)
      throw new RangeError(
        `--only takes ${Object.keys(SECTIONS_RUN_ALONE)
          .map((s) => `"${s}"`)
          .join(' or ')}, got "${only}"`,
      );
    await section(ctx);
    warnIfBusy(ctx, 'after the run (this includes the bench itself)');
    ctx.report.summary();
    return;
  }
  const { on, off, values } = await randomValuesSection(ctx);
  await rawLevelSection(ctx, values, on, off);
  await jsonSection(ctx);
  await codecSection(ctx);
  await startupSection(ctx, on);
  await stop(ctx, on);
  await clusterSection(ctx, values, on);
  await repairSection(ctx);
  await overwriteSection(ctx);
  await securitySection(ctx);
  await metricsOverheadSection(ctx);
  warnIfBusy(ctx, 'after the run (this includes the bench itself)');
  ctx.report.summary();
}

/**
 * Figures are only comparable on an otherwise idle machine: prints the load averages, with a
 * warning when other work was running (the bench itself keeps the load near 1-2).
 */
function warnIfBusy(ctx: BenchContext, when: string): void {
  const [one = 0, five = 0] = loadavg();
  const busy = when.startsWith('before') ? one > 0.7 : one > 2.5;
  loadAverages.push({ when, oneMinute: one, fiveMinutes: five });
  ctx.report.print(
    `\nload average ${when}: ${fmt(one, 2)} (1 min), ${fmt(five, 2)} (5 min)${busy ? ' — WARNING: other work is running; figures are skewed' : ''}\n`,
  );
}

const loadAverages: Array<{ when: string; oneMinute: number; fiveMinutes: number }> = [];

/** The commit the bench ran from, with "-dirty" when the work tree had changes; undefined outside git. */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return undefined;
  }
}

/** The run as one JSON object (`--json`); `git` is the commit read when the run started. */
function runJson(ctx: BenchContext, startedAt: number, git: string | undefined): string {
  const cpu = cpus();
  const { daemonEnv: _env, ...settings } = ctx.config;
  return `${JSON.stringify({
    startedAt: new Date(startedAt).toISOString(),
    seconds: (Date.now() - startedAt) / 1000,
    args: process.argv.slice(2),
    git: git ?? null,
    machine: { cpus: cpu.length, model: cpu[0]?.model.trim() ?? null, node: process.version, platform: process.platform, ramBytes: totalmem() },
    loadAverages,
    settings,
    targets: ctx.report.targets,
    phases: ctx.report.phases,
  })}\n`;
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const ctx: BenchContext = {
    config: configFrom(process.argv.slice(2), process.env),
    report: new Report(json ? process.stderr : process.stdout),
    resources: new Resources(),
  };
  let releasing = false;
  const abandon = (why: string, status: number) => {
    if (releasing) return;
    releasing = true;
    process.stderr.write(`bench: ${why}; stopping daemons and removing temp dirs\n`);
    void ctx.resources.release().finally(() => process.exit(status));
  };
  process.once('SIGINT', () => abandon('SIGINT', 128 + constants.signals.SIGINT));
  process.once('SIGTERM', () => abandon('SIGTERM', 128 + constants.signals.SIGTERM));
  // A closed stdout (e.g. piped into `head`) would otherwise crash the run past its cleanup.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => abandon(`stdout: ${err.code ?? err.message}`, 1));
  process.on('exit', () => ctx.resources.releaseNow());
  const startedAt = Date.now();
  const git = json ? gitCommit() : undefined;
  try {
    await run(ctx);
    ctx.report.print(`\ntotal ${fmt((Date.now() - startedAt) / 1000, 1)} s\n`);
    if (json) process.stdout.write(runJson(ctx, startedAt, git));
  } finally {
    await ctx.resources.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
