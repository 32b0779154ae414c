/**
 * Soak (`npm run bench -- --only soak`; SOAK_MINUTES=N, default 10; not part of the default run):
 * a 3-node cluster (N=3 W=2 R=2) under mixed puts and gets of 100 B – 1 MiB values (log-uniform
 * sizes, base64 text) from 64 connections, half of them slow readers that pipeline gets of large
 * values and take their replies a little at a time, while one node is killed with SIGKILL and
 * restarted every minute. Prints per minute: requests answered, errors by code, and each node's
 * RSS, JavaScript heap in use and buffers outside the heap (the largest samples of the minute). At the end every key is read back at R=2 and checked
 * against the last write acknowledged for it: a value from that write (or from a later attempt
 * that was not acknowledged) must be among the values read.
 */

import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { KvClient } from '../src/client/client.js';
import type { KvError } from '../src/errors.js';
import type { BenchContext } from './bench-context.js';
import { type BenchCluster, startCluster, stopCluster, waitUntilConverged } from './cluster.js';
import { seededRng } from './json-documents.js';
import { fmt } from './report.js';
import type { BenchDaemon } from './resources.js';

const FAST_CONNECTIONS = 32;
const SLOW_CONNECTIONS = 32;
const WORKERS_PER_CONNECTION = 4;
const KEYS_PER_WORKER = 40;
const MIN_VALUE_BYTES = 100;
const MAX_VALUE_BYTES = 1024 * 1024;
/** Gets a slow reader sends at once, then reads its replies in sips. */
const SLOW_PIPELINE = 64;
const SLOW_SIP_BYTES = 64 * 1024;
const SLOW_SIP_EVERY_MS = 50;
const KILL_EVERY_MS = 60_000;
const DOWN_FOR_MS = 5_000;
const RSS_SAMPLE_MS = 2_000;

interface KeyHistory {
  /** Sequence number of the last acknowledged write, -1 before any. */
  acked: number;
  /** Highest sequence number attempted (acknowledged or not). */
  attempted: number;
}

interface MinuteCounters {
  puts: number;
  gets: number;
  slowReplies: number;
  slowBytes: number;
  errors: Map<string, number>;
  rssMaxMb: number[];
  /** The largest JavaScript heap in use, and buffers outside it, each node reported this minute (its stats). */
  heapMaxMb: number[];
  externalMaxMb: number[];
  event: string;
}

function newMinute(nodes: number): MinuteCounters {
  return {
    puts: 0,
    gets: 0,
    slowReplies: 0,
    slowBytes: 0,
    errors: new Map(),
    rssMaxMb: new Array(nodes).fill(0),
    heapMaxMb: new Array(nodes).fill(0),
    externalMaxMb: new Array(nodes).fill(0),
    event: '',
  };
}

