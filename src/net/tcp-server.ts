/**
 * The TCP server adapter: NDJSON for clients; for peers, binary frames (net/peer-frames.ts) once
 * the peer handshake succeeded on the connection and its `peer.proof` asked for them (that line
 * is the last; what follows its successful reply, both ways, is frames: nodes' links do; a node
 * asking a peer's client views, e.g. its members, keeps lines). Per connection: lines (or
 * frames) are split with a byte limit, --max-line-bytes for both (a frame's header gives its size,
 * so one over the limit is refused before it is held), handled
 * concurrently (many requests in flight, replies as soon as ready, matched by id), and replies
 * finished within one event-loop turn share a socket write (measured: one write per message tops
 * out near 150k msg/s on loopback; coalesced, 336k on one connection). Small replies are
 * coalesced into writes of up to 64 KiB; a large one is written on its own; no string is ever
 * built from an unbounded list.
 *
 * Memory is bounded in bytes (rules in net/connection-budget.ts): a request read from a
 * connection runs only once its cost (its line or the largest reply seen recently, whichever is
 * larger) fits both
 * the connection's reply budget and the daemon's; replies hold their bytes until the socket has
 * flushed them. While a connection cannot run its next request, has `maxInFlightPerConnection`
 * requests running, or holds its whole budget in unsent replies (the client is not reading), the
 * server stops reading it, so the client's own socket fills and it waits (TCP backpressure).
 * Unfinished request lines are capped daemon-wide as well. A reply larger than a line may carry
 * is replaced by a KV_REPLY_TOO_LARGE error with the same id.
 *
 * Connections that stop mid-line (--read-timeout-ms), stop taking their replies
 * (--send-timeout-ms) or carry nothing at all (clients: --idle-timeout-ms; peers: twice
 * --peer-idle-timeout-ms, as the node that opened the link closes it first) are closed.
 * Clients and peers have separate connection limits: a connection counts as a client until the
 * peer handshake proves it a peer. With every client slot taken, a new connection may still take
 * a peer slot as a candidate that must complete the peer handshake within a few seconds. A peer
 * proving itself with every peer slot taken closes the least recently active quiet peer
 * connection (nothing running, nothing owed either way) and takes its slot; it is refused only
 * when every peer connection is busy. A peer connection closed quiet (idle, or to make room) is
 * told KV_IDLE_TIMEOUT, and nothing it sends after that is read: its node knows any request it
 * had on the way was not run, and sends it again on a new link.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Limits } from '../config.js';
import { KvError, toKvError } from '../errors.js';
import type { Reply } from '../protocol/client.js';
import { type ConnectionIdentity, newClientConnection } from '../protocol/connection.js';
import { MAX_SCANS_PER_CONNECTION, type ReplyStream, replyStreamOf, SCAN_WINDOW_BYTES } from '../protocol/scan.js';
import {
  ConnectionClock,
  type ConnectionState,
  InputBudget,
  incomingPeerIdleMs,
  leastRecentlyActive,
  type Overdue,
  Priority,
  ReplySizeEstimate,
  SharedBudget,
} from './connection-budget.js';
import { FrameFramer } from './frame-framer.js';
import { LineFramer } from './line-framer.js';
import { encodeErrorFrame, FRAME_HEADER_BYTES, readFrameHeader } from './peer-frames.js';

/** How long a closed connection waits for the client to close its side before it is destroyed. */
const HALF_CLOSE_GRACE_MS = 5_000;

/** Written slots at the head of a connection's reply queue that are dropped once they are most of it. */
const OUT_COMPACT_AFTER = 1024;

/** How long a candidate for a peer slot (accepted with every client slot taken) has to prove it is a peer. */
export const PEER_CANDIDATE_MS = 5_000;

/**
 * The ops a peer candidate may send: the peer handshake, nothing else (not even ping: a client that
 * pings a new connection before use, as `kvctl batch` does, must see the refusal there, as before).
 */
const CANDIDATE_OPS: ReadonlySet<string> = new Set(['peer.hello', 'peer.proof']);

/** Small replies are joined into writes of at most this many bytes; a larger reply is written alone. */
const COALESCE_BYTES = 64 * 1024;

/** Replies are written while the socket holds less than this; the rest wait, serialized, until it drains. */
const WRITE_HIGH_WATER_BYTES = 64 * 1024;

/**
 * The estimate of a reply never falls below this: requests admitted while replies were small may
 * make large ones, and the budgets can be overshot by at most (largest reply / floor) times.
 */
const REPLY_ESTIMATE_FLOOR_BYTES = 256 * 1024;

/** The most one read from a socket delivers (libuv reads into 64 KiB buffers): what a resumed connection may add at once. */
const READ_CHUNK_BYTES = 64 * 1024;

/** Answers one line from a connection (see net/answer.ts). */
export type LineHandler = (line: Buffer, connection: ConnectionIdentity) => Promise<Reply>;
/** Answers one request frame from a peer connection with its reply frame (see net/answer.ts). */
export type FrameHandler = (frame: Buffer, connection: ConnectionIdentity) => Promise<Buffer>;

/** The listener's TLS material (PEM); with it, the listener speaks only TLS 1.3. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** CA whose certificates peers present; with `requestCertificate`, a connection reports whether it presented one. */
  ca: Buffer | undefined;
  requestCertificate: boolean;
}

