/**
 * The HTTP endpoint Prometheus scrapes: GET (or HEAD) /metrics and nothing else. Bounded like the
 * daemon's own listener: small request heads (8 KiB), no request bodies, deadlines on reading a
 * request and on an idle or stalled socket, a cap on open connections, and overlapping scrapes
 * share one snapshot (nodeMetrics), so a flood of scrapes costs one stats read at a time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { KvError } from '../errors.js';

export interface MetricsServerOptions {
  /** The exposition text. */
  scrape: () => Promise<string>;
  contentType: string;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections?: number;
  /** Deadline for a whole request head, and for a socket with nothing moving, ms. */
  timeoutMs?: number;
  /** Told about a scrape that failed (the reply is a 503). */
  onError?: (err: Error) => void;
}

export const METRICS_PATH = '/metrics';
const MAX_HEADER_BYTES = 8 * 1024;
const DEFAULT_MAX_CONNECTIONS = 16;
const DEFAULT_TIMEOUT_MS = 10_000;

export class MetricsServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: MetricsServerOptions) {
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.server = createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: timeoutMs, headersTimeout: timeoutMs, keepAliveTimeout: 5000 },
      (req, res) => void this.answer(req, res),
    );
    this.server.maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    // A socket idle (or not reading its reply) this long is destroyed: no 'timeout' listener, so Node does it.
    this.server.setTimeout(timeoutMs);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens; resolves with the port (port 0: the one the OS chose). A busy port is KV_PORT_IN_USE. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') reject(new KvError('KV_PORT_IN_USE', `metrics port ${host}:${port} is already in use`, { host, port }));
        else reject(new KvError('KV_START_FAILED', `cannot serve metrics on ${host}:${port}: ${err.message}`, { host, port }));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.refuse(res, 405, 'only GET /metrics is served\n', { Allow: 'GET, HEAD' });
    if (path !== METRICS_PATH) return this.refuse(res, 404, 'not found: metrics are at /metrics\n');
    // A scrape has no body: one that comes with a body is not a scraper, and is not read.
    if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0) {
      return this.refuse(res, 413, 'a request to /metrics carries no body\n');
    }
    let text: string;
    try {
      text = await this.o.scrape();
    } catch (err) {
      this.o.onError?.(err as Error);
      return this.refuse(res, 503, 'metrics are not available right now\n');
    }
    res.writeHead(200, { 'Content-Type': this.o.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  /** A short plain-text refusal; the connection is closed after it (whatever else the client sent is not read). */
  private refuse(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), Connection: 'close', ...headers });
    res.end(text);
  }
}
