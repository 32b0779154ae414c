/**
 * Everything a bench run creates outside its own process: temp dirs, kvctl daemons and other
 * servers it measures next to them (redis-server, etcd). Each is
 * registered when created, so `release()` (called in a finally, and on SIGINT/SIGTERM) stops every
 * daemon by pid (SIGTERM, then SIGKILL after a deadline) and removes every temp dir, even after a
 * failure half-way through.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { daemonPaths, type PidFileContents } from '../src/daemon/paths.js';

const execFileAsync = promisify(execFile);

/** The CLI entry, from dist/bench/ up to the package root. */
export const KVCTL_BIN = fileURLToPath(new URL('../../bin/kvctl', import.meta.url));

export interface BenchDaemon {
  pid: number;
  addr: string;
  dataDir: string;
  /** The node name (node1..K for a cluster started with --nodes K). */
  name?: string;
}

interface StartedJson {
  pid: number;
  addr: string;
  name?: string;
  dataDir?: string;
}

export class Resources {
  private readonly dirs = new Set<string>();
  private readonly daemons = new Map<number, BenchDaemon>();

  /** A fresh temp dir, removed by `release()`. */
  tempDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `kvctl-bench-${label}-`));
    this.dirs.add(dir);
    return dir;
  }

  /**
   * Starts a detached daemon with `kvctl start --port 0 --json` (127.0.0.1, any free port).
   * `env` is added to the environment of the start command, which the daemon inherits
   * (e.g. NODE_OPTIONS=--cpu-prof for profiling).
   */
  async startDaemon(dataDir: string, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<BenchDaemon> {
    const [daemon] = await this.start(dataDir, flags, env);
    return daemon as BenchDaemon;
  }

  /**
   * Starts a local cluster with `kvctl start --nodes K` (127.0.0.1, free ports, data dirs
   * `dataDir/node1..K`); every daemon is registered, also those started before a failure.
   */
  async startCluster(dataDir: string, nodes: number, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<BenchDaemon[]> {
    return this.start(dataDir, ['--nodes', String(nodes), ...flags], env);
  }

  private async start(dataDir: string, flags: string[], env: NodeJS.ProcessEnv): Promise<BenchDaemon[]> {
    const { stdout } = await execFileAsync(
      process.execPath,
      [KVCTL_BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--json', ...flags],
      { env: { ...process.env, ...env }, timeout: 60_000 },
    ).catch((err: unknown) => {
      // A cluster start that failed part-way has daemons running: register them before rethrowing.
      this.registerPidFiles(dataDir);
      throw err;
    });
    // One daemon prints itself; --nodes prints {"nodes": [...]}.
    const parsed = JSON.parse(stdout) as StartedJson | { nodes: StartedJson[] };
    const started = 'nodes' in parsed ? parsed.nodes : [parsed];
    return started.map((d) => {
      const daemon: BenchDaemon = { pid: d.pid, addr: d.addr, dataDir: d.dataDir ?? dataDir, ...(d.name ? { name: d.name } : {}) };
      this.daemons.set(daemon.pid, daemon);
      return daemon;
    });
  }

  /**
   * Starts another server (e.g. redis-server) in the foreground as a child of this process, its
   * output appended to `logFile`, and registers it so `release()` stops it by pid like a daemon.
   * The caller waits for it to answer. Resolves once the process exists; rejects when it cannot
   * be started (e.g. not installed).
   */
  spawnServer(command: string, args: string[], dataDir: string, logFile: string): Promise<BenchDaemon> {
    const log = openSync(logFile, 'a');
    const child = spawn(command, args, { cwd: dataDir, stdio: ['ignore', log, log] });
    closeSync(log);
    return new Promise((resolvePromise, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        const server: BenchDaemon = { pid: child.pid as number, addr: '', dataDir };
        this.daemons.set(server.pid, server);
        // The run does not wait on it; Node still reaps it when it exits (stopDaemon polls for that).
        child.unref();
        resolvePromise(server);
      });
    });
  }

  /**
   * Starts a daemon again from its data dir (its saved settings), on the port it had, e.g. after a
   * kill -9; the new pid is registered in place of the old one.
   */
  async restartDaemon(daemon: BenchDaemon, env: NodeJS.ProcessEnv = {}): Promise<BenchDaemon> {
    this.daemons.delete(daemon.pid);
    const port = daemon.addr.slice(daemon.addr.lastIndexOf(':') + 1);
    const { stdout } = await execFileAsync(process.execPath, [KVCTL_BIN, 'start', '--data-dir', daemon.dataDir, '--port', port, '--json'], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    }).catch((err: unknown) => {
      this.registerPidFiles(daemon.dataDir);
      throw err;
    });
    const started = JSON.parse(stdout) as StartedJson;
    const restarted: BenchDaemon = { ...daemon, pid: started.pid, addr: started.addr };
    this.daemons.set(restarted.pid, restarted);
    return restarted;
  }

  /** Registers daemons found by their pid files under `dir` (depth 1), so `release()` stops them. */
  private registerPidFiles(dir: string): void {
    for (const sub of ['', ...safeReaddir(dir)]) {
      let pid = 0;
      try {
        pid = (JSON.parse(safeRead(daemonPaths(join(dir, sub)).pidFile)) as PidFileContents).pid;
      } catch {
        continue; // no pid file (or not yet complete): nothing started there
      }
      // Only a live kvctl daemon: a pid left by one that crashed may since belong to another process.
      const isDaemon = Number.isInteger(pid) && pid > 0 && /daemon[/\\]main\.js/.test(safeRead(`/proc/${pid}/cmdline`));
      if (isDaemon && !this.daemons.has(pid)) this.daemons.set(pid, { pid, addr: '', dataDir: join(dir, sub) });
    }
  }

  /**
   * Removes a temp dir as soon as its section is done with it: a dir left to the end keeps its
   * dirty pages, which the kernel writes back (30 s later by default) while later sections measure.
   */
  discard(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    this.dirs.delete(dir);
  }

  /** SIGTERM, then waits (polling, with a deadline) until the pid is gone; SIGKILL past the deadline. */
  async stopDaemon(daemon: BenchDaemon, timeoutMs = 20_000): Promise<void> {
    this.daemons.delete(daemon.pid);
    if (!signal(daemon.pid, 'SIGTERM')) return;
    const deadline = Date.now() + timeoutMs;
    while (isAlive(daemon.pid)) {
      if (Date.now() > deadline) {
        signal(daemon.pid, 'SIGKILL');
        throw new Error(`daemon pid ${daemon.pid} did not exit within ${timeoutMs} ms of SIGTERM; killed`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops these daemons at the same time (each: SIGTERM, wait, SIGKILL past the deadline). */
  async stopDaemons(daemons: readonly BenchDaemon[]): Promise<void> {
    const results = await Promise.allSettled(daemons.map((d) => this.stopDaemon(d)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops every daemon still registered and removes every temp dir; never throws. */
  async release(): Promise<void> {
    for (const daemon of [...this.daemons.values()]) {
      await this.stopDaemon(daemon).catch((err: Error) => process.stderr.write(`bench: ${err.message}\n`));
    }
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }

  /** Last resort for the 'exit' event, which cannot wait: SIGTERM what is left, remove the dirs. */
  releaseNow(): void {
    for (const pid of this.daemons.keys()) signal(pid, 'SIGTERM');
    this.daemons.clear();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // already gone
  }
}

/** True while the process exists and is not a zombie. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

/** Sum of the sizes of the regular files under `dir`, recursively, in bytes. */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/**
 * A loopback port free right now (the OS picks it; the listener is closed again), for servers that
 * cannot be told to pick their own port and report it, e.g. redis-server and etcd.
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePromise(port));
    });
  });
}

/** Polls `ready` every 50 ms until it holds (errors count as not yet); throws past the deadline. */
export async function pollUntil(ready: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