export interface ServerOptions {
  tls?: ServerTls;
  /** Clients must present a token before anything but ping (see protocol/connection.ts). */
  tokensRequired?: boolean;
  /**
   * Answers peers' frames. Without it, a connection the handshake proves a peer goes on in lines
   * (a server that serves no peer ops).
   */
  frames?: FrameHandler;
}

/** The first byte of a TLS handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** How long a TLS handshake may take before the connection is dropped. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ServerStats {
  connections: number;
  clientConnections: number;
  /** Connections proven peers, and candidates for a peer slot still in their handshake. */
  peerConnections: number;
  peerCandidates: number;
  acceptedConnections: number;
  refusedConnections: number;
  /** Reply bytes held daemon-wide: unsent replies, and the estimates of running requests. */
  replyBytesHeld: number;
  /** Of those, replies serialized and not yet flushed to a socket. */
  replyBytesUnsent: number;
  /** Request bytes read and not yet run: unfinished lines, and lines waiting for room. */
  inputBytesHeld: number;
  /** Requests that waited for room in their connection's reply budget, in the daemon's, and connections paused for input room. */
  connectionBudgetWaits: number;
  replyBudgetWaits: number;
  inputBudgetWaits: number;
  repliesTooLarge: number;
  closedByReadTimeout: number;
  closedBySendTimeout: number;
  closedByIdleTimeout: number;
  /** Peer connections closed for carrying nothing for twice --peer-idle-timeout-ms. */
  closedByPeerIdleTimeout: number;
  /** Of the refused, candidates for a peer slot that sent other ops or did not complete the peer handshake in time. */
  peerCandidatesRefused: number;
  /** Quiet peer connections closed to make room for a peer proving itself with every peer slot taken. */
  peerConnectionsEvicted: number;
  /** Peers refused after their handshake: every peer slot taken, and every peer connection busy. */
  peerConnectionsRefused: number;
}

/** A closing connection was a peer's, closed to make room for another: it counts toward no limit any more. */
type Role = 'client' | 'peer' | 'candidate' | 'closing';

/** What connections share: limits, budgets, counters, and the server's bookkeeping. */
interface Shared {
  readonly limits: Limits;
  readonly replies: SharedBudget<Connection>;
  readonly input: InputBudget<Connection>;
  readonly estimate: ReplySizeEstimate;
  readonly frames: FrameHandler | undefined;
  readonly counters: {
    connectionBudgetWaits: number;
    repliesTooLarge: number;
    unsentBytes: number;
    candidatesRefused: number;
    peersEvicted: number;
    peersRefused: number;
  };
  /** Room freed in the reply or input budget: let the connections waiting for it go on. */
  wake(): void;
  /** The connection's identity became a peer: count it as one, or refuse it when the peer slots are full. */
  promote(connection: Connection): boolean;
  closed(connection: Connection): void;
}

