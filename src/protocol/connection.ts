/**
 * Who is on the other end of a connection, as far as the node can tell, and what it may ask.
 * The server that accepted the connection says what it is; a handshake on the connection may
 * raise it (net/peer-auth.ts); the node allows each op per kind and role.
 *
 * - `peer`: another node of the cluster, proven by the peer handshake (the cluster secret), or a
 *   simulated link. Peers may run every op.
 * - `client`: everything else: a command line, a script, a test. Never runs node-to-node ops.
 *
 * Clients: when the node takes tokens (--client-token-file), a client runs nothing but `ping` and
 * `auth` until it presents a token, and then only what the token's role allows: `read` (get and
 * the views), `write` (also put and delete) or `admin` (also leave, remove, repair, reap, cluster
 * settings). Without tokens, reads and writes are open, and ops that change the cluster for
 * everyone (leave, remove, cluster settings, the fault switch) are taken only from the node's own
 * host, as Redis's protected mode takes commands only from loopback; repair and reaping change no
 * membership or setting and `kvctl repair` drives every node from one host, so they are open.
 */
import { KvError } from '../errors.js';
import type { ClientRequest, ConnectionRequest, Op, Request } from './client.js';
import type { PeerOp, PeerReply, PeerRequest, PeerRequestOf } from './peer.js';

export type ConnectionKind = 'peer' | 'client';
export type ClientRole = 'read' | 'write' | 'admin';
export const CLIENT_ROLES: readonly ClientRole[] = ['read', 'write', 'admin'];

export interface ConnectionIdentity {
  /** What the connection has proven to be; a peer handshake turns a client connection into a peer one. */
  kind: ConnectionKind;
  /** The remote address as the server saw it (for logs and errors). */
  remote: string;
  /** True when the other end is on this host (loopback, or one of this host's own addresses). */
  local: boolean;
  /** The role a client's token gave it; undefined until a token is presented. */
  role: ClientRole | undefined;
  /** True when the node takes client tokens: then a client without a role may only ping and authenticate. */
  tokensRequired: boolean;
  /** True when the other end presented a TLS certificate that the node's CA signed. */
  certified: boolean;
}

/** A client connection as a server sees it before any handshake. */
export function newClientConnection(remote: string, local: boolean, options: { tokensRequired?: boolean; certified?: boolean } = {}): ConnectionIdentity {
  return { kind: 'client', remote, local, role: undefined, tokensRequired: options.tokensRequired ?? false, certified: options.certified ?? false };
}

/** Ops that set up the connection itself (authentication); answered by net/peer-auth.ts, open to all. */
const CONNECTION_OPS: ReadonlySet<Op> = new Set<Op>(['auth', 'peer.hello', 'peer.proof']);

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

/** The role each client op needs when the node takes tokens (`ping` needs none: health checks use it). */
const ROLE_NEEDED: Readonly<Record<ClientRequest['op'], ClientRole | undefined>> = {
  ping: undefined,
  stats: 'read',
  members: 'read',
  ring: 'read',
  get: 'read',
  scan: 'read',
  put: 'write',
  delete: 'write',
  import: 'write',
  leave: 'admin',
  remove: 'admin',
  reap: 'admin',
  repair: 'admin',
  'cluster.set': 'admin',
  'test.fault': 'admin',
};

/** Without tokens: ops taken only from the node's own host. */
const LOCAL_ONLY_OPS: ReadonlySet<Op> = new Set<Op>(['leave', 'remove', 'cluster.set', 'test.fault']);

export function isPeerRequest(request: Request): request is PeerRequest {
  return PEER_OPS.has(request.op);
}

export function isConnectionRequest(request: Request): request is ConnectionRequest {
  return CONNECTION_OPS.has(request.op);
}

function roleRank(role: ClientRole): number {
  return CLIENT_ROLES.indexOf(role);
}

/** Why `connection` may not run `op` (KV_FORBIDDEN or KV_AUTH_REQUIRED), or undefined when it may. */
export function opRefusal(op: Op, connection: ConnectionIdentity): KvError | undefined {
  if (CONNECTION_OPS.has(op) || connection.kind === 'peer') return undefined;
  if (PEER_OPS.has(op)) {
    return new KvError(
      'KV_FORBIDDEN',
      `op ${op} is for nodes of the cluster, which prove it with the cluster secret (peer handshake); this is a client connection`,
      {
        op,
      },
    );
  }
  const needed = ROLE_NEEDED[op as ClientRequest['op']];
  if (connection.tokensRequired) {
    if (needed === undefined) return undefined;
    if (connection.role === undefined) {
      return new KvError('KV_AUTH_REQUIRED', `this node serves only clients with a token: give --token-file (or KVCTL_TOKEN_FILE)`, { op });
    }
    if (roleRank(connection.role) < roleRank(needed)) {
      return new KvError('KV_FORBIDDEN', `op ${op} needs a token with the ${needed} role; this connection's token has the ${connection.role} role`, {
        op,
        role: connection.role,
        needed,
      });
    }
    return undefined;
  }
  if (LOCAL_ONLY_OPS.has(op) && !connection.local) {
    return new KvError(
      'KV_FORBIDDEN',
      `op ${op} changes the cluster and, on a node without client tokens, is taken only from the node's own host (${connection.remote} is not)`,
      { op },
    );
  }
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

/** Answers the connection ops (authentication) for a server; see net/peer-auth.ts. */
export interface ConnectionGate {
  answer(request: ConnectionRequest, connection: ConnectionIdentity): Record<string, unknown>;
}
