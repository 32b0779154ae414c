/**
 * The NDJSON client that commands, tests and benchmarks use: one TCP connection, many requests in
 * flight (ids match replies that may come out of order), a timeout per request, and wire errors
 * turned back into KvErrors with their stable codes. Requests written in one tick share one write.
 * Once `ping` has told it the daemon's limits, a request line over the daemon's line limit is
 * refused here (KV_LINE_TOO_LONG) without being sent: the daemon would close the connection.
 */
import { connect, type Socket } from 'node:net';
import { type Consistency, type Limits, parseAddr } from '../config.js';
import { withResolvers } from '../env/with-resolvers.js';
import { KvError, type WireError } from '../errors.js';
import { LineFramer } from '../net/line-framer.js';
import { PreparedBody, type RequestBody } from '../net/prepared-body.js';
import type { Encoding } from '../net/protocol.js';

/** Replies can hold many siblings of the largest value; the client trusts its daemon up to this. */
const MAX_REPLY_LINE_BYTES = 256 * 1024 * 1024;

export interface ClientOptions {
  /** Per-request deadline in ms; also bounds the connect. */
  timeoutMs?: number;
}

interface Pending {
  resolve: (reply: Record<string, unknown>) => void;
  reject: (err: KvError) => void;
  /** When the request times out (ms, Date.now clock) and after how long, for the error. */
  deadline: number;
  timeoutMs: number;
}

export interface GetResult {
  found: boolean;
  /** Raw bytes of each concurrent value (one unless there are siblings). */
  values: Buffer[];
  context: string | undefined;
  /** Nodes that answered; with fallbacks among them (sloppy), the value may be stale. */
  replicas: string[];
  maybeStale: boolean;
}

export interface WriteOptions {
  context?: string;
  w?: number;
  consistency?: Consistency;
  /** put without a context: keep what is there as siblings instead of superseding it. */
  keepSiblings?: boolean;
}

