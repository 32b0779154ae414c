/**
 * Start-up cost of the CLI as a whole process: wall time of `node bin/kvctl get KEY` against a
 * running daemon, next to `node -e 0` (the floor any Node CLI pays). Runs alternate between the
 * two so drift affects both alike; one unmeasured run of each warms the file cache first.
 */
import { spawnSync } from 'node:child_process';
import { KVCTL_BIN } from './resources.js';

export interface StartupFigures {
  runs: number;
  kvctlGetMs: number;
  nodeEmptyMs: number;
  kvctlSamplesMs: number[];
  nodeSamplesMs: number[];
}

function timedRun(args: string[], expectStdout?: Buffer): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status ?? result.signal}: ${String(result.stderr).trim()}`);
  if (expectStdout && !result.stdout.equals(expectStdout)) throw new Error(`${args.join(' ')} printed something other than the value`);
  return ms;
}

export function measureStartup(addr: string, key: string, value: Buffer, runs: number): StartupFigures {
  const kvctlArgs = [KVCTL_BIN, 'get', key, '--addr', addr];
  const nodeArgs = ['-e', '0'];
  timedRun(kvctlArgs, value);
  timedRun(nodeArgs);
  const kvctlSamplesMs: number[] = [];
  const nodeSamplesMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    nodeSamplesMs.push(timedRun(nodeArgs));
    kvctlSamplesMs.push(timedRun(kvctlArgs, value));
  }
  return { runs, kvctlGetMs: median(kvctlSamplesMs), nodeEmptyMs: median(nodeSamplesMs), kvctlSamplesMs, nodeSamplesMs };
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
