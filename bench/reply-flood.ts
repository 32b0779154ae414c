/**
 * Reply flood: many clients each pipeline many gets of large values in one write, some reading
 * their replies at once and some only after a pause, while the daemon's resident memory is sampled.
 * The daemon must answer every get and keep its memory under the bound its reply and input budgets
 * give (README, "Memory and timeouts"). The e2e test runs a scaled-down flood; the full one is:
 *
 *   node dist/bench/reply-flood.js [--clients 64] [--gets 1024] [--keys 4] [--value-bytes 1048576]
 *                                  [--slow 32] [--slow-ms 2000] [-- extra kvctl start flags]
 *
 * It starts its own daemon (127.0.0.1, a free port, a temp data dir) and stops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../src/client/client.js';
import { fmt, mib } from './report.js';
import { Resources } from './resources.js';

export interface FloodOptions {
  clients: number;
  getsPerClient: number;
  /** The keys the gets cycle through (written beforehand). */
  keys: readonly string[];
  /** The first `slowReaders` clients read nothing until `slowDelayMs` after they sent their gets. */
  slowReaders?: number;
  slowDelayMs?: number;
  /** Give up (and report what is missing) after this long. */
  deadlineMs?: number;
}

export interface FloodResult {
  /** Replies with ok:true, over all clients. */
  ok: number;
  /** Error replies by code. */
  errors: Record<string, number>;
  /** Gets with no reply (the connection closed, or the deadline passed). */
  missing: number;
  ms: number;
}

/** The start of a reply line: its id and whether it succeeded (the server writes id and ok first). */
const REPLY_HEAD = /^\{"id":(\d+),"ok":(true|false)/;

/** One client: sends every get in one write, then counts replies by id without parsing the values. */
async function floodOne(host: string, port: number, gets: number, keys: readonly string[], delayMs: number, deadline: number): Promise<FloodResult> {
  const socket: Socket = connect({ host, port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {});
  const started = Date.now();
  const seen = new Set<number>();
  const errors: Record<string, number> = {};
  let ok = 0;
  // The current line: its first 64 bytes (enough for the head) and, for an error line (small), the rest.
  let head = '';
  let failed: boolean | undefined;
  let rest = '';
  const onLine = () => {
    const match = REPLY_HEAD.exec(head);
    if (match && !seen.has(Number(match[1]))) {
      seen.add(Number(match[1]));
      if (match[2] === 'true') ok++;
    }
    if (!match || failed) {
      let code = 'unparsable reply';
      try {
        code = (JSON.parse(head + rest) as { error?: { code?: string } }).error?.code ?? code;
      } catch {}
      errors[code] = (errors[code] ?? 0) + 1;
    }
    head = '';
    rest = '';
    failed = undefined;
  };
  const onData = (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      const intoHead = Math.min(end - start, 64 - head.length);
      if (intoHead > 0) head += chunk.toString('latin1', start, start + intoHead);
      if (failed === undefined) {
        const match = REPLY_HEAD.exec(head);
        if (match) failed = match[2] === 'false';
      }
      if (failed && end > start + intoHead && rest.length < 65_536) rest += chunk.toString('utf8', start + intoHead, end);
      if (nl < 0) return;
      onLine();
      start = nl + 1;
    }
  };
  const done = new Promise<void>((resolve) => {
    const check = () => {
      if (seen.size >= gets) resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      onData(chunk);
      check();
    });
    socket.on('close', () => resolve());
    setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
  });
  if (delayMs > 0) socket.pause();
  let lines = '';
  for (let i = 1; i <= gets; i++) lines += `{"id":${i},"op":"get","key":${JSON.stringify(keys[i % keys.length])}}\n`;
  socket.write(lines);
  if (delayMs > 0) setTimeout(() => socket.resume(), delayMs).unref();
  await done;
  socket.destroy();
  return { ok, errors, missing: gets - seen.size, ms: Date.now() - started };
}

