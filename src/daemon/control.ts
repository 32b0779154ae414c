/**
 * Starting and stopping daemons from the CLI. `startDaemon` spawns a detached daemon with an IPC
 * channel, waits for it to report ready (or a coded failure such as a busy port or a locked data
 * dir), then lets it go. `stopDaemon` sends SIGTERM and waits for the process to exit.
 *
 * The pid file is informational: the real exclusion is LevelDB's lock on the data dir, so a pid
 * file left by a crash never blocks the next start.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from '../config.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { type DaemonMessage, daemonPaths, type PidFileContents } from './paths.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** daemon.out beyond this at a start is moved to daemon.out.1 (replacing the one before). */
export const OUT_FILE_MAX_BYTES = 1024 * 1024;

/** Moves `file` to `file.1` when it holds more than `maxBytes`; a file that cannot be checked is left to the append to report. */
export function keepSmall(file: string, maxBytes: number): void {
  try {
    if (statSync(file).size > maxBytes) renameSync(file, `${file}.1`);
  } catch {
    // Not there yet, or not ours to move: appending says what is wrong, if anything.
  }
}

export interface StartedDaemon {
  cluster: ClusterIdentity;
  pid: number;
  addr: string;
  host: string;
  port: number;
  name: string;
  dataDir: string;
  logFile: string;
  /** host:port of the Prometheus endpoint, when the daemon serves one. */
  metricsAddr?: string;
}

export function defaultNodeName(port: number): string {
  return `${hostname()}-${port}`;
}

/** Spawns a daemon and resolves once it answers; rejects with the daemon's own error code. */
export function startDaemon(config: NodeConfig & { nameGiven: boolean }, timeoutMs = 30_000): Promise<StartedDaemon> {
  mkdirSync(config.dataDir, { recursive: true });
  const { logFile, outFile } = daemonPaths(config.dataDir);
  // Anything the daemon prints (a crash's stack trace) lands in a file, not on a closed terminal. Not
  // in the log: its lines are JSON, and the log is rotated under the daemon, whose stdout would go on
  // writing to the renamed, and at last deleted, file. Little is printed, so a size check per start bounds it.
  keepSmall(outFile, OUT_FILE_MAX_BYTES);
  const out = openSync(outFile, 'a');
  const child = spawn(process.execPath, [MAIN], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: { ...process.env, KVCTL_DAEMON_CONFIG: JSON.stringify(config) },
  });
  closeSync(out);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new KvError('KV_START_FAILED', `daemon did not become ready within ${timeoutMs} ms; see ${logFile}`, { logFile }));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      child.removeAllListeners();
      if (child.connected) child.disconnect();
      child.unref();
    };
    child.on('message', (message: DaemonMessage) => {
      finish();
      if (message.type === 'ready') {
        const { pid, host, port, name, dataDir, cluster, metricsPort } = message;
        const metrics = metricsPort === undefined || !config.metrics ? {} : { metricsAddr: `${config.metrics.host}:${metricsPort}` };
        resolve({ pid, host, port, name, dataDir, logFile: message.logFile, addr: `${host}:${port}`, cluster, ...metrics });
      } else {
        reject(withHolder(KvError.fromWire(message.error), config.dataDir));
      }
    });
    child.on('exit', (code, signal) => {
      finish();
      reject(
        new KvError('KV_START_FAILED', `daemon exited before it was ready (${signal ?? `code ${code}`}); see ${logFile} and ${outFile}`, { logFile, outFile }),
      );
    });
  });
}

/** Adds who holds a locked data dir, from its pid file, to the error. */
function withHolder(err: KvError, dataDir: string): KvError {
  if (err.code !== 'KV_DATA_DIR_LOCKED') return err;
  const holder = readPidFile(dataDir);
  if (!holder) return err;
  return new KvError(err.code, `${err.message} (pid ${holder.pid}, listening on ${holder.host}:${holder.port})`, { ...err.details, ...holder });
}

export function readPidFile(dataDir: string): PidFileContents | undefined {
  try {
    return JSON.parse(readFileSync(daemonPaths(dataDir).pidFile, 'utf8')) as PidFileContents;
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (an exited daemon not yet reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Removes a pid file whose process is gone (left by a crash); returns true if it did. */
export function clearStalePidFile(dataDir: string): boolean {
  const holder = readPidFile(dataDir);
  if (!holder || isAlive(holder.pid)) return false;
  rmSync(daemonPaths(dataDir).pidFile, { force: true });
  return true;
}

/** Sends SIGTERM and waits until the process has exited (it flushes and closes LevelDB first). */
export async function stopProcess(pid: number, timeoutMs = 30_000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new KvError('KV_INTERNAL', `daemon pid ${pid} did not exit within ${timeoutMs} ms`, { pid });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
