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
   * KV_UNREACHABLE (cannot connect, connection lost, or the node there is not `node`), KV_TIMEOUT
   * (no reply in `timeoutMs`), the error code the peer replied with, or KV_BAD_REQUEST for a
   * malformed reply. No retries here.
   *
   * `node`: the member the request is meant for. Addresses come from gossip, so one may name
   * another node's address (a mistake, or a peer that lies); the node there names itself when the
   * link is made, and a request meant for someone else never reaches it: a record handed to "a new
   * replica" at a real node's address would be acknowledged, and then forgotten everywhere.
   */
  request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>>;
  /**
   * Gossip carried news from the node at `addr` (it is alive): a link to it that could not be made
   * lately may be tried again at once rather than after its backoff. Optional: only transports
   * that back off need it.
   */
  heardFrom?(addr: string): void;
  close(): Promise<void>;
}

/** The refusal of a request meant for `node` that reached another node at `addr`. */
export function wrongNodeError(addr: string, node: string, found: string): KvError {
  return new KvError('KV_UNREACHABLE', `the node at ${addr} is ${found}, not ${node}`, { addr, peer: node, found });
}

/** True for failures that say nothing about the peer's answer: it could not be reached or did not reply in time. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof KvError && (err.code === 'KV_UNREACHABLE' || err.code === 'KV_TIMEOUT');
}