export class TcpServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly shared: Shared;
  private stopping = false;
  private accepted = 0;
  private refused = 0;
  private clients = 0;
  /** Peers and candidates for a peer slot. */
  private peers = 0;
  private candidates = 0;
  private readonly timeouts: Record<Overdue, number> = { read: 0, send: 0, idle: 0, peerIdle: 0 };
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private waking = false;

  constructor(
    private readonly handler: LineHandler,
    private readonly limits: Limits,
    private readonly options: ServerOptions = {},
  ) {
    // A reply carrying the largest value, in base64: until replies are seen, any request may make one.
    const largestReply = Math.ceil(limits.maxValueBytes / 3) * 4 + 1024;
    this.shared = {
      limits,
      replies: new SharedBudget(limits.maxReplyBytes),
      input: new InputBudget(limits.maxInputBytes),
      estimate: new ReplySizeEstimate(largestReply, Math.min(REPLY_ESTIMATE_FLOOR_BYTES, largestReply)),
      frames: options.frames,
      counters: { connectionBudgetWaits: 0, repliesTooLarge: 0, unsentBytes: 0, candidatesRefused: 0, peersEvicted: 0, peersRefused: 0 },
      wake: () => this.wake(),
      promote: (connection) => this.promote(connection),
      closed: (connection) => this.forget(connection),
    };
    const tls = options.tls;
    this.server = tls
      ? createTlsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca } : {}),
            minVersion: 'TLSv1.3',
            // Clients need no certificate; a peer's is checked by the handshake when required.
            requestCert: tls.requestCertificate,
            rejectUnauthorized: false,
            handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
            allowHalfOpen: true,
          },
          (socket) => {
            socket.setNoDelay(true);
            this.accept(socket);
          },
        )
      : createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    // A TLS handshake that fails (plaintext, a bad certificate) drops that socket, not the server.
    this.server.on('tlsClientError', () => {});
    const timeouts = [limits.readTimeoutMs, limits.sendTimeoutMs, limits.idleTimeoutMs, incomingPeerIdleMs(limits), PEER_CANDIDATE_MS].filter((ms) => ms > 0);
    // A quarter of the shortest timeout: a connection is closed within 1.25 times its timeout.
    const sweepMs = Math.min(1000, Math.max(10, Math.floor(Math.min(...timeouts) / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  /** Listens; rejects with KV_PORT_IN_USE when the address is taken. Resolves the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') reject(new KvError('KV_PORT_IN_USE', `${host}:${port} is already in use`, { host, port }));
        else reject(new KvError('KV_START_FAILED', `cannot listen on ${host}:${port}: ${err.message}`, { host, port }, { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  stats(): ServerStats {
    const { replies, input, counters } = this.shared;
    return {
      connections: this.connections.size,
      clientConnections: this.clients,
      peerConnections: this.peers - this.candidates,
      peerCandidates: this.candidates,
      acceptedConnections: this.accepted,
      refusedConnections: this.refused + counters.candidatesRefused,
      replyBytesHeld: replies.held,
      replyBytesUnsent: counters.unsentBytes,
      inputBytesHeld: input.held,
      connectionBudgetWaits: counters.connectionBudgetWaits,
      replyBudgetWaits: replies.waits,
      inputBudgetWaits: input.waits,
      repliesTooLarge: counters.repliesTooLarge,
      closedByReadTimeout: this.timeouts.read,
      closedBySendTimeout: this.timeouts.send,
      closedByIdleTimeout: this.timeouts.idle,
      closedByPeerIdleTimeout: this.timeouts.peerIdle,
      peerCandidatesRefused: counters.candidatesRefused,
      peerConnectionsEvicted: counters.peersEvicted,
      peerConnectionsRefused: counters.peersRefused,
    };
  }

  /** Stops accepting, lets every connection finish its in-flight requests, then closes them. */
  async close(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.drainAndClose(graceMs)));
    await closed;
  }

  private accept(socket: Socket): void {
    const { maxConnections, maxPeerConnections } = this.limits;
    let role: Role | undefined;
    if (!this.stopping) {
      if (this.clients < maxConnections) role = 'client';
      else if (this.peers < maxPeerConnections) role = 'candidate';
    }
    if (role === undefined) {
      this.refused++;
      const error = this.stopping
        ? new KvError('KV_SHUTTING_DOWN', 'daemon is stopping')
        : new KvError('KV_TOO_MANY_CONNECTIONS', `connection limit of ${maxConnections} clients and ${maxPeerConnections} peers reached`, {
            limit: maxConnections,
            peerLimit: maxPeerConnections,
          });
      socket.on('error', () => {});
      socket.end(`${JSON.stringify({ id: null, ok: false, error: error.toWire() })}\n`);
      // A client that never closes its side must not keep the socket (and a stopping daemon) forever.
      socket.resume();
      setTimeout(() => socket.destroy(), HALF_CLOSE_GRACE_MS).unref();
      return;
    }
    this.accepted++;
    if (role === 'client') this.clients++;
    else {
      this.peers++;
      this.candidates++;
    }
    const identity = newClientConnection(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, isSameHost(socket.remoteAddress, socket.localAddress), {
      tokensRequired: this.options.tokensRequired ?? false,
      certified: this.options.tls?.requestCertificate === true && (socket as TLSSocket).authorized === true,
    });
    this.connections.add(new Connection(socket, identity, role, this.handler, this.shared));
  }

  private promote(connection: Connection): boolean {
    if (connection.role === 'candidate') {
      this.candidates--;
      return true;
    }
    if (this.peers >= this.limits.maxPeerConnections && !this.evictQuietPeer()) {
      this.shared.counters.peersRefused++;
      return false;
    }
    this.clients--;
    this.peers++;
    return true;
  }

  /** Closes the least recently active quiet peer connection, freeing its slot at once; false when every one is busy. */
  private evictQuietPeer(): boolean {
    const peers = [...this.connections].filter((c) => c.role === 'peer');
    const quietest = leastRecentlyActive(peers, (c) => c.clockView());
    if (!quietest) return false;
    quietest.role = 'closing';
    this.peers--;
    this.shared.counters.peersEvicted++;
    quietest.closeQuiet(
      new KvError(
        'KV_IDLE_TIMEOUT',
        `peer connection closed while idle to make room for another peer (--max-peer-connections ${this.limits.maxPeerConnections})`,
        {
          limit: this.limits.maxPeerConnections,
        },
      ),
    );
    return true;
  }

  private forget(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    if (connection.role === 'client') this.clients--;
    else if (connection.role !== 'closing') this.peers--;
    if (connection.role === 'candidate') this.candidates--;
    this.wake();
  }

  /** Hands freed room to the connections waiting for it: reply budget in FIFO order, then input. */
  private wake(): void {
    if (this.waking) return; // a connection admitting requests releases room too: one loop does it all
    this.waking = true;
    try {
      for (;;) {
        const head = this.shared.replies.head();
        if (head === undefined) break;
        head.admit();
        if (this.shared.replies.head() === head) break; // still no room for it: everyone behind it waits too
      }
      for (const connection of this.shared.input.resumable(READ_CHUNK_BYTES)) connection.inputRoom();
    } finally {
      this.waking = false;
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const connection of this.connections) {
      const verdict = connection.check(now);
      if (verdict !== undefined) this.timeouts[verdict]++;
    }
  }
}