export async function soakSection(ctx: BenchContext): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  if (!(minutes > 0)) throw new RangeError(`SOAK_MINUTES must be a positive number, got "${process.env.SOAK_MINUTES}"`);
  const { report } = ctx;
  report.heading(
    `Soak: 3 nodes N=3 W=2 R=2, ${minutes} min, ${FAST_CONNECTIONS} connections of puts/gets (${WORKERS_PER_CONNECTION} in flight each) and ` +
      `${SLOW_CONNECTIONS} slow readers (${SLOW_PIPELINE} gets pipelined, replies read ${SLOW_SIP_BYTES / 1024} KiB every ${SLOW_SIP_EVERY_MS} ms), ` +
      `values 100 B – 1 MiB, one node killed (SIGKILL) and restarted every minute`,
  );
  const cluster = await startCluster(ctx, 'soak', { flags: ['--cache-mb', '64'] });
  const rng = seededRng(13);
  const random = Buffer.alloc(MAX_VALUE_BYTES);
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(rng() * 256);
  const text = Buffer.from(random.toString('base64'), 'utf8');
  const nodeCount = cluster.nodes.length;
  const histories = new Map<string, KeyHistory>();
  let minute = newMinute(nodeCount);
  const perMinute: MinuteCounters[] = [];
  const stopAt = Date.now() + minutes * 60_000;
  let running = true;
  const countError = (err: unknown) => {
    const code = (err as KvError).code ?? 'OTHER';
    minute.errors.set(code, (minute.errors.get(code) ?? 0) + 1);
  };

  // Connections survive a node's restart by reconnecting (fast lanes) or reopening (slow readers).
  const fast = Array.from({ length: FAST_CONNECTIONS }, (_, i) => new Reconnecting(cluster, i % nodeCount));
  const workers: Promise<void>[] = [];
  for (let w = 0; w < FAST_CONNECTIONS * WORKERS_PER_CONNECTION; w++) {
    const lane = fast[w % FAST_CONNECTIONS] as Reconnecting;
    const workerRng = seededRng(1000 + w);
    workers.push(
      (async () => {
        while (running) {
          const key = `soak:${w}:${Math.floor(workerRng() * KEYS_PER_WORKER)}`;
          const history = histories.get(key) ?? { acked: -1, attempted: -1 };
          histories.set(key, history);
          try {
            const client = await lane.client();
            if (workerRng() < 0.5 || history.acked < 0) {
              const seq = history.attempted + 1;
              history.attempted = seq;
              await client.put(key, valueFor(text, key, seq, sizeFrom(workerRng())));
              history.acked = Math.max(history.acked, seq);
              minute.puts++;
            } else {
              await client.get(key);
              minute.gets++;
            }
          } catch (err) {
            countError(err);
            lane.failed();
            await sleep(100);
          }
        }
      })(),
    );
  }
  const slow = Array.from({ length: SLOW_CONNECTIONS }, (_, i) =>
    slowReader(
      cluster,
      i % nodeCount,
      seededRng(2000 + i),
      () => running,
      histories,
      (replies, bytes) => {
        minute.slowReplies += replies;
        minute.slowBytes += bytes;
      },
    ),
  );

  const sampler = setInterval(() => {
    cluster.nodes.forEach((node, i) => {
      const sample = minute;
      sample.rssMaxMb[i] = Math.max(sample.rssMaxMb[i] ?? 0, rssMb(node.pid));
      void memoryOf(node, cluster).then((m) => {
        if (!m) return;
        sample.heapMaxMb[i] = Math.max(sample.heapMaxMb[i] ?? 0, m.heapUsedBytes / 1048576);
        sample.externalMaxMb[i] = Math.max(sample.externalMaxMb[i] ?? 0, m.externalBytes / 1048576);
      });
    });
  }, RSS_SAMPLE_MS);
  const started = Date.now();
  let victim = 0;
  while (Date.now() < stopAt) {
    const minuteEnds = Math.min(stopAt, started + (perMinute.length + 1) * KILL_EVERY_MS);
    // Kill half-way through the minute, restart DOWN_FOR_MS later, so each minute sees both.
    const killAt = minuteEnds - KILL_EVERY_MS / 2;
    if (killAt > Date.now() && minuteEnds - killAt > DOWN_FOR_MS) {
      await sleep(killAt - Date.now());
      const node = cluster.nodes[victim] as BenchDaemon;
      process.kill(node.pid, 'SIGKILL');
      const killedAt = Date.now();
      await sleep(DOWN_FOR_MS);
      cluster.nodes[victim] = await ctx.resources.restartDaemon(node, ctx.config.daemonEnv);
      minute.event = `killed ${node.name}, back in ${fmt((Date.now() - killedAt) / 1000, 1)} s`;
      victim = (victim + 1) % nodeCount;
    }
    await sleep(Math.max(0, minuteEnds - Date.now()));
    perMinute.push(minute);
    printMinute(
      report,
      perMinute.length,
      minute,
      cluster.nodes.map((node) => node.name ?? node.addr),
    );
    minute = newMinute(nodeCount);
  }
  running = false;
  clearInterval(sampler);
  await Promise.all([...workers, ...slow]);
  for (const lane of fast) lane.close();

  // Every node back and caught up (hints delivered), then every key read at R=2.
  await reconnectControl(cluster);
  await waitUntilConverged(cluster, 60_000);
  const { lost, checked } = await checkAcknowledged(cluster, histories);
  const totals = perMinute.reduce(
    (sum, m) => ({ puts: sum.puts + m.puts, gets: sum.gets + m.gets, errors: sum.errors + [...m.errors.values()].reduce((a, b) => a + b, 0) }),
    { puts: 0, gets: 0, errors: 0 },
  );
  const peakRss = Math.max(...perMinute.flatMap((m) => m.rssMaxMb));
  report.note(
    `${fmt(totals.puts)} puts and ${fmt(totals.gets)} gets acknowledged, ${fmt(totals.errors)} errors; largest RSS of any node ${fmt(peakRss)} MB; ` +
      `${fmt(checked)} keys read back at R=2: ${fmt(lost)} acknowledged writes lost`,
  );
  report.target('soak: acknowledged writes lost', lost, '≤', 0, '');
  await stopCluster(ctx, cluster);
}

