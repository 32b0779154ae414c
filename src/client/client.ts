/**
 * The NDJSON client that commands, tests and benchmarks use: a LineConnection (net/) with the
 * client ops as typed methods.
 */
import type { Consistency, Limits } from '../config.js';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { LineConnection } from '../net/line-connection.js';
import type { Encoding } from '../protocol/client.js';
import { encodeCursor } from '../protocol/scan.js';

export interface GetResult {
  found: boolean;
  /** Raw bytes of each concurrent value (one unless there are siblings). */
  values: Buffer[];
  context: string | undefined;
  /** Nodes that answered; with fallbacks among them (sloppy), the value may be stale. */
  replicas: string[];
  maybeStale: boolean;
  /** Each value's deadline in ms since the epoch (null: none), when any value has one. */
  expiresAt?: (number | null)[];
}

export interface WriteOptions {
  context?: string;
  w?: number;
  consistency?: Consistency;
  /** put without a context: keep what is there as siblings instead of superseding it. */
  keepSiblings?: boolean;
  /** put: the value expires this many ms after the daemon takes it. */
  ttlMs?: number;
}

export interface ScanOptions {
  prefix?: Buffer | string;
  /** First key of the range (included). */
  start?: Buffer | string;
  /** End of the range (excluded). */
  end?: Buffer | string;
  /** Resume after the key this cursor names (from an earlier scan). */
  cursor?: string;
  /** Keys to return at most. */
  limit?: number;
  values?: boolean;
  /** Every version of each key's record, as export lines (implies values). */
  versions?: boolean;
  /** Keys per reply line (1..MAX_SCAN_PAGE_KEYS). */
  pageKeys?: number;
  r?: number;
  consistency?: Consistency;
}

export interface ScanItem {
  key: Buffer;
  /** Raw bytes of each live value (one unless there are siblings), when values were asked for. */
  values: Buffer[] | undefined;
  context: string;
  /** Concurrent values the key holds (1 unless there are siblings). */
  siblings: number;
  /** Fewer than R replicas answered (sloppy mode): the key may be stale, and keys may be missing. */
  maybeStale: boolean;
  /** Each value's deadline in ms since the epoch (null: none), when any value has one. */
  expiresAt?: (number | null)[];
  /** With `versions`: the key's whole record as an export line (protocol/export-format.ts), as the daemon sent it. */
  exported?: Record<string, unknown>;
}

/** Items buffered from a scan before the connection stops being read (the daemon then stops producing), and where it resumes. */
const SCAN_BUFFER_HIGH = 4096;
const SCAN_BUFFER_LOW = 1024;

/**
 * A scan's keys as an async iterator, in key order. Items are read from the connection only as
 * fast as they are consumed (beyond SCAN_BUFFER_HIGH buffered, the connection is paused, so the
 * daemon, and every node behind it, stops). `cursor` says where to resume: after the last item
 * taken, or what the daemon said once the scan stopped at its limit; undefined once the range is
 * done. A failure is thrown from the iterator with the cursor in its details.
 */
export class ScanStream implements AsyncIterableIterator<ScanItem> {
  private items: ScanItem[] = [];
  private head = 0;
  private ended = false;
  private failure: KvError | undefined;
  private waiter: (() => void) | undefined;
  private paused = false;
  private abandoned = false;
  /** The daemon's latest cursor, and whether it came with the items now buffered. */
  private serverCursor: string | undefined;
  private lastTaken: Buffer | undefined;
  private readonly flow: { pause(): void; resume(): void };
  private readonly startCursor: string | undefined;
  /** The cursor when the consumer stopped early (null: it did not). */
  private frozenCursor: string | undefined | null = null;

  constructor(connection: LineConnection, body: Record<string, unknown>) {
    this.startCursor = typeof body.cursor === 'string' ? body.cursor : undefined;
    this.serverCursor = this.startCursor;
    this.flow = connection.requestStream(
      body,
      (reply) => this.onLine(reply),
      (err) => {
        const at = err.details?.cursor;
        if (typeof at === 'string') this.serverCursor = at;
        this.failure = err;
        this.ended = true;
        this.wake();
      },
    );
  }