/** One serialized reply waiting to be written: a line (`bytes` counts its newline) or a frame. */
type OutLine = { text: string; frame?: undefined; bytes: number } | { text?: undefined; frame: Buffer; bytes: number };

class Connection {
  private readonly framer: LineFramer;
  /** Set once the peer handshake succeeded: from then on the connection carries frames, both ways. */
  private frames: FrameFramer | undefined;
  /** The `peer.proof` line read, running: input after it is held until its reply says which framing follows. */
  private proofLine: Buffer | undefined;
  private readonly clock: ConnectionClock;
  private readonly acceptedAt: number;
  /** Requests running (admitted and not answered). */
  private running = 0;
  /** What running requests reserved in the budgets: their lines and estimated replies. */
  private reservedBytes = 0;
  /** Lines read and not yet admitted, FIFO from `waitingHead`. */
  private waiting: Buffer[] = [];
  private waitingHead = 0;
  private waitingBytes = 0;
  /** Serialized replies not yet handed to the socket, FIFO from `outHead`. */
  private out: (OutLine | undefined)[] = [];
  private outHead = 0;
  /** Reply bytes serialized and not yet flushed by the socket (queued here or in the socket's buffer). */
  private unsentBytes = 0;
  private pumpScheduled = false;
  /** The client ended its side: run what it sent, answer, then end ours. */
  private ended = false;
  /** Set when the server decides to close: no more lines are read; this error line goes last (if any). */
  private finishing = false;
  private farewell: KvError | undefined;
  private inputPaused = false;
  private closed = false;
  private lastReadableLength = 0;
  /** The waiting line last found over the connection's budget (each wait is counted once). */
  private lastBlocked: Buffer | undefined;
  private idle: (() => void) | undefined;
  /** Streamed replies (scans) this connection is sending, by request id. */
  private readonly streams = new Map<Reply['id'], { stream: ReplyStream; producing: boolean }>();

