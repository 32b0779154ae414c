/**
 * Authentication on a connection: the peer handshake (both ends prove they know the cluster
 * secret) and client tokens.
 *
 * The peer handshake, two round trips on a fresh connection:
 *   1. the connecting node sends `peer.hello` with its name, the cluster id it knows ('' while
 *      joining) and a fresh nonce; the server answers with its name, its cluster id and a fresh
 *      nonce of its own;
 *   2. the connecting node sends `peer.proof`: HMAC-SHA256, under each secret it holds (current,
 *      then previous), of both nonces, the cluster id and both names; the server checks it against
 *      each secret it holds, marks the connection as a peer, and answers with its own HMAC under the
 *      secret that matched, which the connecting node checks in turn. With `frames: true` in its
 *      proof, the connection carries binary frames from then on (net/peer-frames.ts).
 * The secret never crosses the wire. Both nonces are fresh per connection, so a recorded handshake
 * proves nothing on another connection; the two proofs carry different labels, so one side's proof
 * cannot be reflected back as the other's. Holding two secrets lets a rotation roll through the
 * cluster one node at a time. A node without a configured secret uses the empty one: any process
 * that reaches it can be a peer, which protected mode allows only on loopback.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { ConnectionRequest } from '../protocol/client.js';
import type { ConnectionGate, ConnectionIdentity } from '../protocol/connection.js';
import type { TokenTable } from './credentials.js';
import { parseBytes } from './fields.js';
import { NONCE_BYTES, PEER_PROTOCOL_VERSION, PROOF_BYTES } from './protocol.js';

/** The secrets a node holds, current first. Empty: no secret configured (the empty key). */
export type PeerSecrets = readonly Buffer[];

/** A node as the handshake names it. */
export interface PeerSelf {
  name: string;
  /** The cluster's id; '' while a node is joining and does not know it yet. */
  cluster: string;
}

interface Transcript {
  clientNonce: Buffer;
  serverNonce: Buffer;
  cluster: string;
  client: string;
  server: string;
}

const NO_SECRET = Buffer.alloc(0);

function keysOf(secrets: PeerSecrets): readonly Buffer[] {
  return secrets.length > 0 ? secrets : [NO_SECRET];
}

/** The HMAC one side sends: labelled by side, over both nonces, the cluster and both names. */
export function peerProof(secret: Buffer, side: 'client' | 'server', t: Transcript): Buffer {
  const text = JSON.stringify([
    'kvctl peer handshake',
    PEER_PROTOCOL_VERSION,
    side,
    t.clientNonce.toString('base64'),
    t.serverNonce.toString('base64'),
    t.cluster,
    t.client,
    t.server,
  ]);
  return createHmac('sha256', secret).update(text, 'utf8').digest();
}

/** The secret among `secrets` under which `proof` is the side's HMAC, or undefined. Every comparison is constant-time. */
function matchingSecret(secrets: PeerSecrets, proofs: readonly Buffer[], side: 'client' | 'server', t: Transcript): Buffer | undefined {
  let found: Buffer | undefined;
  for (const secret of keysOf(secrets)) {
    const expected = peerProof(secret, side, t);
    for (const proof of proofs) if (proof.length === expected.length && timingSafeEqual(proof, expected)) found ??= secret;
  }
  return found;
}

export interface AuthenticatorOptions {
  secrets: PeerSecrets;
  /** Client tokens, when the node takes them. */
  tokens: TokenTable | undefined;
  /** This node's name and cluster, once known (undefined while it starts). */
  self: () => PeerSelf | undefined;
  randomBytes: (n: number) => Buffer;
  /** Peers must have presented a TLS certificate from the node's CA (mutual TLS). */
  requireCertificate: boolean;
  /** Failed attempts are logged: an operator sees a misconfigured node or a probe. */
  onFailure: (what: string, fields: Record<string, unknown>) => void;
}

/** The server's side: answers `auth`, `peer.hello` and `peer.proof` and raises the connection's kind or role. */
export class ConnectionAuthenticator implements ConnectionGate {
  /** Handshakes between their two steps, per connection. */
  private readonly pending = new WeakMap<ConnectionIdentity, Transcript>();

  constructor(private readonly o: AuthenticatorOptions) {}

  get tokensRequired(): boolean {
    return this.o.tokens !== undefined;
  }

  answer(request: ConnectionRequest, connection: ConnectionIdentity): Record<string, unknown> {
    switch (request.op) {
      case 'auth':
        return this.token(request.token, connection);
      case 'peer.hello':
        return this.hello(request, connection);
      case 'peer.proof':
        return this.proof(request.proofs, connection);
    }
  }

  private token(token: string, connection: ConnectionIdentity): Record<string, unknown> {
    if (!this.o.tokens) return { tokens: false };
    const role = this.o.tokens.roleOf(token);
    if (role === undefined) {
      this.o.onFailure('client token refused', { remote: connection.remote });
      throw new KvError('KV_AUTH_FAILED', 'this node does not know that token: check --token-file');
    }
    connection.role = role;
    return { tokens: true, role };
  }