/** Runs every client at once; resolves the sums. */
export async function floodGets(addr: string, o: FloodOptions): Promise<FloodResult> {
  const [host, port] = addr.split(':') as [string, string];
  const deadline = Date.now() + (o.deadlineMs ?? 600_000);
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: o.clients }, (_, i) =>
      floodOne(host, Number(port), o.getsPerClient, o.keys, i < (o.slowReaders ?? 0) ? (o.slowDelayMs ?? 0) : 0, deadline),
    ),
  );
  const errors: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  return {
    ok: results.reduce((s, r) => s + r.ok, 0),
    errors,
    missing: results.reduce((s, r) => s + r.missing, 0),
    ms: Date.now() - started,
  };
}

/** Resident memory of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; `stop` resolves the peak. */
export function sampleRss(pid: number, everyMs = 25): { stop: () => number } {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // gone: the caller sees it die on its own
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** Writes `count` random values of `valueBytes` under keys flood-0..; resolves the keys. */
export async function writeFloodKeys(addr: string, count: number, valueBytes: number): Promise<string[]> {
  const client = await KvClient.connect(addr, { timeoutMs: 60_000 });
  try {
    const keys = Array.from({ length: count }, (_, i) => `flood-${i}`);
    for (const key of keys) await client.put(key, randomBytes(valueBytes));
    return keys;
  } finally {
    await client.close();
  }
}

/** Pings on a connection of its own, one at a time, until stopped: how long another client waits during the flood. */
function watchPings(addr: string): { stop: () => Promise<{ count: number; worstMs: number }> } {
  let running = true;
  const done = (async () => {
    const client = await KvClient.connect(addr, { timeoutMs: 600_000 });
    let count = 0;
    let worstMs = 0;
    while (running) {
      const start = Date.now();
      await client.ping();
      worstMs = Math.max(worstMs, Date.now() - start);
      count++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await client.close();
    return { count, worstMs };
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const dash = process.argv.indexOf('--');
  const args = process.argv.slice(2, dash < 0 ? undefined : dash);
  const startFlags = dash < 0 ? [] : process.argv.slice(dash + 1);
  const clients = flag(args, '--clients', 64);
  const gets = flag(args, '--gets', 1024);
  const keyCount = flag(args, '--keys', 4);
  const valueBytes = flag(args, '--value-bytes', 1024 * 1024);
  const slow = flag(args, '--slow', Math.floor(clients / 2));
  const slowMs = flag(args, '--slow-ms', 2000);
  const resources = new Resources();
  try {
    const daemon = await resources.startDaemon(resources.tempDir('flood'), startFlags);
    const keys = await writeFloodKeys(daemon.addr, keyCount, valueBytes);
    const before = rssBytes(daemon.pid);
    process.stdout.write(
      `reply flood: ${clients} clients x ${fmt(gets)} gets of ${fmt(valueBytes)} B values (${keyCount} keys), ${slow} of them reading only after ${slowMs} ms\n` +
        `daemon pid ${daemon.pid}, RSS before ${mib(before)}\n`,
    );
    const rss = sampleRss(daemon.pid);
    const pings = watchPings(daemon.addr);
    const result = await floodGets(daemon.addr, { clients, getsPerClient: gets, keys, slowReaders: slow, slowDelayMs: slowMs });
    const peak = rss.stop();
    const ping = await pings.stop();
    const client = await KvClient.connect(daemon.addr);
    const server = (await client.stats()).server;
    await client.close();
    const bytes = result.ok * (Math.ceil(valueBytes / 3) * 4);
    process.stdout.write(
      `answered ${fmt(result.ok)} of ${fmt(clients * gets)} (missing ${fmt(result.missing)}, errors ${JSON.stringify(result.errors)}) in ${fmt(result.ms / 1000, 1)} s, ` +
        `${fmt(bytes / result.ms / 1000, 0)} MB/s of values\n` +
        `daemon RSS peak ${mib(peak)} (before: ${mib(before)}); pings on another connection meanwhile: ${fmt(ping.count)}, slowest ${fmt(ping.worstMs)} ms\n` +
        `server stats after: ${JSON.stringify(server)}\n`,
    );
  } finally {
    await resources.release();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`reply flood: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
