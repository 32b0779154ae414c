/**
 * The peer transport over TCP: one pooled line connection per peer address, re-made after a
 * failure, each opened with the peer handshake (and TLS when configured) before any message.
 * The handshake names the node at the address; a request meant for another node is refused
 * (see PeerTransport). Messages are written and replies validated by net/peer-json, as in the
 * simulator.
 */
import type { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import { type PeerTransport, wrongNodeError } from '../protocol/transport.js';
import { type ClientTls, LineConnection } from './line-connection.js';
import { type PeerHandshake, provePeer } from './peer-auth.js';
import { decodePeerReply, encodePeerRequest } from './peer-json.js';
import type { RecordBounds } from './record-json.js';

/** A connection that completed the peer handshake, and the node that proved itself on it. */
interface PeerLink {
  connection: LineConnection;
  node: string;
}

export class TcpTransport implements PeerTransport {
  private readonly connections = new Map<string, Promise<PeerLink>>();

  constructor(
    /** What records in replies may hold (the node's own limits). */
    private readonly bounds: RecordBounds,
    /**
     * How this node proves itself to peers, TLS for its peer connections, and who hears of a peer
     * that refused the handshake (a secret or cluster that does not match is an operator's to fix).
     */
    private readonly link: { peer: PeerHandshake; tls?: ClientTls | undefined; onRefused?: (addr: string, err: KvError) => void },
    private readonly connectTimeoutMs = 1000,
  ) {}

  async request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>> {
    let pending = this.connections.get(addr);
    if (!pending) {
      pending = this.open(addr, Math.min(this.connectTimeoutMs, timeoutMs));
      this.connections.set(addr, pending);
    }
    let link: PeerLink;
    try {
      link = await pending;
    } catch (err) {
      if (this.connections.get(addr) === pending) this.connections.delete(addr);
      const code = (err as KvError).code;
      if (code === 'KV_AUTH_FAILED' || code === 'KV_CLUSTER_MISMATCH' || code === 'KV_TLS_FAILED') this.link.onRefused?.(addr, err as KvError);
      throw err;
    }
    if (node !== undefined && link.node !== node) throw wrongNodeError(addr, node, link.node);
    let reply: Record<string, unknown>;
    try {
      reply = await link.connection.requestText(encodePeerRequest(request), timeoutMs);
    } catch (err) {
      // A connection that ended (unreachable, or closed over a reply it could not read) is made anew next time.
      const ended = (err as KvError).code === 'KV_UNREACHABLE' || link.connection.closeReason !== undefined;
      if (ended && this.connections.get(addr) === pending) {
        this.connections.delete(addr);
        void link.connection.close();
      }
      throw err;
    }
    return decodePeerReply(request, reply, this.bounds);
  }

  /** Connects (TLS when configured) and runs the peer handshake, keeping the name the other node proved. */
  private async open(addr: string, timeoutMs: number): Promise<PeerLink> {
    const connection = await LineConnection.connect(addr, { timeoutMs, tls: this.link.tls });
    try {
      const other = await provePeer((body) => connection.request(body), this.link.peer, addr);
      return { connection, node: other.name };
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  async close(): Promise<void> {
    const links = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(links.map((p) => p.then((l) => l.connection.close()).catch(() => {})));
  }
}
