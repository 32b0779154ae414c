/**
 * The peer transport over TCP: one pooled line connection per peer address, re-made after a
 * failure, each opened with the peer handshake (and TLS when configured) before any message.
 * Messages are written and replies validated by net/peer-json, as in the simulator.
 */
import type { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import type { PeerTransport } from '../protocol/transport.js';
import { type ClientTls, LineConnection } from './line-connection.js';
import type { PeerHandshake } from './peer-auth.js';
import { decodePeerReply, encodePeerRequest } from './peer-json.js';
import type { RecordBounds } from './record-json.js';

export class TcpTransport implements PeerTransport {
  private readonly connections = new Map<string, Promise<LineConnection>>();

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

  async request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number): Promise<PeerReply<Op>> {
    let pending = this.connections.get(addr);
    if (!pending) {
      pending = LineConnection.connect(addr, { timeoutMs: Math.min(this.connectTimeoutMs, timeoutMs), peer: this.link.peer, tls: this.link.tls });
      this.connections.set(addr, pending);
    }
    let connection: LineConnection;
    try {
      connection = await pending;
    } catch (err) {
      if (this.connections.get(addr) === pending) this.connections.delete(addr);
      const code = (err as KvError).code;
      if (code === 'KV_AUTH_FAILED' || code === 'KV_CLUSTER_MISMATCH' || code === 'KV_TLS_FAILED') this.link.onRefused?.(addr, err as KvError);
      throw err;
    }
    let reply: Record<string, unknown>;
    try {
      reply = await connection.requestText(encodePeerRequest(request), timeoutMs);
    } catch (err) {
      // A connection that ended (unreachable, or closed over a reply it could not read) is made anew next time.
      const ended = (err as KvError).code === 'KV_UNREACHABLE' || connection.closeReason !== undefined;
      if (ended && this.connections.get(addr) === pending) {
        this.connections.delete(addr);
        void connection.close();
      }
      throw err;
    }
    return decodePeerReply(request, reply, this.bounds);
  }

  async close(): Promise<void> {
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((p) => p.then((c) => c.close()).catch(() => {})));
  }
}
