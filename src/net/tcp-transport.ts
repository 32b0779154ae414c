/**
 * The peer transport over TCP: one pooled connection per peer address, each opened with the peer
 * handshake (and TLS when configured) before any message; from then on it carries binary frames.
 * The handshake names the node at the address; a request meant for another node is refused (see
 * PeerTransport). Messages are written and replies validated by net/peer-frames, as in the
 * simulator.
 *
 * Links heal on their own: a connection that ends for any reason (closed or reset by the peer, or
 * refused by it on the connection itself, e.g. KV_LINE_TOO_LONG or KV_TOO_MANY_CONNECTIONS) leaves
 * the pool the moment it ends, and the next request makes a new one. A link that cannot be made
 * is tried again only after a backoff per address (ReconnectBackoff); meanwhile requests to that
 * address fail at once with KV_UNREACHABLE. A peer's error reply to one request (it carries the
 * request's id) is an answer, not a broken link: the connection stays. Each address has its own
 * connection and backoff, so one peer's broken link never fails requests to another. A link asks
 * its peer's frame limit once made (a frame-layer ping): a message over it fails alone with KV_LINE_TOO_LONG,
 * unsent, rather than making the peer close the connection under every request on it.
 */
import { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import { type PeerTransport, wrongNodeError } from '../protocol/transport.js';
import { type ClientTls, LineConnection } from './line-connection.js';
import { type PeerHandshake, provePeer } from './peer-auth.js';
import {
  decodeErrorFrame,
  decodePingReply,
  encodePeerRequest,
  encodePingFrame,
  FRAME_ERROR,
  type FrameBounds,
  readFrameHeader,
  replyOf,
} from './peer-frames.js';
import { type BackoffSettings, defaultBackoff, ReconnectBackoff } from './reconnect-backoff.js';

/** A connection that completed the peer handshake, and the node that proved itself on it. */
interface PeerLink {
  connection: LineConnection;
  node: string;
}

export class TcpTransport implements PeerTransport {
  private readonly connections = new Map<string, Promise<PeerLink>>();
  private readonly backoff: ReconnectBackoff;
  /** Links made and links that ended, for stats and tests. */
  readonly counters = { opened: 0, ended: 0, failedToOpen: 0 };

  constructor(
    /** What records in replies may hold (the node's own limits). */
    private readonly bounds: FrameBounds,
    /**
     * How this node proves itself to peers, TLS for its peer connections, and who hears of a peer
     * that refused the handshake (a secret or cluster that does not match is an operator's to fix).
     */
    private readonly link: { peer: PeerHandshake; tls?: ClientTls | undefined; onRefused?: (addr: string, err: KvError) => void },
    private readonly connectTimeoutMs = 1000,
    backoff: BackoffSettings = defaultBackoff,
    /** The time for backoffs (ms); injected for tests. */
    private readonly now: () => number = Date.now,
  ) {
    this.backoff = new ReconnectBackoff(backoff);
  }

  async request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>> {
    const link = await this.linkTo(addr, timeoutMs);
    if (node !== undefined && link.node !== node) throw wrongNodeError(addr, node, link.node);
    let sentId = 0;
    const reply = await link.connection.requestFrame((id) => {
      sentId = id;
      return encodePeerRequest(request, id);
    }, timeoutMs);
    return replyOf(request, sentId, reply, this.bounds);
  }

  /** Gossip heard from the node at `addr`: forget its backoff, so a restarted node is reached at once. */
  heardFrom(addr: string): void {
    this.backoff.succeeded(addr);
  }

  /** The pooled link to `addr`, made now if there is none (unless a backoff says to wait). */
  private linkTo(addr: string, timeoutMs: number): Promise<PeerLink> {
    const pooled = this.connections.get(addr);
    if (pooled) return pooled;
    const wait = this.backoff.waitMs(addr, this.now());
    if (wait > 0) {
      const failures = this.backoff.failures(addr);
      return Promise.reject(
        new KvError('KV_UNREACHABLE', `no link to ${addr}: the last ${failures} attempt(s) failed; next attempt in ${wait} ms`, { addr, retryInMs: wait }),
      );
    }
    const pending = this.open(addr, Math.min(this.connectTimeoutMs, timeoutMs), () => {
      this.counters.ended++;
      if (this.connections.get(addr) === pending) this.connections.delete(addr);
    });
    this.connections.set(addr, pending);
    pending.then(
      () => {
        this.counters.opened++;
        this.backoff.succeeded(addr);
      },
      (err: unknown) => {
        this.counters.failedToOpen++;
        if (this.connections.get(addr) === pending) this.connections.delete(addr);
        this.backoff.failed(addr, this.now());
        const code = (err as KvError).code;
        if (code === 'KV_AUTH_FAILED' || code === 'KV_CLUSTER_MISMATCH' || code === 'KV_TLS_FAILED' || isVersionRefusal(err))
          this.link.onRefused?.(addr, err as KvError);
      },
    );
    return pending;
  }

  /** Connects (TLS when configured) and runs the peer handshake, keeping the name the other node proved. */
  private async open(addr: string, timeoutMs: number, onEnded: () => void): Promise<PeerLink> {
    const connection = await LineConnection.connect(addr, { timeoutMs, tls: this.link.tls });
    try {
      const other = await provePeer((body) => connection.request(body), this.link.peer, addr);
      // The peer's frame limit: a message longer than it is refused here, unsent, and the link and
      // every other request on it stay (the peer would close the connection over it).
      const pong = await connection.requestFrame(encodePingFrame);
      if (readFrameHeader(pong).kind === FRAME_ERROR) throw decodeErrorFrame(pong);
      connection.learnFrameLimit(decodePingReply(pong));
      // Watched from here on: a link that ends leaves the pool at once (during the handshake, the
      // handshake's own failure does). A link that ended in between is refused like a failed handshake.
      if (connection.closeReason) throw connection.closeReason;
      connection.onEnded = onEnded;
      return { connection, node: other.name };
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  /** Addresses with a link open or being made. */
  get linkCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    const links = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(links.map((p) => p.then((l) => l.connection.close()).catch(() => {})));
  }
}

/** A peer that speaks another version of the peer protocol refused the handshake (or was refused). */
function isVersionRefusal(err: unknown): boolean {
  return err instanceof KvError && err.code === 'KV_BAD_REQUEST' && /peer protocol version/.test(err.message);
}
