/**
 * One connection to a daemon, as the client and the node-to-node transport both use it: NDJSON,
 * and binary frames (net/peer-frames.ts) once a peer handshake that asked for them succeeded on
 * it (the reply to `peer.proof` is the last line; what follows is frames, both ways). Either way:
 * many requests in flight (ids match replies that may come out of order), one deadline timer for
 * all of them, wire errors turned back into KvErrors with their stable codes, and requests written
 * in one tick sharing one write. Once the daemon's limits are known, a request line over its line
 * limit is refused here (KV_LINE_TOO_LONG) without being sent: the daemon would close the
 * connection.
 */
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type Limits, parseAddr } from '../config.js';
import { withResolvers } from '../env/with-resolvers.js';
import { KvError } from '../errors.js';
import { isJsonObject, repeatedFieldName } from '../json.js';
import { FrameFramer } from './frame-framer.js';
import { LineFramer } from './line-framer.js';
import { type PeerHandshake, provePeer } from './peer-auth.js';
import { decodeErrorFrame, FRAME_ERROR, nextFrameId, readFrameHeader } from './peer-frames.js';

/** Replies can hold many siblings of the largest value; the client trusts its daemon up to this. */
const MAX_REPLY_LINE_BYTES = 256 * 1024 * 1024;

/** How long an orderly close waits for the other end to close too before the socket is destroyed. */
export const CLOSE_GRACE_MS = 1000;

/**
 * Request bytes one connection queues to send (in its outbox and its socket) before further
 * requests are held back until the socket drains: a daemon that reads slowly, or not at all,
 * cannot make this process buffer without bound. Larger than any one line.
 */
const MAX_UNSENT_BYTES = 16 * 1024 * 1024;
/** Frames smaller than this are joined into one buffer per write, up to this many bytes together. */
const JOIN_FRAMES_BELOW_BYTES = 64 * 1024;

/** TLS for a connection (PEM): the CA that signed the daemon's certificate, and a certificate to present (nodes do). */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ClientOptions {
  /** Per-request deadline in ms; also bounds the connect and the handshakes. */
  timeoutMs?: number;
  /** Connect with TLS 1.3, checking the daemon's certificate against `ca`. */
  tls?: ClientTls;
  /** A client token, presented before anything else (a daemon with --client-token-file needs one). */
  token?: string;
  /** Prove this end is a node of the cluster (the peer handshake) before anything else. */
  peer?: PeerHandshake;
}

/**
 * A request waiting for its reply: a line's reply object, a whole reply frame, as it was sent, or
 * the lines of a streamed reply (each ok line; the last says done).
 */
type Pending = (
  | { kind: 'line'; resolve: (reply: Record<string, unknown>) => void }
  | { kind: 'frame'; resolve: (frame: Buffer) => void }
  | { kind: 'stream'; line: (reply: Record<string, unknown>) => void }
) & {
  reject: (err: KvError) => void;
  /** When the request times out (ms, Date.now clock) and after how long, for the error. */
  deadline: number;
  timeoutMs: number;
};

