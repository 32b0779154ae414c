/**
 * The node-to-node transport contract (memberlist's `transport.go` idea, with the clock injected
 * too): one typed request to an address, one typed reply. TcpTransport carries it over TCP, the
 * simulator's SimNetwork in memory; both encode and validate messages the same way (net/), so
 * engines never see wire text and encoding bugs show up in simulation too.
 */
import { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from './peer.js';

export interface PeerTransport {
  /**
   * Sends `request` to the node at `addr` and resolves its validated reply. Rejects with KvError:
   * KV_UNREACHABLE (cannot connect, connection lost), KV_TIMEOUT (no reply in `timeoutMs`), the
   * error code the peer replied with, or KV_BAD_REQUEST for a malformed reply. No retries here.
   */
  request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number): Promise<PeerReply<Op>>;
  close(): Promise<void>;
}

/** True for failures that say nothing about the peer's answer: it could not be reached or did not reply in time. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof KvError && (err.code === 'KV_UNREACHABLE' || err.code === 'KV_TIMEOUT');
}