  constructor(
    private readonly socket: Socket,
    /** A client until a handshake on the connection proves more (see protocol/connection.ts). */
    private readonly identity: ConnectionIdentity,
    public role: Role,
    private readonly handler: LineHandler,
    private readonly shared: Shared,
  ) {
    const now = performance.now();
    this.clock = new ConnectionClock(now);
    this.acceptedAt = now;
    this.framer = new LineFramer(
      shared.limits.maxLineBytes,
      (line) => this.onLine(line),
      (bytes) => this.onOverflow(bytes),
    );
    let firstChunk = true;
    socket.on('data', (chunk: Buffer) => {
      // A TLS ClientHello (record type 0x16) on a plaintext listener: close at once, so the client
      // learns during its handshake that this daemon does not speak TLS, instead of timing out.
      if (firstChunk && chunk[0] === TLS_HANDSHAKE_RECORD && !(socket as TLSSocket).encrypted) {
        socket.destroy();
        return;
      }
      firstChunk = false;
      if (this.finishing) return; // discarded: the connection is closing
      this.clock.received(performance.now());
      if (this.frames) this.frames.push(chunk);
      else this.framer.push(chunk);
      this.inputChanged();
      this.updateFlow();
    });
    socket.on('end', () => {
      if (!this.finishing && !this.frames) this.framer.end();
      this.ended = true;
      this.inputChanged();
      this.maybeFinish();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  /** A line read; false holds the input after it (a peer.proof: frames may follow its reply). */
  private onLine(line: Buffer): boolean {
    if (this.finishing) return true; // the rest of a chunk after the server decided to close
    if (this.role === 'candidate') {
      const op = opOf(line);
      if (op === undefined || !CANDIDATE_OPS.has(op)) {
        // Refused as a connection (no id), as at accept: a client tries again later rather than failing one request.
        this.shared.counters.candidatesRefused++;
        this.finish(this.candidateError());
        return true;
      }
    }
    const proof = this.shared.frames !== undefined && this.identity.kind !== 'peer' && asksForFrames(line);
    if (proof) this.proofLine = line;
    this.waiting.push(line);
    this.waitingBytes += line.length;
    this.admit();
    return !proof;
  }

  /** A frame read from a peer (its size within the limit). */
  private onFrame(frame: Buffer): void {
    if (this.finishing) return;
    this.waiting.push(frame);
    this.waitingBytes += frame.length;
    this.admit();
  }

  /** The handshake's reply is queued: frames follow if the connection is now a peer's, lines otherwise. */
  private proofAnswered(): void {
    this.proofLine = undefined;
    if (this.identity.kind !== 'peer' || this.role !== 'peer' || this.finishing) {
      this.framer.resume();
      return;
    }
    // Every line before the proof was admitted first (in order) and nothing after it was read: from here, only frames.
    const frames = new FrameFramer(
      this.shared.limits.maxLineBytes,
      (frame) => this.onFrame(frame),
      (bytes) => this.onFrameOverflow(bytes),
      (why) => this.finish(new KvError('KV_BAD_REQUEST', `malformed frame header: ${why}; closing connection`)),
    );
    this.frames = frames;
    const rest = this.framer.takeHeld();
    if (rest.length > 0) frames.push(rest);
    this.inputChanged();
    this.updateFlow();
  }

  /** Bytes of an unfinished line or frame held. */
  private get partialBytes(): number {
    return this.frames ? this.frames.bufferedBytes : this.framer.bufferedBytes;
  }

  /** Runs waiting lines while they fit the in-flight limit and both reply budgets. */
  admit(): void {
    const { limits, replies, estimate } = this.shared;
    let ownLimits = false;
    while (this.waitingHead < this.waiting.length && !this.closed) {
      if (this.running >= limits.maxInFlightPerConnection) {
        ownLimits = true;
        break;
      }
      const line = this.waiting[this.waitingHead] as Buffer;
      // A request holds its line while it runs, then its reply: a large line makes a small reply (a
      // put) and a small line may make a large one (a get), so the larger of the two is its cost.
      const cost = Math.max(line.length, estimate.bytes);
      // With nothing running or unsent, one request always runs: progress never depends on the limit.
      const busy = this.running > 0 || this.unsentBytes > 0;
      if (busy && this.reservedBytes + this.unsentBytes + cost > limits.maxConnectionReplyBytes) {
        if (this.lastBlocked !== line) this.shared.counters.connectionBudgetWaits++;
        this.lastBlocked = line;
        ownLimits = true;
        break;
      }
      const priority = this.role === 'peer' ? Priority.peer : busy ? Priority.busyClient : Priority.quietClient;
      if (!replies.take(this, cost, priority)) break;
      this.waiting[this.waitingHead++] = EMPTY;
      this.waitingBytes -= line.length;
      this.running++;
      this.reservedBytes += cost;
      this.run(line, cost);
    }
    // Waiting on its own limits, the connection keeps no place in the daemon's line.
    if (ownLimits) replies.leave(this);
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    }
    this.inputChanged();
    this.updateFlow();
  }

  private run(input: Buffer, cost: number): void {
    if (this.frames) {
      (this.shared.frames as FrameHandler)(input, this.identity).then(
        (reply) => this.answered(reply, cost, input),
        (err: unknown) => this.answered(errorFrameFor(input, new KvError('KV_INTERNAL', String(err))), cost, input),
      );
      return;
    }
    this.handler(input, this.identity).then(
      (reply) => this.answered(reply, cost, input),
      (err: unknown) => this.answered({ id: idOf(input), ok: false, error: new KvError('KV_INTERNAL', String(err)).toWire() }, cost, input),
    );
  }

  private answered(reply: Reply | Buffer, cost: number, input: Buffer): void {
    this.running--;
    if (this.closed) return; // its bytes were released when the connection closed
    this.reservedBytes -= cost;
    this.shared.replies.release(cost);
    let answer = reply;
    let refused = false;
    // The peer handshake (net/peer-auth.ts) just proved the connection a peer: move it to a peer slot.
    if (this.identity.kind === 'peer' && (this.role === 'client' || this.role === 'candidate')) {
      if (this.shared.promote(this)) this.role = 'peer';
      else {
        this.identity.kind = 'client';
        answer = this.tooManyPeers(Buffer.isBuffer(reply) ? null : reply.id);
        refused = true;
      }
    }
    const stream = Buffer.isBuffer(answer) ? undefined : replyStreamOf(answer);
    if (stream) this.startStream((answer as Reply).id, stream);
    else this.shared.estimate.record(this.reply(answer));
    if (input === this.proofLine) this.proofAnswered();
    if (refused) this.finish(undefined);
    this.shared.wake();
    this.admit();
    this.maybeFinish();
  }

  /**
   * A streamed reply (a scan): its lines are made one at a time, each only while the connection
   * holds less than SCAN_WINDOW_BYTES unsent, so a client that stops reading stops the work behind
   * the stream. At most MAX_SCANS_PER_CONNECTION run at once; one more is refused.
   */
  private startStream(id: Reply['id'], stream: ReplyStream): void {
    if (this.streams.size >= MAX_SCANS_PER_CONNECTION || this.streams.has(id)) {
      stream.cancel();
      const error =
        this.streams.size >= MAX_SCANS_PER_CONNECTION
          ? new KvError('KV_TOO_MANY_SCANS', `this connection already runs ${MAX_SCANS_PER_CONNECTION} scans, the most one connection may run at once`, {
              limit: MAX_SCANS_PER_CONNECTION,
            })
          : new KvError('KV_BAD_REQUEST', 'a scan with this id is still streaming on this connection; give each request its own id');
      this.reply({ id, ok: false, error: error.toWire() });
      return;
    }
    this.streams.set(id, { stream, producing: false });
    this.pumpStreams();
  }

  /** Asks each stream for its next line while the client is taking what was sent. */
  private pumpStreams(): void {
    for (const [id, entry] of this.streams) {
      if (this.closed || this.unsentBytes >= SCAN_WINDOW_BYTES) return;
      if (entry.producing) continue;
      entry.producing = true;
      entry.stream.next().then(
        ({ fields, last }) => {
          entry.producing = false;
          if (this.closed || this.streams.get(id) !== entry) return;
          if (last) this.streams.delete(id);
          this.reply({ ...fields, id, ok: true });
          this.pumpStreams();
          this.maybeFinish();
        },
        (err: unknown) => {
          entry.producing = false;
          if (this.closed || this.streams.get(id) !== entry) return;
          this.streams.delete(id);
          this.reply({ id, ok: false, error: toKvError(err).toWire() });
          this.maybeFinish();
        },
      );
    }
  }

  /** Serializes a reply (refusing one too large for a line or frame) and queues it for writing; returns its bytes. */
  private reply(reply: Reply | Buffer): number {
    if (this.closed) return 0;
    const maxLineBytes = this.shared.limits.maxLineBytes;
    if (Buffer.isBuffer(reply)) {
      let frame = reply;
      if (frame.length > maxLineBytes) {
        this.shared.counters.repliesTooLarge++;
        const error = new KvError(
          'KV_REPLY_TOO_LARGE',
          `the reply is ${frame.length} bytes; a frame may carry at most ${maxLineBytes} (--max-line-bytes); not sent`,
          {
            bytes: frame.length,
            limit: maxLineBytes,
          },
        );
        frame = errorFrameFor(frame, error);
      }
      this.queue({ frame, bytes: frame.length });
      return frame.length;
    }
    let text: string | undefined;
    let bytes = Number.POSITIVE_INFINITY;
    try {
      text = JSON.stringify(reply);
      bytes = Buffer.byteLength(text, 'utf8');
    } catch {
      text = undefined; // larger than a string can be
    }
    if (text === undefined || bytes > maxLineBytes) {
      this.shared.counters.repliesTooLarge++;
      const size = text === undefined ? 'larger than this daemon can build' : `${bytes} bytes`;
      const error = new KvError('KV_REPLY_TOO_LARGE', `the reply is ${size}; a line may carry at most ${maxLineBytes} (--max-line-bytes); not sent`, {
        ...(text === undefined ? {} : { bytes }),
        limit: maxLineBytes,
      });
      text = JSON.stringify({ id: reply.id ?? null, ok: false, error: error.toWire() });
      bytes = Buffer.byteLength(text, 'utf8');
    }
    this.queue({ text, bytes: bytes + 1 });
    return bytes + 1;
  }

  private queue(out: OutLine): void {
    const bytes = out.bytes;
    this.out.push(out);
    if (this.unsentBytes === 0) this.clock.owes(true, performance.now());
    this.unsentBytes += bytes;
    this.shared.counters.unsentBytes += bytes;
    this.shared.replies.add(bytes);
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => this.pump());
    }
  }