export class LineConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outbox: (string | Buffer)[] = [];
  /** UTF-16 units in `outbox` (bytes, near enough: request lines are mostly ASCII; frames count their bytes). */
  private outboxUnits = 0;
  /**
   * Requests held back while this connection already has MAX_UNSENT_BYTES queued to send (a slow or
   * busy daemon that does not take them): sent as the socket drains, dropped unsent when their
   * deadline passes first, so what a connection buffers stays bounded.
   */
  private held: { id: number; line: string | Buffer }[] = [];
  private heldHead = 0;
  private flushScheduled = false;
  private closedError: KvError | undefined;
  /**
   * One timer per connection, armed for the earliest deadline, instead of one per request: under
   * load a request's timer was created and cleared thousands of times a second for nothing.
   */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = Number.POSITIVE_INFINITY;
  /** The daemon's limits once known (a ping told them). */
  protected limits: Limits | undefined;
  /** The daemon's line limit alone, when only that was learned (see learnLineLimit). */
  private lineLimit: number | undefined;
  /**
   * Told once, when the connection ends for any reason (closed by either end, reset, refused by
   * the daemon on the connection itself), so a pool can drop it at once rather than on its next use.
   */
  onEnded: ((reason: KvError) => void) | undefined;
  private readonly lineFramer: LineFramer;
  /** Set once the peer handshake succeeded: replies are frames from then on. */
  private frameFramer: FrameFramer | undefined;
  /** The id of the `peer.proof` request in flight: its successful reply is the last line. */
  private proofId: number | undefined;
  /** The proof's reply was read: switch to frames once the chunk it came in is split. */
  private switchPending = false;

  /** Wraps a connected socket; use `connect`. */
  constructor(
    private readonly socket: Socket,
    readonly addr: string,
    private readonly timeoutMs: number,
  ) {
    const framer = new LineFramer(
      MAX_REPLY_LINE_BYTES,
      (line) => this.onReply(line),
      () => this.fail(new KvError('KV_INTERNAL', 'reply line from daemon exceeds the client limit')),
    );
    this.lineFramer = framer;
    socket.on('data', (chunk: Buffer) => {
      if (this.frameFramer) {
        this.frameFramer.push(chunk);
        return;
      }
      framer.push(chunk);
      if (this.switchPending) this.switchToFrames();
    });
    socket.on('drain', () => this.sendHeld());
    socket.on('error', (err) => this.fail(new KvError('KV_UNREACHABLE', `connection to ${addr} failed: ${err.message}`, { addr })));
    socket.on('close', () => this.fail(new KvError('KV_UNREACHABLE', `connection to ${addr} closed`, { addr })));
  }

  /**
   * Connects (over TLS when asked), then authenticates (a token, or the peer handshake) when asked.
   * Unreachable daemons fail with KV_UNREACHABLE (refused, or no answer in time), TLS trouble with
   * KV_TLS_FAILED, a refused token or secret with KV_AUTH_FAILED.
   */
  static async connect<T extends LineConnection>(
    this: new (
      socket: Socket,
      addr: string,
      timeoutMs: number,
    ) => T,
    addr: string,
    options: ClientOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const socket = await openSocket(addr, timeoutMs, options.tls);
    const connection = new this(socket, addr, timeoutMs);
    try {
      // A client that proves itself a peer (a node asking another for its members) keeps lines.
      if (options.peer) await provePeer((body) => connection.request(body), options.peer, addr, false);
      if (options.token !== undefined) await connection.request({ op: 'auth', token: options.token });
    } catch (err) {
      connection.destroy();
      throw err;
    }
    return connection;
  }

  /** The daemon's limits, known once `ping` answered (undefined before, or from a daemon that does not say). */
  get daemonLimits(): Limits | undefined {
    return this.limits;
  }

  /**
   * Takes the line limit from the `limits` of a daemon's ping reply: a longer request line is then
   * refused here (KV_LINE_TOO_LONG, not sent) instead of making the daemon close the connection
   * with every request on it.
   */
  learnLineLimit(limits: unknown): void {
    const max = isJsonObject(limits) ? limits.maxLineBytes : undefined;
    if (typeof max === 'number' && Number.isSafeInteger(max) && max > 0) this.lineLimit = max;
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
  request(body: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    if (body.op === 'peer.proof' && body.frames === true && !this.frameFramer) this.proofId = this.nextId;
    return this.requestText(JSON.stringify(body).slice(1, -1), timeoutMs);
  }

  /** True once the connection carries frames (the peer handshake succeeded on it). */
  get speaksFrames(): boolean {
    return this.frameFramer !== undefined;
  }

  /**
   * Sends one request frame, made by `frame` for the id given; resolves the whole reply frame
   * (an error frame included: the caller decodes it). Only once the connection speaks frames.
   */
  requestFrame(frame: (id: number) => Buffer, timeoutMs = this.timeoutMs): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (!this.frameFramer) return Promise.reject(new KvError('KV_INTERNAL', 'a frame sent before the peer handshake succeeded'));
    let id = this.nextId;
    while (this.pending.has(id)) id = nextFrameId(id);
    this.nextId = nextFrameId(id);
    const bytes = frame(id);
    const maxBytes = this.lineLimit;
    if (maxBytes !== undefined && bytes.length > maxBytes) {
      return Promise.reject(
        new KvError(
          'KV_LINE_TOO_LONG',
          `message is ${bytes.length} bytes; the node at ${this.addr} takes frames of at most ${maxBytes} (its --max-line-bytes); not sent`,
          {
            bytes: bytes.length,
            limit: maxBytes,
          },
        ),
      );
    }
    const { promise, resolve, reject } = withResolvers<Buffer>();
    this.send(id, bytes, { kind: 'frame', resolve, reject, deadline: Date.now() + timeoutMs, timeoutMs });
    return promise;
  }

  /** A frame's line limit, learned from the node (the frame-layer ping). */
  learnFrameLimit(maxFrameBytes: number): void {
    this.lineLimit = maxFrameBytes;
  }

  /**
   * Sends a request given as the JSON text of its fields (`"op":"get","key":"k"`); the id goes first.
   * put/get/delete build that text directly: base64 needs no escaping, and skipping JSON.stringify of
   * a body object saved a copy of every value (the client's CPU is on the critical path of a pipeline).
   */
  requestText(fields: string, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.frameFramer) {
      return Promise.reject(
        new KvError('KV_BAD_REQUEST', `this connection to ${this.addr} carries peer frames since its handshake; it takes no JSON requests`),
      );
    }
    const id = this.nextId++;
    const line = fields === '' ? `{"id":${id}}` : `{"id":${id},${fields}}`;
    const maxLineBytes = this.limits?.maxLineBytes ?? this.lineLimit;
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
    this.send(id, line, { kind: 'line', resolve, reject, deadline: Date.now() + timeoutMs, timeoutMs });
    return promise;
  }

  /**
   * Sends a request whose reply is a stream of lines (a scan): `line` gets each ok line, the last
   * one with `done: true`; an error line ends it through `reject`. The deadline applies between
   * lines (each line restarts it) while the stream is not paused; `pause` stops reading the
   * connection (every reply on it waits) until `resume`, so a consumer that does not keep up makes
   * the daemon stop producing.
   */
  requestStream(
    body: Record<string, unknown>,
    line: (reply: Record<string, unknown>) => void,
    reject: (err: KvError) => void,
    timeoutMs = this.timeoutMs,
  ): { pause(): void; resume(): void } {
    let waiter: Pending | undefined;
    const id = this.nextId;
    const streamLine = (reply: Record<string, unknown>) => {
      if (waiter && waiter.deadline !== Number.POSITIVE_INFINITY) this.restartDeadline(waiter);
      line(reply);
    };
    if (this.closedError) reject(this.closedError);
    else {
      this.nextId++;
      waiter = { kind: 'stream', line: streamLine, reject, deadline: Date.now() + timeoutMs, timeoutMs };
      this.send(id, JSON.stringify({ id, ...body }), waiter);
    }
    return {
      pause: () => {
        if (waiter) waiter.deadline = Number.POSITIVE_INFINITY;
        this.socket.pause();
      },
      resume: () => {
        if (waiter) this.restartDeadline(waiter);
        this.socket.resume();
      },
    };
  }

  private restartDeadline(waiter: Pending): void {
    waiter.deadline = Date.now() + waiter.timeoutMs;
    if (waiter.deadline < this.deadlineTimerAt) this.armDeadlineTimer(waiter.deadline);
  }

  private send(id: number, message: string | Buffer, waiter: Pending): void {
    const { deadline } = waiter;
    this.pending.set(id, waiter);
    if (deadline < this.deadlineTimerAt) this.armDeadlineTimer(deadline);
    if (this.heldHead < this.held.length || this.unsentUnits() > MAX_UNSENT_BYTES) this.held.push({ id, line: message });
    else this.enqueue(message);
  }

  /** Requests written or queued and not yet taken by the socket (what a daemon that does not read makes this process hold). */
  private unsentUnits(): number {
    return this.outboxUnits + this.socket.writableLength;
  }

  private enqueue(message: string | Buffer): void {
    this.outbox.push(message);
    this.outboxUnits += typeof message === 'string' ? message.length + 1 : message.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushSoon);
    }
  }

  /** The socket drained: send held requests that are still awaited, up to the bound again. */
  private sendHeld(): void {
    while (this.heldHead < this.held.length && this.unsentUnits() <= MAX_UNSENT_BYTES) {
      const next = this.held[this.heldHead++] as { id: number; line: string | Buffer };
      if (this.pending.has(next.id)) this.enqueue(next.line);
    }
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    }
  }

  /** Requests held back, unsent, because the connection had too much queued (see `held`). */
  get heldRequests(): number {
    return this.held.length - this.heldHead;
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

  /**
   * Closes in order (what was written is sent first); a daemon that does not close its end within
   * `graceMs` (hung, or unreachable) has the socket destroyed, so a close never waits forever.
   */
  close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Number.POSITIVE_INFINITY;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      const grace = setTimeout(() => this.socket.destroy(), graceMs).unref();
      this.socket.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
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
    if (this.frameFramer) {
      // Small frames joined into one buffer (one write; corking a write per frame cost a stream
      // request each), a large one written alone rather than copied.
      let run: Buffer[] = [];
      let runBytes = 0;
      const writeRun = () => {
        if (run.length > 0) this.socket.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
        run = [];
        runBytes = 0;
      };
      for (const frame of this.outbox as Buffer[]) {
        if (frame.length >= JOIN_FRAMES_BELOW_BYTES) {
          writeRun();
          this.socket.write(frame);
        } else {
          if (runBytes + frame.length > JOIN_FRAMES_BELOW_BYTES) writeRun();
          run.push(frame);
          runBytes += frame.length;
        }
      }
      writeRun();
    } else this.socket.write(`${this.outbox.join('\n')}\n`);
    this.outbox = [];
    this.outboxUnits = 0;
  }

  /** The handshake's reply was the last line: what follows (in this chunk and after) is frames. */
  private switchToFrames(): void {
    this.switchPending = false;
    const framer = new FrameFramer(
      MAX_REPLY_LINE_BYTES,
      (frame) => this.onFrame(frame),
      () => this.fail(new KvError('KV_INTERNAL', `a frame from ${this.addr} exceeds the client limit`)),
      (why) => this.fail(new KvError('KV_INTERNAL', `the node at ${this.addr} sent a malformed frame: ${why}`)),
    );
    this.frameFramer = framer;
    const rest = this.lineFramer.takeHeld();
    if (rest.length > 0) framer.push(rest);
  }

  private onFrame(frame: Buffer): void {
    const { kind, id } = readFrameHeader(frame);
    if (id === 0) {
      // The connection's own error: the node closes it.
      this.fail(kind === FRAME_ERROR ? safeErrorOf(frame) : new KvError('KV_INTERNAL', `the node at ${this.addr} sent a frame with id 0 that is no error`));
      return;
    }
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (waiter.kind === 'frame') waiter.resolve(frame);
    else waiter.reject(new KvError('KV_INTERNAL', `the node at ${this.addr} answered a line request with a frame`));
  }

  /** A reply line; false when it is the handshake's last (frames follow). */
  private onReply(line: Buffer): boolean {
    this.handleReply(line);
    if (this.switchPending) return false;
    return true;
  }

  private handleReply(line: Buffer): void {
    let reply: unknown;
    try {
      reply = JSON.parse(line.toString('utf8'));
    } catch {
      this.fail(new KvError('KV_INTERNAL', 'daemon sent a line that is not JSON'));
      return;
    }
    if (!isJsonObject(reply)) {
      this.fail(new KvError('KV_INTERNAL', 'daemon sent a line that is not a JSON object'));
      return;
    }
    // Which of a repeated id or field counts is anyone's guess: the reply cannot be trusted to be the one we were sent.
    const repeated = repeatedFieldName(line);
    if (repeated) {
      const field = repeated.name.slice(0, 64);
      this.fail(new KvError('KV_INTERNAL', `daemon at ${this.addr} sent a reply that gives field "${field}" twice`, { field }));
      return;
    }
    const id = reply.id;
    if (typeof id !== 'number') {
      // Connection-level errors (line too long, too many connections) carry no id: fail everything.
      if (reply.ok === false) this.fail(KvError.fromWire(reply.error));
      return;
    }
    const waiter = this.pending.get(id);
    if (!waiter) return;
    if (waiter.kind === 'stream') {
      if (reply.ok !== true || reply.done === true) this.pending.delete(id);
      if (reply.ok !== true) waiter.reject(KvError.fromWire(reply.error));
      else waiter.line(reply);
      return;
    }
    this.pending.delete(id);
    if (id === this.proofId) {
      this.proofId = undefined;
      if (reply.ok === true) this.switchPending = true;
    }
    if (reply.ok !== true) waiter.reject(KvError.fromWire(reply.error));
    else if (waiter.kind === 'line') waiter.resolve(reply);
    else waiter.reject(new KvError('KV_INTERNAL', `the node at ${this.addr} answered a frame with a line`));
  }

  private fail(err: KvError): void {
    const first = this.closedError === undefined;
    this.closedError ??= err;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const [id, waiter] of this.pending) {
      waiter.reject(err);
      this.pending.delete(id);
    }
    this.held = [];
    this.heldHead = 0;
    if (!this.socket.destroyed) this.socket.destroy();
    if (first) this.onEnded?.(err);
  }
}

