/**
 * Integration-test helpers: run the real CLI (bin/kvctl, built into dist/) as a child process,
 * start daemons on OS-chosen free loopback ports (--port 0), and kill them by pid at teardown.
 * Waiting is by polling with a deadline, never by fixed sleeps.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KVCTL = fileURLToPath(new URL('../../bin/kvctl', import.meta.url));

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8 text. */
  out: string;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** A scratch dir removed at the end of the test. */
export function tempDir(t: { teardown: (fn: () => void) => void }, prefix = 'kvctl-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `kvctl ...args`; stdin is the given input (closed right away when none). */
export function kvctl(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runProgram(process.execPath, [KVCTL, ...args], options);
}

/** The environment the CLI runs in as users run it: without tap's TypeScript loader (NODE_OPTIONS) and the test's own KVCTL_ADDR. */
export function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.KVCTL_ADDR;
  return env;
}

/**
 * Runs a program as a user's shell would: without tap's TypeScript loader (NODE_OPTIONS) and
 * without a KVCTL_ADDR of the test's own; `options.env` adds to (or, with undefined, removes from)
 * the environment. stdin is the given input, closed right away when none.
 */
export function runProgram(file: string, args: string[], options: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...cliEnv(), ...options.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(file, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout, stderr: err, out: stdout.toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the program may exit before reading all input
    child.stdin.end(options.input ?? '');
  });
}

export interface Daemon {
  pid: number;
  addr: string;
  port: number;
  dataDir: string;
  logFile: string;
  name: string;
}

/** Starts a daemon through the CLI on a free port; kills it (SIGKILL) at teardown if still alive. */
export async function startDaemon(
  t: { teardown: (fn: () => void | Promise<void>) => void },
  options: { dataDir?: string; args?: string[]; port?: number } = {},
): Promise<Daemon> {
  const dataDir = options.dataDir ?? join(tempDir(t), 'data');
  const result = await kvctl(['start', '--port', String(options.port ?? 0), '--data-dir', dataDir, '--json', ...(options.args ?? [])]);
  if (result.code !== 0) throw new Error(`kvctl start failed (${result.code}): ${result.out} ${result.stderr}`);
  const daemon = JSON.parse(result.out) as Daemon;
  t.teardown(() => killHard(daemon.pid));
  return daemon;
}

export function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Zombie-aware: a daemon that exited but was not reaped yet counts as gone. */
export { isAlive } from '../../src/daemon/control.js';

/** Polls `condition` until it holds or the deadline passes (then throws with `what`). */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