export class KvClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outbox: string[] = [];
  private flushScheduled = false;
  private closedError: KvError | undefined;
  /**
   * One timer per connection, armed for the earliest deadline, instead of one per request: under
   * load a request's timer was created and cleared thousands of times a second for nothing.
   */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = Number.POSITIVE_INFINITY;
  private limits: Limits | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly addr: string,
    private readonly timeoutMs: number,
  ) {
    const framer = new LineFramer(
      MAX_REPLY_LINE_BYTES,
      (line) => this.onReply(line),
      () => this.fail(new KvError('KV_INTERNAL', 'reply line from daemon exceeds the client limit')),
    );
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('error', (err) => this.fail(new KvError('KV_UNREACHABLE', `connection to ${addr} failed: ${err.message}`, { addr })));
    socket.on('close', () => this.fail(new KvError('KV_UNREACHABLE', `connection to ${addr} closed`, { addr })));
  }

  /** Connects; unreachable daemons fail with KV_UNREACHABLE (refused, or no answer in time). */
  static connect(addr: string, options: ClientOptions = {}): Promise<KvClient> {
    const { host, port } = parseAddr(addr);
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KvError('KV_UNREACHABLE', `no daemon answered at ${addr} within ${timeoutMs} ms`, { addr }));
      }, timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new KvError('KV_UNREACHABLE', `no daemon at ${addr} (${err.code ?? err.message})`, { addr, cause: err.code }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new KvClient(socket, addr, timeoutMs));
      });
    });
  }

  /** The daemon's limits, known once `ping` answered (undefined before, or from a daemon that does not say). */
  get daemonLimits(): Limits | undefined {
    return this.limits;
  }

  /** Requests sent (or queued to send) and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Why the connection ended (closed, reset, refused by the daemon), or undefined while it is open. */
  get closeReason(): KvError | undefined {
    return this.closedError;
  }

  /** Sends any request object (an id is added); resolves the reply or rejects its error. */
  request(body: RequestBody, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    return this.requestFields(body instanceof PreparedBody ? body.fields : JSON.stringify(body).slice(1, -1), timeoutMs);
  }

  /**
   * Sends a request given as the JSON text of its fields (`"op":"get","key":"k"`); the id goes first.
   * put/get/delete build that text directly: base64 needs no escaping, and skipping JSON.stringify of
   * a body object saved a copy of every value (the client's CPU is on the critical path of a pipeline).
   */
  private requestFields(fields: string, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const line = fields === '' ? `{"id":${id}}` : `{"id":${id},${fields}}`;
    const maxLineBytes = this.limits?.maxLineBytes;
    const lineBytes = maxLineBytes === undefined ? undefined : lineBytesOverLimit(line, maxLineBytes);
    if (lineBytes !== undefined) {
      return Promise.reject(
        new KvError(
          'KV_LINE_TOO_LONG',
          `request is ${lineBytes} bytes on the wire; the daemon at ${this.addr} takes lines of at most ${maxLineBytes} (its --max-line-bytes); not sent`,
          {
            bytes: lineBytes,
            limit: maxLineBytes,
          },
        ),
      );
    }
    const { promise, resolve, reject } = withResolvers<Record<string, unknown>>();
    const deadline = Date.now() + timeoutMs;
    this.pending.set(id, { resolve, reject, deadline, timeoutMs });
    if (deadline < this.deadlineTimerAt) this.armDeadlineTimer(deadline);
    this.outbox.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushSoon);
    }
    return promise;
  }

  private readonly flushSoon = () => this.flush();

  private armDeadlineTimer(at: number): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    // Unref'd: an open socket with requests in flight keeps the process alive, a spent timer must not.
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, at - Date.now())).unref();
  }

  /** Fails the requests past their deadline and re-arms for the next one. */
  private expire(): void {
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [id, waiter] of this.pending) {
      if (waiter.deadline <= now) {
        this.pending.delete(id);
        waiter.reject(new KvError('KV_TIMEOUT', `no reply from ${this.addr} within ${waiter.timeoutMs} ms`, { addr: this.addr }));
      } else if (waiter.deadline < next) next = waiter.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.armDeadlineTimer(next);
  }

  /** Writes a raw line (tests use it to send malformed input); returns nothing. */
  sendRaw(text: string | Buffer): void {
    this.socket.write(text);
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

  async put(key: Buffer | string, value: Buffer | string, options: WriteOptions = {}): Promise<{ context: string; siblings: number; hinted: string[] }> {
    const reply = await this.requestFields(`"op":"put",${bytesFields(key, value)}${writeFieldsText(options)}`);
    return { context: String(reply.context), siblings: Number(reply.siblings ?? 1), hinted: (reply.hinted as string[] | undefined) ?? [] };
  }

  async get(key: Buffer | string, options: { r?: number; consistency?: Consistency } = {}): Promise<GetResult> {
    const reply = await this.requestFields(`"op":"get",${bytesFields(key)}${writeFieldsText({ r: options.r, consistency: options.consistency })}`);
    const encoding = (reply.encoding as Encoding | undefined) ?? 'utf8';
    const values = reply.found ? (reply.values as string[]).map((v) => Buffer.from(v, encoding)) : [];
    return {
      found: reply.found === true,
      values,
      context: typeof reply.context === 'string' ? reply.context : undefined,
      replicas: (reply.replicas as string[] | undefined) ?? [],
      maybeStale: reply.maybeStale === true,
    };
  }

  async delete(key: Buffer | string, options: WriteOptions = {}): Promise<{ existed: boolean; context: string }> {
    const reply = await this.requestFields(`"op":"delete",${bytesFields(key)}${writeFieldsText(options)}`);
    return { existed: reply.existed === true, context: String(reply.context) };
  }

  close(): Promise<void> {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Number.POSITIVE_INFINITY;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  /** Drops the connection at once, failing whatever is in flight (for a caller that gives up, e.g. a watch that quits). */
  destroy(): void {
    this.fail(new KvError('KV_UNREACHABLE', `connection to ${this.addr} closed by this client`, { addr: this.addr }));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    this.socket.write(`${this.outbox.join('\n')}\n`);
    this.outbox = [];
  }

  private onReply(line: Buffer): void {
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.fail(new KvError('KV_INTERNAL', 'daemon sent a line that is not JSON'));
      return;
    }
    const id = reply.id;
    if (typeof id !== 'number') {
      // Connection-level errors (line too long, too many connections) carry no id: fail everything.
      if (reply.ok === false) this.fail(KvError.fromWire(reply.error as WireError));
      return;
    }
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (reply.ok === true) waiter.resolve(reply);
    else waiter.reject(KvError.fromWire(reply.error as WireError));
  }

  private fail(err: KvError): void {
    this.closedError ??= err;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const [id, waiter] of this.pending) {
      waiter.reject(err);
      this.pending.delete(id);
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

/**
 * The UTF-8 size of a request line when it exceeds `maxLineBytes`, else undefined. A line of at
 * most maxLineBytes/3 UTF-16 units cannot exceed it (3 bytes at most per unit), so the common
 * small request skips the byte count.
 */
export function lineBytesOverLimit(line: string, maxLineBytes: number): number | undefined {
  if (line.length * 3 <= maxLineBytes) return undefined;
  const bytes = Buffer.byteLength(line, 'utf8');
  return bytes > maxLineBytes ? bytes : undefined;
}

const LIMIT_NAMES: readonly (keyof Limits)[] = ['maxLineBytes', 'maxKeyBytes', 'maxValueBytes', 'maxConnections', 'maxInFlightPerConnection', 'maxSiblings'];

/** The limits in a ping reply, when every one is there as a whole number (a daemon that does not say them gives undefined). */
function limitsOf(raw: unknown): Limits | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const fields = raw as Record<string, unknown>;
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
function writeFieldsText(options: { context?: string; w?: number; r?: number; consistency?: Consistency; keepSiblings?: boolean }): string {
  let out = '';
  if (options.keepSiblings) out += ',"keepSiblings":true';
  if (options.context !== undefined) out += `,"context":${JSON.stringify(options.context)}`;
  if (options.w !== undefined) out += `,"w":${JSON.stringify(options.w)}`;
  if (options.r !== undefined) out += `,"r":${JSON.stringify(options.r)}`;
  if (options.consistency !== undefined) out += `,"consistency":${JSON.stringify(options.consistency)}`;
  return out;
}
