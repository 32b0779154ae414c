/**
 * The NDJSON/TCP server adapter. Per connection: lines are framed with a byte limit, handled
 * concurrently (many requests in flight, replies as soon as ready, matched by id), and the
 * replies finished within one event-loop turn are joined into one socket write (measured: one
 * write per message tops out near 150k msg/s on loopback; coalesced, 336k on one connection).
 *
 * Backpressure: reading from a connection pauses while its unanswered requests exceed
 * `maxInFlightPerConnection` or while its socket buffer is full (the client is not reading its
 * replies), so nothing buffered grows without bound. An over-long line gets an error reply and
 * the connection is closed; other connections are unaffected.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Limits } from '../config.js';
import { KvError } from '../errors.js';
import type { Reply } from '../protocol/client.js';
import { type ConnectionIdentity, newClientConnection } from '../protocol/connection.js';
import { LineFramer } from './line-framer.js';

/** How long a closed connection waits for the client to close its side before it is destroyed. */
const HALF_CLOSE_GRACE_MS = 5_000;

/** Answers one line from a connection (see net/answer.ts). */
export type LineHandler = (line: Buffer, connection: ConnectionIdentity) => Promise<Reply>;

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
}

/** The first byte of a TLS handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** How long a TLS handshake may take before the connection is dropped. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ServerStats {
  connections: number;
  acceptedConnections: number;
  refusedConnections: number;
}

export class TcpServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private stopping = false;
  private accepted = 0;
  private refused = 0;

  constructor(
    private readonly handler: LineHandler,
    private readonly limits: Limits,
    private readonly options: ServerOptions = {},
  ) {
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
    return { connections: this.connections.size, acceptedConnections: this.accepted, refusedConnections: this.refused };
  }

  /** Stops accepting, lets every connection finish its in-flight requests, then closes them. */
  async close(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.drainAndClose(graceMs)));
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.stopping || this.connections.size >= this.limits.maxConnections) {
      this.refused++;
      const error = this.stopping
        ? new KvError('KV_SHUTTING_DOWN', 'daemon is stopping')
        : new KvError('KV_TOO_MANY_CONNECTIONS', `connection limit of ${this.limits.maxConnections} reached`, { limit: this.limits.maxConnections });
      socket.on('error', () => {});
      socket.end(`${JSON.stringify({ id: null, ok: false, error: error.toWire() })}\n`);
      return;
    }
    this.accepted++;
    const identity = newClientConnection(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, isSameHost(socket.remoteAddress, socket.localAddress), {
      tokensRequired: this.options.tokensRequired ?? false,
      certified: this.options.tls?.requestCertificate === true && (socket as TLSSocket).authorized === true,
    });
    const connection = new Connection(socket, identity, this.handler, this.limits, () => this.connections.delete(connection));
    this.connections.add(connection);
  }
}

class Connection {
  private readonly framer: LineFramer;
  private inFlight = 0;
  private outbox: string[] = [];
  private flushScheduled = false;
  private waitingForDrain = false;
  private closing = false;
  private idle: (() => void) | undefined;
  constructor(
    private readonly socket: Socket,
    /** A client until a handshake on the connection proves more (see protocol/connection.ts). */
    private readonly identity: ConnectionIdentity,
    private readonly handler: LineHandler,
    private readonly limits: Limits,
    onClose: () => void,
  ) {
    this.framer = new LineFramer(
      limits.maxLineBytes,
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
      this.framer.push(chunk);
    });
    socket.on('end', () => {
      this.framer.end();
      this.closing = true;
      this.maybeFinish();
    });
    socket.on('drain', () => {
      this.waitingForDrain = false;
      this.updateFlow();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closing = true;
      onClose();
      this.idle?.();
    });
  }

  private onLine(line: Buffer): void {
    if (this.socket.writableEnded) return;
    if (this.closing) {
      const error = new KvError('KV_SHUTTING_DOWN', 'daemon is stopping; request not run');
      this.enqueue(JSON.stringify({ id: idOf(line), ok: false, error: error.toWire() }));
      return;
    }
    this.inFlight++;
    this.updateFlow();
    void this.handler(line, this.identity).then((reply) => this.send(reply));
  }

  private send(reply: Reply): void {
    this.inFlight--;
    this.enqueue(JSON.stringify(reply));
    this.updateFlow();
    this.maybeFinish();
  }

  private enqueue(line: string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.outbox.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    const text = `${this.outbox.join('\n')}\n`;
    this.outbox = [];
    if (!this.socket.write(text)) this.waitingForDrain = true;
    this.updateFlow();
    this.maybeFinish();
  }

  private onOverflow(bytes: number): void {
    this.closing = true;
    const error = new KvError('KV_LINE_TOO_LONG', `request line exceeds ${this.limits.maxLineBytes} bytes; closing connection`, {
      limit: this.limits.maxLineBytes,
      bytesSeen: bytes,
    });
    this.enqueue(JSON.stringify({ id: null, ok: false, error: error.toWire() }));
    this.socket.pause();
    this.maybeFinish();
  }

  /** Pauses reading while too much is unanswered or the client is not reading replies. */
  private updateFlow(): void {
    if (this.closing) return;
    const shouldPause = this.waitingForDrain || this.inFlight >= this.limits.maxInFlightPerConnection;
    if (shouldPause && !this.socket.isPaused()) this.socket.pause();
    else if (!shouldPause && this.socket.isPaused()) this.socket.resume();
  }

  /**
   * Once closing and every reply is written, end our side, keep reading (and discarding) until the
   * client ends its side, and destroy the socket if it never does.
   */
  private maybeFinish(): void {
    if (!this.closing || this.inFlight > 0 || this.flushScheduled || this.outbox.length > 0) return;
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.end();
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), HALF_CLOSE_GRACE_MS).unref();
  }

  drainAndClose(graceMs: number): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    this.closing = true;
    this.socket.pause();
    return new Promise((resolve) => {
      this.idle = resolve;
      const timer = setTimeout(() => this.socket.destroy(), graceMs);
      timer.unref();
      this.socket.once('close', () => clearTimeout(timer));
      this.maybeFinish();
    });
  }
}

/** Best-effort id of a line we will not run, so the client can still match the refusal. */
function idOf(line: Buffer): unknown {
  try {
    const id = (JSON.parse(line.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'number' || typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** True when a connection comes from this host: loopback, or from the address it reached us at. */
export function isSameHost(remote: string | undefined, local: string | undefined): boolean {
  if (remote === undefined) return false;
  const address = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  if (address === '::1' || address.startsWith('127.')) return true;
  return local !== undefined && remote === local;
}