  /** Where a scan resumes to continue this one (undefined: the range is done). */
  get cursor(): string | undefined {
    if (this.frozenCursor !== null) return this.frozenCursor;
    // Everything the daemon sent was taken: its cursor also skips the deleted keys it passed.
    if (this.head === this.items.length) return this.serverCursor;
    return this.lastTaken === undefined ? this.startCursor : encodeCursor(this.lastTaken);
  }

  /** True once the daemon said the range (or the limit) is done. */
  get done(): boolean {
    return this.ended && this.failure === undefined;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ScanItem> {
    return this;
  }

  async next(): Promise<IteratorResult<ScanItem>> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head] as ScanItem;
        this.items[this.head++] = undefined as unknown as ScanItem;
        if (this.head === this.items.length) {
          this.items = [];
          this.head = 0;
        }
        this.lastTaken = item.key;
        if (this.paused && this.items.length - this.head <= SCAN_BUFFER_LOW) {
          this.paused = false;
          this.flow.resume();
        }
        return { value: item, done: false };
      }
      if (this.failure) throw this.failure;
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  /**
   * Stops consuming: the rest of the stream is read and dropped, so the connection stays usable
   * (to stop the daemon's work at once, close the connection; `limit` bounds a scan up front).
   */
  async return(): Promise<IteratorResult<ScanItem>> {
    if (!this.abandoned) this.frozenCursor = this.cursor;
    this.abandoned = true;
    this.items = [];
    this.head = 0;
    if (this.paused) {
      this.paused = false;
      this.flow.resume();
    }
    return { value: undefined, done: true };
  }

  private onLine(reply: Record<string, unknown>): void {
    if (reply.done === true) this.ended = true;
    this.serverCursor = typeof reply.cursor === 'string' ? reply.cursor : reply.done === true ? undefined : this.serverCursor;
    if (!this.abandoned) {
      for (const raw of Array.isArray(reply.items) ? reply.items : []) this.items.push(scanItemOf(raw));
      if (!this.paused && this.items.length - this.head >= SCAN_BUFFER_HIGH) {
        this.paused = true;
        this.flow.pause();
      }
    }
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

function scanItemOf(raw: unknown): ScanItem {
  if (!isJsonObject(raw) || typeof raw.key !== 'string') throw new KvError('KV_INTERNAL', 'a scan reply holds an item without a key');
  const encoding = raw.encoding === 'base64' ? 'base64' : 'utf8';
  return {
    key: Buffer.from(raw.key, encoding),
    values: Array.isArray(raw.values) ? raw.values.map((v) => Buffer.from(String(v), encoding)) : undefined,
    context: String(raw.context),
    siblings: typeof raw.siblings === 'number' ? raw.siblings : 1,
    maybeStale: raw.maybeStale === true,
    ...(Array.isArray(raw.expiresAt) ? { expiresAt: raw.expiresAt.map((ms) => (typeof ms === 'number' ? ms : null)) } : {}),
    ...(raw.v !== undefined ? { exported: raw } : {}),
  };
}

export class KvClient extends LineConnection {
  /**
   * Lists keys (and values, when asked) in key order across the cluster, as an async iterator of
   * items; see ScanStream. Keys and bounds given as Buffers travel in base64.
   */
  scan(options: ScanOptions = {}): ScanStream {
    const bounds = [options.prefix, options.start, options.end];
    const binary = bounds.some((b) => Buffer.isBuffer(b));
    const bound = (b: Buffer | string | undefined) => (b === undefined ? undefined : binary ? Buffer.from(b).toString('base64') : String(b));
    const body: Record<string, unknown> = { op: 'scan' };
    const fields: [string, unknown][] = [
      ['prefix', bound(options.prefix)],
      ['start', bound(options.start)],
      ['end', bound(options.end)],
      ['cursor', options.cursor],
      ['limit', options.limit],
      ['values', options.values ? true : undefined],
      ['versions', options.versions ? true : undefined],
      ['pageKeys', options.pageKeys],
      ['r', options.r],
      ['consistency', options.consistency],
      ['encoding', binary ? 'base64' : undefined],
    ];
    for (const [name, value] of fields) if (value !== undefined) body[name] = value;
    return new ScanStream(this, body);
  }

  /** Asks the daemon its name, and remembers the limits it reports (see `daemonLimits`). */
  async ping(): Promise<string> {
    const reply = await this.request({ op: 'ping' });
    this.limits = limitsOf(reply.limits) ?? this.limits;
    return String(reply.node);
  }

  async stats(): Promise<Record<string, unknown>> {
    const { id: _id, ok: _ok, ...rest } = await this.request({ op: 'stats' });
    return rest;
  }

  async put(
    key: Buffer | string,
    value: Buffer | string,
    options: WriteOptions = {},
  ): Promise<{ context: string; siblings: number; hinted: string[]; hintsDropped: string[]; expiresAt?: number }> {
    const reply = await this.requestText(`"op":"put",${bytesFields(key, value)}${writeFieldsText(options)}`);
    return {
      context: String(reply.context),
      siblings: Number(reply.siblings ?? 1),
      hinted: (reply.hinted as string[] | undefined) ?? [],
      hintsDropped: (reply.hintsDropped as string[] | undefined) ?? [],
      ...(typeof reply.expiresAt === 'number' ? { expiresAt: reply.expiresAt } : {}),
    };
  }

  async get(key: Buffer | string, options: { r?: number; consistency?: Consistency } = {}): Promise<GetResult> {
    const reply = await this.requestText(`"op":"get",${bytesFields(key)}${writeFieldsText({ r: options.r, consistency: options.consistency })}`);
    const encoding = (reply.encoding as Encoding | undefined) ?? 'utf8';
    const values = reply.found ? (reply.values as string[]).map((v) => Buffer.from(v, encoding)) : [];
    return {
      found: reply.found === true,
      values,
      context: typeof reply.context === 'string' ? reply.context : undefined,
      replicas: (reply.replicas as string[] | undefined) ?? [],
      maybeStale: reply.maybeStale === true,
      ...(Array.isArray(reply.expiresAt) ? { expiresAt: reply.expiresAt as (number | null)[] } : {}),
    };
  }

  async delete(key: Buffer | string, options: WriteOptions = {}): Promise<{ existed: boolean; context: string }> {
    const reply = await this.requestText(`"op":"delete",${bytesFields(key)}${writeFieldsText(options)}`);
    return { existed: reply.existed === true, context: String(reply.context) };
  }
}

const LIMIT_NAMES: readonly (keyof Limits)[] = ['maxLineBytes', 'maxKeyBytes', 'maxValueBytes', 'maxConnections', 'maxInFlightPerConnection', 'maxSiblings'];

/** The limits in a ping reply, when every one is there as a whole number (a daemon that does not say them gives undefined). */
function limitsOf(raw: unknown): Limits | undefined {
  if (!isJsonObject(raw)) return undefined;
  const fields = raw;
  const limits: Partial<Limits> = {};
  for (const name of LIMIT_NAMES) {
    const value = fields[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined;
    limits[name] = value;
  }
  return limits as Limits;
}

/**
 * The key (and value) fields as JSON text. Strings travel as UTF-8 (escaped by JSON.stringify); any
 * Buffer makes the whole request base64, which is binary-safe and needs no escaping.
 */
function bytesFields(key: Buffer | string, value?: Buffer | string): string {
  if (typeof key === 'string' && (value === undefined || typeof value === 'string')) {
    return value === undefined ? `"key":${JSON.stringify(key)}` : `"key":${JSON.stringify(key)},"value":${JSON.stringify(value)}`;
  }
  const b64 = (x: Buffer | string) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x).toString('base64');
  return value === undefined ? `"key":"${b64(key)}","encoding":"base64"` : `"key":"${b64(key)}","value":"${b64(value)}","encoding":"base64"`;
}

/** Optional request fields as JSON text, each with its leading comma. */
function writeFieldsText(options: { context?: string; w?: number; r?: number; consistency?: Consistency; keepSiblings?: boolean; ttlMs?: number }): string {
  let out = '';
  if (options.keepSiblings) out += ',"keepSiblings":true';
  if (options.ttlMs !== undefined) out += `,"ttlMs":${JSON.stringify(options.ttlMs)}`;
  if (options.context !== undefined) out += `,"context":${JSON.stringify(options.context)}`;
  if (options.w !== undefined) out += `,"w":${JSON.stringify(options.w)}`;
  if (options.r !== undefined) out += `,"r":${JSON.stringify(options.r)}`;
  if (options.consistency !== undefined) out += `,"consistency":${JSON.stringify(options.consistency)}`;
  return out;
}