  private hello(request: Extract<ConnectionRequest, { op: 'peer.hello' }>, connection: ConnectionIdentity): Record<string, unknown> {
    if (connection.kind === 'peer') throw new KvError('KV_BAD_REQUEST', 'this connection has already authenticated as a peer');
    const self = this.o.self();
    if (!self) throw new KvError('KV_SHUTTING_DOWN', 'this node is still starting; try again');
    if (request.cluster !== '' && request.cluster !== self.cluster) {
      this.o.onFailure('peer of another cluster refused', { remote: connection.remote, node: request.node, cluster: request.cluster });
      throw new KvError('KV_CLUSTER_MISMATCH', `node ${request.node} belongs to cluster ${request.cluster}; this node belongs to cluster ${self.cluster}`, {
        theirs: request.cluster,
        ours: self.cluster,
      });
    }
    const serverNonce = this.o.randomBytes(NONCE_BYTES);
    this.pending.set(connection, { clientNonce: request.nonce, serverNonce, cluster: self.cluster, client: request.node, server: self.name });
    return { version: PEER_PROTOCOL_VERSION, node: self.name, cluster: self.cluster, nonce: serverNonce.toString('base64') };
  }

  private proof(proofs: readonly Buffer[], connection: ConnectionIdentity): Record<string, unknown> {
    const transcript = this.pending.get(connection);
    if (!transcript) throw new KvError('KV_BAD_REQUEST', 'peer.proof comes after peer.hello on the same connection');
    this.pending.delete(connection); // one proof per hello: a new attempt needs a fresh nonce
    const refuse = (why: string): never => {
      this.o.onFailure('peer handshake refused', { remote: connection.remote, node: transcript.client, why });
      throw new KvError('KV_AUTH_FAILED', `node ${transcript.server} refused node ${transcript.client}: ${why}`, { node: transcript.server });
    };
    if (this.o.requireCertificate && !connection.certified) refuse('peers must present a TLS certificate signed by this cluster’s CA (--tls-peer-verify)');
    const secret = matchingSecret(this.o.secrets, proofs, 'client', transcript);
    if (!secret) return refuse('its proof does not match this node’s cluster secret (check --secret-file on both nodes)');
    connection.kind = 'peer';
    return { proof: peerProof(secret, 'server', transcript).toString('base64') };
  }
}

/** What a connecting node needs for the handshake. */
export interface PeerHandshake {
  secrets: PeerSecrets;
  /** This node's name, and its cluster id ('' while joining). */
  self: () => PeerSelf;
  randomBytes: (n: number) => Buffer;
}

/**
 * The connecting side: runs the handshake over `request` and resolves the other node's name and
 * cluster once it has proven it knows a secret this node holds. Throws KV_AUTH_FAILED when either
 * side's proof fails, KV_CLUSTER_MISMATCH when the other node belongs to another cluster.
 */
export async function provePeer(
  request: (body: Record<string, unknown>) => Promise<Record<string, unknown>>,
  h: PeerHandshake,
  addr: string,
  /** Ask that the connection carry binary frames once the handshake succeeded (a node's peer link does). */
  frames = true,
): Promise<PeerSelf> {
  const self = h.self();
  const clientNonce = h.randomBytes(NONCE_BYTES);
  const hello = await request({
    op: 'peer.hello',
    version: PEER_PROTOCOL_VERSION,
    node: self.name,
    cluster: self.cluster,
    nonce: clientNonce.toString('base64'),
  });
  const malformed = () => new KvError('KV_BAD_REQUEST', `the node at ${addr} answered the peer handshake with a malformed reply`, { addr });
  if (hello.version !== PEER_PROTOCOL_VERSION) {
    throw new KvError(
      'KV_BAD_REQUEST',
      `the node at ${addr} speaks peer protocol version ${JSON.stringify(hello.version)?.slice(0, 32)}; this node speaks peer protocol version ${PEER_PROTOCOL_VERSION}`,
      { addr, version: PEER_PROTOCOL_VERSION },
    );
  }
  if (typeof hello.node !== 'string' || hello.node.length === 0 || typeof hello.cluster !== 'string') throw malformed();
  if (self.cluster !== '' && hello.cluster !== self.cluster) {
    throw new KvError('KV_CLUSTER_MISMATCH', `the node at ${addr} belongs to cluster ${hello.cluster}; this node belongs to cluster ${self.cluster}`, {
      addr,
      theirs: hello.cluster,
      ours: self.cluster,
    });
  }
  let serverNonce: Buffer;
  try {
    serverNonce = parseBytes(hello.nonce, 'nonce', 'base64');
  } catch {
    throw malformed();
  }
  if (serverNonce.length !== NONCE_BYTES) throw malformed();
  const transcript: Transcript = { clientNonce, serverNonce, cluster: hello.cluster, client: self.name, server: hello.node };
  const proofs = keysOf(h.secrets).map((secret) => peerProof(secret, 'client', transcript).toString('base64'));
  const answer = await request({ op: 'peer.proof', proofs, ...(frames ? { frames: true } : {}) });
  let serverProof: Buffer | undefined;
  try {
    serverProof = isJsonObject(answer) ? parseBytes(answer.proof, 'proof', 'base64') : undefined;
  } catch {
    serverProof = undefined;
  }
  if (!serverProof || serverProof.length !== PROOF_BYTES || !matchingSecret(h.secrets, [serverProof], 'server', transcript)) {
    throw new KvError(
      'KV_AUTH_FAILED',
      `the node at ${addr} (${hello.node}) could not prove it knows this cluster's secret (check --secret-file on both nodes)`,
      {
        addr,
      },
    );
  }
  return { name: hello.node, cluster: hello.cluster };
}