  /** Writes queued replies while the socket has room: small ones joined up to COALESCE_BYTES, a large one alone. */
  private pump(): void {
    this.pumpScheduled = false;
    const socket = this.socket;
    if (this.closed || socket.destroyed || socket.writableEnded) return;
    while (this.outHead < this.out.length && socket.writableLength < WRITE_HIGH_WATER_BYTES) {
      const first = this.takeOut();
      let bytes = first.bytes;
      if (first.frame) {
        // Small frames joined into one buffer up to COALESCE_BYTES: one write, where corking many
        // writes cost a stream request per frame (measured: writev and its bookkeeping ~7 % of a node's CPU).
        const frames = [first.frame];
        for (let next = this.out[this.outHead]; next?.frame !== undefined && bytes + next.bytes <= COALESCE_BYTES; next = this.out[this.outHead]) {
          frames.push(next.frame);
          bytes += next.bytes;
          this.takeOut();
        }
        const written = bytes;
        socket.write(frames.length === 1 ? first.frame : Buffer.concat(frames), () => this.flushed(written));
        continue;
      }
      if (bytes >= COALESCE_BYTES) {
        // Two writes, corked into one: `text + '\n'` would copy the whole reply once more.
        socket.cork();
        socket.write(first.text);
        socket.write('\n', () => this.flushed(bytes));
        socket.uncork();
        continue;
      }
      let text = `${first.text}\n`;
      for (let next = this.out[this.outHead]; next?.text !== undefined && bytes + next.bytes <= COALESCE_BYTES; next = this.out[this.outHead]) {
        text += `${next.text}\n`;
        bytes += next.bytes;
        this.takeOut();
      }
      socket.write(text, () => this.flushed(bytes));
    }
    if (this.outHead === this.out.length) {
      this.out = [];
      this.outHead = 0;
    } else if (this.outHead > OUT_COMPACT_AFTER && this.outHead * 2 > this.out.length) {
      // A client that always has replies queued never empties the queue: drop the slots already written.
      this.out = this.out.slice(this.outHead);
      this.outHead = 0;
    }
    this.maybeFinish();
  }

  /**
   * The next queued reply, its slot cleared: a written reply must not stay reachable from the
   * queue (its bytes are no longer counted), or a client that always has replies queued would
   * keep every reply it was ever sent.
   */
  private takeOut(): OutLine {
    const line = this.out[this.outHead] as OutLine;
    this.out[this.outHead++] = undefined;
    return line;
  }

  /** The socket flushed `bytes` of replies: release them. */
  private flushed(bytes: number): void {
    if (this.closed) return;
    const now = performance.now();
    this.clock.sent(now);
    this.unsentBytes -= bytes;
    this.shared.counters.unsentBytes -= bytes;
    this.shared.replies.release(bytes);
    if (this.unsentBytes === 0) this.clock.owes(false, now);
    this.shared.wake();
    this.admit();
    this.pump();
    if (this.streams.size > 0) this.pumpStreams();
  }

