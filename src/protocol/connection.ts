/**
 * Who is on the other end of a connection, as far as the node can tell, and what it may ask.
 * The server that accepted the connection says what it is; the node allows each op per kind.
 *
 * - `peer`: another node of the cluster (the simulator's links).
 * - `client`: a command line, a script or a test; never runs node-to-node ops.
 * - `unverified`: a TCP connection that has not said what it is. No handshake exists yet, so such
 *   a connection may run every op, peer ops included, as one on a trusted network could.
 *
 * Admin ops (a node leaving, removing another, cluster settings, the fault switch) change the
 * cluster for everyone: without credentials to check, they are taken only from the node's own
 * host, as Redis's protected mode takes commands only from loopback. Repair and reaping change no
 * membership or setting and follow the node's own rules, and `kvctl repair` drives every node
 * from one host, so they are taken from anywhere.
 */
import type { ClientRequest, Op, Request } from './client.js';
import type { PeerOp, PeerReply, PeerRequest, PeerRequestOf } from './peer.js';

export type ConnectionKind = 'peer' | 'client' | 'unverified';

export interface ConnectionIdentity {
  kind: ConnectionKind;
  /** The remote address as the server saw it (for logs and errors). */
  remote: string;
  /** True when the other end is on this host (loopback, or one of this host's own addresses). */
  local: boolean;
}

/** Ops that change the cluster for everyone. */
const ADMIN_OPS: ReadonlySet<Op> = new Set<Op>(['leave', 'remove', 'cluster.set', 'test.fault']);

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

/** Why `connection` may not run `op`, or undefined when it may. */
export function opRefusal(op: Op, connection: ConnectionIdentity): string | undefined {
  if (connection.kind === 'client' && PEER_OPS.has(op)) return `op ${op} is for nodes of the cluster; this is a client connection`;
  if (ADMIN_OPS.has(op) && !connection.local) return `op ${op} changes the cluster and is taken only from this node's own host (${connection.remote} is not)`;
  return undefined;
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