function printMinute(report: BenchContext['report'], n: number, m: MinuteCounters, names: string[]): void {
  const errors = [...m.errors].map(([code, count]) => `${code} ${fmt(count)}`).join(', ') || 'none';
  const rss = m.rssMaxMb.map((mb, i) => `${names[i]} ${fmt(mb)} (heap ${fmt(m.heapMaxMb[i] ?? 0)}, buffers ${fmt(m.externalMaxMb[i] ?? 0)})`).join(', ');
  report.note(
    `minute ${n}: ${fmt(m.puts)} puts, ${fmt(m.gets)} gets; slow readers ${fmt(m.slowReplies)} replies, ${fmt(m.slowBytes / 1048576, 1)} MiB; ` +
      `errors: ${errors}; RSS MB ${rss}${m.event ? `; ${m.event}` : ''}`,
  );
}

/** Log-uniform between MIN_VALUE_BYTES and MAX_VALUE_BYTES: as many values of 100 B–1 KiB as of 100 KiB–1 MiB. */
function sizeFrom(u: number): number {
  return Math.floor(MIN_VALUE_BYTES * (MAX_VALUE_BYTES / MIN_VALUE_BYTES) ** u);
}

/** A value that says which write made it (`key#seq|`), then base64 text up to `size` bytes. */
function valueFor(text: Buffer, key: string, seq: number, size: number): Buffer {
  const header = Buffer.from(`${key}#${seq}|`, 'utf8');
  const bodyBytes = Math.max(0, Math.min(size, MAX_VALUE_BYTES) - header.length);
  const offset = (seq * 7919) % Math.max(1, text.length - bodyBytes);
  return Buffer.concat([header, text.subarray(offset, offset + bodyBytes)]);
}

function seqOf(value: Buffer, key: string): number {
  const head = value.subarray(0, Math.min(value.length, key.length + 24)).toString('utf8');
  const match = /^(.*)#(\d+)\|/.exec(head);
  return match && match[1] === key ? Number(match[2]) : -1;
}

/**
 * Reads every key written at R=2 through the nodes in turn; a key is lost when none of the values
 * read comes from its last acknowledged write or a later attempt (a later attempt that reached a
 * replica but not its quorum supersedes it legitimately).
 */
async function checkAcknowledged(cluster: BenchCluster, histories: Map<string, KeyHistory>): Promise<{ lost: number; checked: number }> {
  let lost = 0;
  let checked = 0;
  const entries = [...histories].filter(([, h]) => h.acked >= 0);
  const inFlight = 16;
  for (let i = 0; i < entries.length; i += inFlight) {
    await Promise.all(
      entries.slice(i, i + inFlight).map(async ([key, history], j) => {
        const client = cluster.control[(i + j) % cluster.control.length] as KvClient;
        const read = await client.get(key, { r: 2 });
        checked++;
        const best = Math.max(-1, ...read.values.map((v) => seqOf(v, key)));
        if (best < history.acked) {
          lost++;
          if (lost <= 10)
            process.stdout.write(`   LOST ${key}: last acknowledged #${history.acked}, read ${read.values.map((v) => seqOf(v, key)).join(',') || 'nothing'}\n`);
        }
      }),
    );
  }
  return { lost, checked };
}