  /** Tells the input budget what this connection holds; pauses it when it must wait for room. */
  private inputChanged(): void {
    if (this.closed) return;
    const partial = this.partialBytes;
    const input = this.shared.input;
    const mayRead = input.hold(this, partial + this.waitingBytes, partial > 0 && !this.ended && !this.finishing);
    this.inputPaused = !mayRead;
    if (input.pausedCount > 0) this.shared.wake();
  }

  /** The input budget has room for this connection again. */
  inputRoom(): void {
    this.inputPaused = false;
    this.updateFlow();
  }

  /** Reads while nothing says stop: room to run requests, to hold input, and a client taking its replies. */
  private updateFlow(): void {
    if (this.closed || this.finishing || this.ended) return;
    const shouldPause =
      this.inputPaused ||
      this.waitingHead < this.waiting.length ||
      this.running >= this.shared.limits.maxInFlightPerConnection ||
      this.unsentBytes >= this.shared.limits.maxConnectionReplyBytes;
    if (shouldPause && !this.socket.isPaused()) this.socket.pause();
    else if (!shouldPause && this.socket.isPaused()) this.socket.resume();
  }

  private onOverflow(bytes: number): void {
    const maxLineBytes = this.shared.limits.maxLineBytes;
    this.finish(
      new KvError('KV_LINE_TOO_LONG', `request line exceeds ${maxLineBytes} bytes; closing connection`, {
        limit: maxLineBytes,
        bytesSeen: bytes,
      }),
    );
  }

  private onFrameOverflow(bytes: number): void {
    const maxLineBytes = this.shared.limits.maxLineBytes;
    this.finish(
      new KvError('KV_LINE_TOO_LONG', `a frame of ${bytes} bytes exceeds ${maxLineBytes} (--max-line-bytes); closing connection`, {
        limit: maxLineBytes,
        bytesSeen: bytes,
      }),
    );
  }

  private candidateError(): KvError {
    const { maxConnections } = this.shared.limits;
    return new KvError(
      'KV_TOO_MANY_CONNECTIONS',
      `connection limit of ${maxConnections} clients reached; this connection was taken into a peer slot and may only complete the peer handshake`,
      { limit: maxConnections },
    );
  }

  private tooManyPeers(id: Reply['id']): Reply {
    const { maxPeerConnections } = this.shared.limits;
    const error = new KvError('KV_TOO_MANY_CONNECTIONS', `peer connection limit of ${maxPeerConnections} reached`, { limit: maxPeerConnections });
    return { id, ok: false, error: error.toWire() };
  }

  /** Stops reading; once every request read is answered and written, sends `farewell` (if any) and ends. */
  private finish(farewell: KvError | undefined): void {
    if (this.finishing) return;
    this.finishing = true;
    this.farewell = farewell;
    this.socket.pause();
    this.inputChanged();
    this.maybeFinish();
  }

  /** Whether the connection is overdue (see ConnectionClock), and if so closes it; called by the server's sweep. */
  check(now: number): Overdue | undefined {
    if (this.closed || this.socket.destroyed) return undefined;
    const socket = this.socket;
    const buffered = socket.readableLength;
    // Bytes that arrived while reading was paused count as received; so does the time the server
    // holds unread bytes of a client (paused, with anything in the socket's buffer: a paused socket
    // still reads into it, so bytes there mean the client did send) while it answers the client's
    // own requests. Not so a pause for input room: a connection that holds part of a
    // line and waits for room as long as the read timeout is closed too, or connections that
    // each sent part of a line and then nothing would be closed a few at a time, as room frees.
    const heldBack = socket.isPaused() && buffered > 0 && !this.inputPaused;
    if (buffered > this.lastReadableLength || heldBack) this.clock.received(now);
    this.lastReadableLength = buffered;
    if (this.role === 'candidate' && now - this.acceptedAt >= PEER_CANDIDATE_MS && !this.finishing) {
      this.shared.counters.candidatesRefused++;
      this.finish(this.candidateError());
      return undefined;
    }
    const verdict = this.clock.overdue(this.state(), now, this.shared.limits);
    // A connection that takes nothing would not take an error line either: it is dropped.
    if (verdict === 'send') socket.destroy();
    else if (verdict === 'read') {
      this.finish(
        new KvError('KV_READ_TIMEOUT', `no byte of the rest of a request line for ${this.shared.limits.readTimeoutMs} ms; closing connection`, {
          timeoutMs: this.shared.limits.readTimeoutMs,
        }),
      );
    } else if (verdict === 'idle') {
      this.finish(
        new KvError('KV_IDLE_TIMEOUT', `connection idle for ${this.shared.limits.idleTimeoutMs} ms; closing it`, {
          timeoutMs: this.shared.limits.idleTimeoutMs,
        }),
      );
    } else if (verdict === 'peerIdle') {
      const timeoutMs = incomingPeerIdleMs(this.shared.limits);
      this.closeQuiet(new KvError('KV_IDLE_TIMEOUT', `peer connection idle for ${timeoutMs} ms; closing it`, { timeoutMs }));
    }
    return verdict;
  }

