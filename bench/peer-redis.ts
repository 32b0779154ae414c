/**
 * Redis as a peer in the same run: `redis-server` started on a free loopback port in a temp dir
 * (no RDB snapshots; the append-only file off, or on with `appendfsync everysec`), registered with
 * the run's Resources so it is stopped by pid, and measured with this bench's own pipelining RESP
 * client (SET/GET, many requests in flight per connection, replies in order) over the same lanes
 * and in-flight count as kvctl. `redis-benchmark` may be run alongside as a sanity check.
 */
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './bench-context.js';
import type { Store } from './bench-store.js';
import { IN_FLIGHT } from './kv-workload.js';
import { type BenchDaemon, freePort, pollUntil } from './resources.js';

const execFileAsync = promisify(execFile);

export type RespReply = string | number | Buffer | null;

interface Pending {
  resolve: (reply: RespReply) => void;
  reject: (err: Error) => void;
}

const CRLF = Buffer.from('\r\n');

/**
 * One RESP connection: commands are written as arrays of bulk strings (requests written in one
 * tick share one write, as kvctl's client does), replies are matched to requests in order.
 * Enough of RESP2 for SET/GET/PING/INFO: simple strings, errors, integers, bulk strings.
 */
export class RespClient {
  private readonly pending: Pending[] = [];
  private buffered: Buffer = Buffer.alloc(0);
  private corked = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      for (const p of this.pending.splice(0)) p.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RespClient(socket));
      });
    });
  }

  command(...args: Array<string | Buffer>): Promise<RespReply> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const arg of args) {
      const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
      parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    for (const part of parts) this.socket.write(part);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseReply(this.buffered, offset);
      if (!parsed) break;
      offset = parsed.next;
      const waiter = this.pending.shift();
      if (!waiter) continue;
      if (parsed.error) waiter.reject(new Error(`redis: ${parsed.error}`));
      else waiter.resolve(parsed.reply);
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(offset);
  }
}

/** One reply at `offset`, or undefined when it is not all there yet. Bulk strings are views of `buf`. */
export function parseReply(buf: Buffer, offset: number): { reply: RespReply; error?: string; next: number } | undefined {
  const eol = buf.indexOf(CRLF, offset);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[offset] as number);
  const line = buf.toString('latin1', offset + 1, eol);
  switch (type) {
    case '+':
      return { reply: line, next: eol + 2 };
    case '-':
      return { reply: null, error: line, next: eol + 2 };
    case ':':
      return { reply: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, next: eol + 2 };
      const end = eol + 2 + length;
      if (buf.length < end + 2) return undefined;
      return { reply: buf.subarray(eol + 2, end), next: end + 2 };
    }
    default:
      throw new Error(`redis: unexpected reply type ${JSON.stringify(type)}`);
  }
}

export interface RedisServer {
  label: string;
  server: BenchDaemon;
  port: number;
}

/** How the two Redis setups persist. */
export const REDIS_PERSISTENCE = {
  none: ['--save', '', '--appendonly', 'no'],
  aofEverysec: ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'],
} as const;

/** Starts redis-server in a temp dir on a free port and waits until it answers PING. Rejects (ENOENT) when it is not installed. */
export async function startRedis(ctx: BenchContext, label: string, persistence: readonly string[]): Promise<RedisServer> {
  const dir = ctx.resources.tempDir(`redis-${label}`);
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no', ...persistence];
  const server = await ctx.resources.spawnServer('redis-server', args, dir, join(dir, 'redis.log'));
  await pollUntil(async () => {
    const client = await RespClient.connect(port);
    try {
      return (await client.command('PING')) === 'PONG';
    } finally {
      await client.close();
    }
  }, `redis-server on port ${port}`);
  return { label, server, port };
}

export async function stopRedis(ctx: BenchContext, redis: RedisServer): Promise<void> {
  await ctx.resources.stopDaemon(redis.server);
  ctx.resources.discard(redis.server.dataDir);
}

/** `connections` RESP connections as a Store: put is SET, get is GET, read-modify-write GET then SET. */
export async function redisStore(redis: RedisServer, connections: number): Promise<Store> {
  const clients: RespClient[] = [];
  for (let c = 0; c < connections; c++) clients.push(await RespClient.connect(redis.port));
  const lane = (worker: number) => clients[worker % clients.length] as RespClient;
  const get = async (key: string, worker: number): Promise<Buffer[]> => {
    const reply = await lane(worker).command('GET', key);
    if (reply === null) return [];
    if (!Buffer.isBuffer(reply)) throw new Error(`redis GET ${key}: unexpected reply ${String(reply)}`);
    return [reply];
  };
  const set = async (key: string, value: Buffer, worker: number): Promise<void> => {
    const reply = await lane(worker).command('SET', key, value);
    if (reply !== 'OK') throw new Error(`redis SET ${key}: unexpected reply ${String(reply)}`);
  };
  return {
    lanes: `${connections}x${IN_FLIGHT / connections}`,
    put: (key, value, worker) => set(key, value.bytes, worker),
    get,
    readModifyWrite: async (key, next, worker) => {
      const read = await get(key, worker);
      await set(key, next.bytes, worker);
      return read;
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/** `redis-benchmark -q` SET/GET lines (1 KiB, 64 connections, no pipelining), or why there are none. */
export async function redisBenchmark(redis: RedisServer, requests: number): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync(
      'redis-benchmark',
      ['-h', '127.0.0.1', '-p', String(redis.port), '-t', 'set,get', '-n', String(requests), '-d', '1024', '-c', '64', '-q'],
      { timeout: 120_000 },
    );
    // -q rewrites its progress line with \r; keep each final line.
    return stdout
      .split('\n')
      .map((line) => line.slice(line.lastIndexOf('\r') + 1).trim())
      .filter((line) => line.length > 0);
  } catch (err) {
    return [`redis-benchmark did not run: ${(err as Error).message.split('\n')[0]}`];
  }
}
