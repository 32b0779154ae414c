/**
 * Export and import (`npm run bench -- --only export`): a 3-node cluster (N=3 W=2 R=2) loaded
 * with BENCH_EXPORT_KEYS keys (default 1,000,000) of 100-byte text values, exported with
 * `kvctl export > file` through one node, then imported with `kvctl import < file` into a fresh
 * 3-node cluster, both as users run them (the CLI, a file between them). Prints records/s, the
 * dump's bytes per record and each target node's RSS, and checks the target holds every key.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KvClient } from '../src/client/client.js';
import type { BenchContext } from './bench-context.js';
import { runClosedLoop } from './closed-loop.js';
import { type BenchCluster, startCluster, stopCluster } from './cluster.js';
import { connectClient } from './kv-workload.js';
import { rssBytes } from './reply-flood.js';
import { fmt, mib } from './report.js';
import { KVCTL_BIN } from './resources.js';

const VALUE = 'v'.repeat(100);
const LOAD_IN_FLIGHT = 64;

/** Runs the CLI with stdin and stdout on files; resolves with its wall time, rejects on a non-zero exit. */
function runCli(args: string[], stdinFile: string | undefined, stdoutFile: string | undefined): Promise<number> {
  const input = stdinFile === undefined ? 'ignore' : openSync(stdinFile, 'r');
  const output = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'w');
  const started = process.hrtime.bigint();
  return new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [KVCTL_BIN, ...args], { stdio: [input, output, 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (typeof input === 'number') closeSync(input);
      if (typeof output === 'number') closeSync(output);
      if (code === 0) resolve(Number(process.hrtime.bigint() - started) / 1e9);
      else reject(new Error(`kvctl ${args[0]} exited ${code}: ${stderr.trim().slice(-500)}`));
    });
  });
}

async function keysHeld(cluster: BenchCluster): Promise<number[]> {
  return Promise.all(cluster.control.map(async (c) => (await c.stats()).keys as number));
}

export async function exportSection(ctx: BenchContext): Promise<void> {
  const { report } = ctx;
  const count = process.env.BENCH_EXPORT_KEYS ? Number.parseInt(process.env.BENCH_EXPORT_KEYS, 10) : 1_000_000;
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`BENCH_EXPORT_KEYS must be a whole number, got "${process.env.BENCH_EXPORT_KEYS}"`);
  report.heading(`Export and import: ${fmt(count)} keys of ${VALUE.length} B, 3 nodes to a file to 3 fresh nodes, through the CLI`);
  const source = await startCluster(ctx, 'export-source');
  let target: BenchCluster | undefined;
  try {
    const clients = await Promise.all(source.nodes.map((n) => connectClient(n.addr)));
    const load = await runClosedLoop(count, LOAD_IN_FLIGHT * clients.length, async (i, worker) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await (clients[worker % clients.length] as KvClient).put(`export:${String(i).padStart(8, '0')}`, VALUE);
          return;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (attempt >= 5 || (code !== 'KV_QUORUM_NOT_MET' && code !== 'KV_TIMEOUT')) throw err;
        }
      }
    });
    await Promise.all(clients.map((c) => c.close()));
    report.note(`loaded at ${fmt(load.opsPerSec)} puts/s`);

    const dump = join(ctx.resources.tempDir('export-dump'), 'dump.ndjson');
    const exportSeconds = await runCli(['export', '--addr', (source.nodes[0] as { addr: string }).addr], undefined, dump);
    const dumpBytes = statSync(dump).size;
    await stopCluster(ctx, source);

    target = await startCluster(ctx, 'export-target');
    const importSeconds = await runCli(['import', '--addr', (target.nodes[0] as { addr: string }).addr], dump, undefined);
    const held = await keysHeld(target);
    if (held.some((k) => k !== count)) throw new Error(`after the import the nodes hold ${held.join(' / ')} keys, not ${count} each`);
    const rss = target.nodes.map((n) => rssBytes(n.pid));
    report.table(
      ['step', 'records', 's', 'records/s', 'dump bytes/record'],
      [
        ['kvctl export > file (3 nodes)', fmt(count), fmt(exportSeconds, 1), fmt(count / exportSeconds), fmt(dumpBytes / count)],
        ['kvctl import < file (3 fresh nodes, W=2)', fmt(count), fmt(importSeconds, 1), fmt(count / importSeconds), ''],
      ],
    );
    report.note(`after the import every node holds ${fmt(count)} keys; RSS ${rss.map(mib).join(' / ')}`);
    report.record({
      section: 'export',
      keys: count,
      loadPutsPerSec: load.opsPerSec,
      exportSeconds,
      importSeconds,
      dumpBytes,
      targetRss: rss,
    });
  } finally {
    if (target) await stopCluster(ctx, target);
    else await stopCluster(ctx, source).catch(() => {});
  }
}