/**
 * A client connection to a node, made anew after it failed; when its node cannot be reached (it
 * was killed), the next node is tried, as a client with several addresses would.
 */
class Reconnecting {
  private current: Promise<KvClient> | undefined;

  constructor(
    private readonly cluster: BenchCluster,
    private node: number,
  ) {}

  client(): Promise<KvClient> {
    this.current ??= KvClient.connect((this.cluster.nodes[this.node] as BenchDaemon).addr, { timeoutMs: 10_000, ...this.cluster.client });
    const attempt = this.current;
    attempt.catch(() => {
      if (this.current !== attempt) return;
      this.current = undefined;
      this.node = (this.node + 1) % this.cluster.nodes.length;
    });
    return attempt;
  }

  /** After a failed request: drop the connection if it ended, so the next request reconnects. */
  failed(): void {
    const attempt = this.current;
    void attempt?.then(
      (c) => {
        if (c.closeReason && this.current === attempt) this.current = undefined;
      },
      () => {},
    );
  }

  close(): void {
    void this.current?.then(
      (c) => c.close(),
      () => {},
    );
  }
}

/**
 * A client that pipelines gets of keys written so far and takes its replies in small sips, so
 * its node holds replies for it; reopens its connection when the node goes away.
 */
async function slowReader(
  cluster: BenchCluster,
  node: number,
  rng: () => number,
  running: () => boolean,
  histories: Map<string, KeyHistory>,
  count: (replies: number, bytes: number) => void,
): Promise<void> {
  while (running()) {
    const keys = [...histories.keys()];
    if (keys.length === 0) {
      await sleep(200);
      continue;
    }
    const socket = await openRaw((cluster.nodes[node] as BenchDaemon).addr).catch(() => undefined);
    if (!socket) {
      await sleep(500);
      continue;
    }
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => {});
    socket.pause();
    while (running() && !closed) {
      const lines: string[] = [];
      for (let i = 0; i < SLOW_PIPELINE; i++) lines.push(JSON.stringify({ id: i, op: 'get', key: keys[Math.floor(rng() * keys.length)] }));
      socket.write(`${lines.join('\n')}\n`);
      let replies = 0;
      while (replies < SLOW_PIPELINE && running() && !closed) {
        await sleep(SLOW_SIP_EVERY_MS);
        let sipped = 0;
        for (let chunk = socket.read() as Buffer | null; chunk; chunk = sipped < SLOW_SIP_BYTES ? (socket.read() as Buffer | null) : null) {
          sipped += chunk.length;
          for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) replies++;
        }
        count(0, sipped);
      }
      count(replies, 0);
    }
    socket.destroy();
  }
}

function openRaw(addr: string): Promise<Socket> {
  const at = addr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: addr.slice(0, at), port: Number(addr.slice(at + 1)) });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The control connections of restarted nodes are new connections to their new processes. */
async function reconnectControl(cluster: BenchCluster): Promise<void> {
  for (let i = 0; i < cluster.nodes.length; i++) {
    await cluster.control[i]?.close().catch(() => {});
    cluster.control[i] = await KvClient.connect((cluster.nodes[i] as BenchDaemon).addr, { timeoutMs: 30_000, ...cluster.client });
  }
}

/** A node's memory figures from its stats (undefined while it is down). */
async function memoryOf(node: BenchDaemon, cluster: BenchCluster): Promise<{ heapUsedBytes: number; externalBytes: number } | undefined> {
  try {
    const client = await KvClient.connect(node.addr, { timeoutMs: 2_000, ...cluster.client });
    try {
      return (await client.stats()).memory as { heapUsedBytes: number; externalBytes: number };
    } finally {
      await client.close();
    }
  } catch {
    return undefined;
  }
}

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