  /** What the connection holds and owes now, for its clock. */
  private state(): ConnectionState {
    return {
      partialBytes: this.finishing ? 0 : this.partialBytes,
      unsentBytes: this.unsentBytes,
      busy: this.running > 0 || this.waitingHead < this.waiting.length || this.streams.size > 0,
      // A candidate has its own, shorter, deadline.
      idle: this.finishing ? 'none' : this.role === 'client' ? 'client' : this.role === 'peer' ? 'peer' : 'none',
    };
  }

  /** The connection's state and clock, to choose which quiet peer connection to close. */
  clockView(): { state: ConnectionState; clock: ConnectionClock } {
    return { state: this.state(), clock: this.clock };
  }

  /**
   * Closes a quiet connection (nothing running, nothing owed) with `farewell`. From here nothing
   * more is read: the peer may take any request it had on the way as not run.
   */
  closeQuiet(farewell: KvError): void {
    this.finish(farewell);
  }

  /**
   * Once ending (the client ended its side, or the server closes) and every reply is written, ends
   * our side, keeps reading (and discarding) until the client ends its side, and destroys the
   * socket if it never does.
   */
  private maybeFinish(): void {
    if (!this.ended && !this.finishing) return;
    if (this.running > 0 || this.waitingHead < this.waiting.length || this.outHead < this.out.length || this.pumpScheduled || this.streams.size > 0) return;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (this.farewell) {
      // In frames, id 0 is the connection's own, as a line's null id is.
      if (this.frames) this.queue(frameOut(encodeErrorFrame(0, 0, this.farewell.toWire())));
      else {
        const text = JSON.stringify({ id: null, ok: false, error: this.farewell.toWire() });
        this.queue({ text, bytes: Buffer.byteLength(text) + 1 });
      }
      this.farewell = undefined;
      return; // the pump writes it, then comes back here
    }
    this.finishing = true;
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), HALF_CLOSE_GRACE_MS).unref();
  }

  drainAndClose(graceMs: number): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    // Lines read and not run yet are refused: the daemon is stopping.
    const refusal = new KvError('KV_SHUTTING_DOWN', 'daemon is stopping; request not run');
    const notRun = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    this.waitingBytes = 0;
    this.shared.replies.leave(this);
    for (const input of notRun) this.reply(this.frames ? errorFrameFor(input, refusal) : { id: idOf(input), ok: false, error: refusal.toWire() });
    // Scans end here, each with the cursor that resumes it on another node.
    for (const [id, { stream }] of this.streams) {
      const cursor = stream.cursor();
      stream.cancel();
      const stopped = new KvError('KV_SHUTTING_DOWN', 'daemon is stopping; scan stopped', cursor === undefined ? undefined : { cursor });
      this.reply({ id, ok: false, error: stopped.toWire() });
    }
    this.streams.clear();
    return new Promise((resolve) => {
      this.idle = resolve;
      const timer = setTimeout(() => this.socket.destroy(), graceMs);
      timer.unref();
      this.socket.once('close', () => clearTimeout(timer));
      this.finish(undefined);
    });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const { replies, input, counters } = this.shared;
    replies.release(this.reservedBytes + this.unsentBytes);
    counters.unsentBytes -= this.unsentBytes;
    this.reservedBytes = 0;
    this.unsentBytes = 0;
    this.out = [];
    this.outHead = 0;
    this.waiting = [];
    this.waitingHead = 0;
    this.waitingBytes = 0;
    replies.leave(this);
    input.drop(this);
    for (const { stream } of this.streams.values()) stream.cancel();
    this.streams.clear();
    this.shared.closed(this);
    this.idle?.();
  }
}

const EMPTY = Buffer.alloc(0);

function frameOut(frame: Buffer): OutLine {
  return { frame, bytes: frame.length };
}

/** An error frame answering the frame `to` (its id and op). */
function errorFrameFor(to: Buffer, error: KvError): Buffer {
  const { id, opCode } = to.length >= FRAME_HEADER_BYTES ? readFrameHeader(to) : { id: 0, opCode: 0 };
  return encodeErrorFrame(id, opCode, error.toWire());
}

/** Whether a line is a peer.proof asking for frames once it succeeds (checked cheaply first: this runs on every client line). */
function asksForFrames(line: Buffer): boolean {
  if (!line.includes('peer.proof')) return false;
  try {
    const request = JSON.parse(line.toString('utf8')) as { op?: unknown; frames?: unknown };
    return request.op === 'peer.proof' && request.frames === true;
  } catch {
    return false;
  }
}

/** Best-effort id of a line we will not run, so the client can still match the refusal. */
function idOf(line: Buffer): Reply['id'] {
  try {
    const id = (JSON.parse(line.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'number' || typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** The op a line names, or undefined when it names none (a candidate's lines are checked before they run). */
function opOf(line: Buffer): string | undefined {
  try {
    const op = (JSON.parse(line.toString('utf8')) as { op?: unknown }).op;
    return typeof op === 'string' ? op : undefined;
  } catch {
    return undefined;
  }
}

/** True when a connection comes from this host: loopback, or from the address it reached us at. */
export function isSameHost(remote: string | undefined, local: string | undefined): boolean {
  if (remote === undefined) return false;
  const address = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  if (address === '::1' || address.startsWith('127.')) return true;
  return local !== undefined && remote === local;
}
