/**
 * Who is on the other end of a connection, as far as the node can tell, and what it may ask.
 * The server that accepted the connection says what it is; the node allows each op per kind.
 *
 * - `peer`: another node of the cluster (the simulator's links).
 * - `client`: a command line, a script or a test; never runs node-to-node ops.
 * - `unverified`: a TCP connection that has not said what it is. No handshake exists yet, so such
 *   a connection may run every op, peer ops included, as one on a trusted network could.
 */
import type { ClientRequest, Op, Request } from './client.js';
import type { PeerOp, PeerReply, PeerRequest, PeerRequestOf } from './peer.js';

export type ConnectionKind = 'peer' | 'client' | 'unverified';

export interface ConnectionIdentity {
  kind: ConnectionKind;
  /** The remote address as the server saw it (for logs and errors). */
  remote: string;
}

/** Ops only nodes send each other. */
const PEER_OPS: ReadonlySet<Op> = new Set<Op>([
  'gossip.push',
  'kv.read',
  'kv.clocks',
  'kv.replicate',
  'kv.replicate.many',
  'kv.reap',
  'kv.coordinate',
  'ae.hashes',
  'ae.leaves',
  'ae.fetch',
  'ae.store',
]);

export function isPeerRequest(request: Request): request is PeerRequest {
  return PEER_OPS.has(request.op);
}

/** Whether a connection of this kind may run `op`. */
export function opAllowed(op: Op, kind: ConnectionKind): boolean {
  if (kind === 'unverified' || kind === 'peer') return true;
  return !PEER_OPS.has(op);
}

/** What serves requests once they are parsed and validated: a node, in the daemon and in the simulator. */
export interface RequestHandler {
  /** Answers a client op with its reply fields (JSON-ready). */
  handleClient(request: ClientRequest, connection: ConnectionIdentity): Promise<Record<string, unknown>>;
  /** Answers a peer op with its typed reply. */
  handlePeer<Op extends PeerOp>(request: PeerRequestOf<Op>, connection: ConnectionIdentity): Promise<PeerReply<Op>>;
  /** Counts a request that failed, parse errors included (for stats). */
  countError(): void;
}