function safeErrorOf(frame: Buffer): KvError {
  try {
    return decodeErrorFrame(frame);
  } catch (err) {
    return err as KvError;
  }
}

/** A connected socket (TLS 1.3 when `tls` is given), or KV_UNREACHABLE / KV_TLS_FAILED. */
function openSocket(addr: string, timeoutMs: number, tls: ClientTls | undefined): Promise<Socket> {
  const { host, port } = parseAddr(addr);
  return new Promise((resolve, reject) => {
    const socket = tls ? connectTls({ host, port, ...tls, minVersion: 'TLSv1.3' }) : connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      const what = tls ? 'finished a TLS handshake' : 'answered';
      reject(new KvError('KV_UNREACHABLE', `no daemon ${what} at ${addr} within ${timeoutMs} ms`, { addr }));
    }, timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(connectError(err, addr, tls !== undefined));
    });
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** A failed connect as a KvError: the network (KV_UNREACHABLE) or TLS itself (KV_TLS_FAILED). */
function connectError(err: NodeJS.ErrnoException, addr: string, tls: boolean): KvError {
  const networkFailure = err.syscall !== undefined && err.code?.startsWith('E');
  if (!tls || (networkFailure && err.code !== 'ECONNRESET')) {
    return new KvError('KV_UNREACHABLE', `no daemon at ${addr} (${err.code ?? err.message})`, { addr, cause: err.code });
  }
  const why =
    err.code === 'ECONNRESET' || /before secure TLS connection/.test(err.message)
      ? 'the daemon closed the connection during the TLS handshake (does it listen with TLS?)'
      : err.message;
  return new KvError('KV_TLS_FAILED', `TLS with ${addr} failed: ${why}`, { addr, cause: err.code });
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
