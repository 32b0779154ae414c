/**
 * Node settings: the embedded defaults, their environment variables, and their limits.
 * Every limit is explicit here, documented in `kvctl start --help` and the man page, and tested.
 */
import type { LogSettings } from './env/logger.js';

export { defaultLogSettings, type LogSettings } from './env/logger.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7070;

export interface Limits {
  /** Longest request or reply line on a socket, in bytes, newline excluded. */
  maxLineBytes: number;
  /** Longest key, in bytes after decoding (UTF-8 or base64). */
  maxKeyBytes: number;
  /** Longest value, in bytes after decoding. */
  maxValueBytes: number;
  /** Open client connections accepted at once; further ones get KV_TOO_MANY_CONNECTIONS. */
  maxConnections: number;
  /** Requests read from one connection and not yet answered; reading pauses above this. */
  maxInFlightPerConnection: number;
  /** Concurrent values one key may hold before writes without a context are refused. */
  maxSiblings: number;
  /**
   * Bytes of values one key's record may hold, its siblings together (see protocol/record-size.ts):
   * with the other limits, every record a node accepts fits one line to any peer and to a client.
   */
  maxRecordBytes: number;
  /**
   * Open peer connections (proven by the peer handshake) accepted at once, apart from client
   * connections. A peer proving itself when all are taken closes the least recently active idle
   * one; it is refused only when every one is busy.
   */
  maxPeerConnections: number;
  /**
   * Links this node opens to peers, open at once. A request to a peer with no link when all are
   * taken closes the least recently used idle one, or waits for one within its timeout.
   */
  maxPeerLinks: number;
  /**
   * A link to a peer with no request for this long is closed by this node (0: never); a peer's
   * connection to this node that carries nothing for twice as long is closed by this node too
   * (so the node that opened a link is the one that normally closes it).
   */
  peerIdleTimeoutMs: number;
  /**
   * Reply bytes one connection may hold: replies not yet flushed to its socket, and the replies its
   * running requests are expected to make (or their request lines, when larger). Beyond it, requests wait and
   * the connection is not read.
   */
  maxConnectionReplyBytes: number;
  /** The same, summed over every connection of the daemon; requests wait for room in FIFO order. */
  maxReplyBytes: number;
  /** Bytes of request lines read and not yet run (unfinished lines, lines waiting for room), over every connection. */
  maxInputBytes: number;
  /** A connection that stops in the middle of a request line for this long is closed (0: never). */
  readTimeoutMs: number;
  /** A connection that takes none of its pending replies for this long is closed (0: never). */
  sendTimeoutMs: number;
  /** A client connection with nothing pending and no bytes either way for this long is closed (0: never). */
  idleTimeoutMs: number;
}

export const defaultLimits: Limits = {
  // Room for the largest record's messages: 4/3 of 2 MiB in base64 plus metadata, ~2.8 MiB (protocol/record-size.ts).
  maxLineBytes: 4 * 1024 * 1024,
  maxKeyBytes: 4096,
  maxValueBytes: 1024 * 1024,
  maxConnections: 1024,
  maxInFlightPerConnection: 1024,
  maxSiblings: 64,
  maxRecordBytes: 2 * 1024 * 1024,
  maxPeerConnections: 256,
  // Half the peer connections a node accepts: with every node at its cap, a node gets 128 on average.
  maxPeerLinks: 128,
  peerIdleTimeoutMs: 60_000,
  maxConnectionReplyBytes: 16 * 1024 * 1024,
  maxReplyBytes: 64 * 1024 * 1024,
  maxInputBytes: 32 * 1024 * 1024,
  readTimeoutMs: 30_000,
  sendTimeoutMs: 30_000,
  idleTimeoutMs: 10 * 60_000,
};

export type CodecName = 'zlib' | 'brotli-wasm';

/** Chosen when the first node starts, gossiped, and checked when a node joins. */
/** Strict quorum (fail when too few of a key's own replicas are reachable) or sloppy (fallbacks stand in). */
export type Consistency = 'strict' | 'sloppy';

export interface ClusterSettings {
  /** Replicas per key. */
  n: number;
  /** Default acknowledgements a write waits for. */
  w: number;
  /** Default replies a read waits for. */
  r: number;
  /** strict: only a key's own N replicas count; sloppy: fallbacks stand in, with hints. */
  consistency: Consistency;
}

/**
 * A new cluster's settings unless flags choose: three copies of each key, majorities for W and R
 * (W+R>N: a read sees every write acknowledged before it). While the ring has fewer nodes than N,
 * each key lives on all of them and W and R are capped at that number.
 */
export const defaultClusterSettings: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };

/** A new cluster's settings from the flags given: N defaults to 3, W and R to a majority of N. */
export function clusterSettingsFrom(explicit: Partial<ClusterSettings>): ClusterSettings {
  const n = explicit.n ?? defaultClusterSettings.n;
  const majority = Math.floor(n / 2) + 1;
  return { n, w: explicit.w ?? majority, r: explicit.r ?? majority, consistency: explicit.consistency ?? defaultClusterSettings.consistency };
}

/** Largest N a cluster may run with: a key's clock and every reply stay small. */
export const MAX_REPLICAS = 16;

/**
 * In sloppy mode a replica that has not answered within this share of the request timeout counts
 * as failed for that request, and a stand-in is asked with the time left (strict mode has no
 * stand-in to ask: there a replica has the whole request timeout).
 */
export const REPLICA_DEADLINE_SHARE = 0.5;

/** How long a coordinator routes around a peer that just failed one of its requests (RecentFailures). */
export const RECENT_FAILURE_MS = 3000;

/** Gossip and failure detection; the defaults detect a dead node within about 3 s on loopback. */
export interface MembershipSettings {
  gossipIntervalMs: number;
  /** Peers each round's gossip goes to. */
  fanout: number;
  suspectAfterMs: number;
  downAfterMs: number;
}

export const defaultMembershipSettings: MembershipSettings = {
  gossipIntervalMs: 200,
  fanout: 3,
  suspectAfterMs: 1500,
  downAfterMs: 3000,
};

export interface NodeConfig {
  name: string;
  host: string;
  port: number;
  dataDir: string;
  cacheBytes: number;
  /** fsync every group commit before acknowledging (survives an OS crash, not only a process crash). */
  sync: boolean;
  codec: CodecName;
  /** Values shorter than this are stored raw: brotli saves too little on them for its fixed cost. */
  compressMinBytes: number;
  /** Brotli quality 0..11; 4 is the measured sweet spot of speed and ratio for JSON documents. */
  compressQuality: number;
  limits: Limits;
  /** Settings for a new cluster (ignored when joining, unless given explicitly: then checked). */
  cluster: ClusterSettings;
  /** Which cluster settings the operator gave explicitly (a join refuses to contradict them). */
  explicitClusterSettings: Partial<ClusterSettings>;
  /** Seeds to join through, host:port. */
  join: string[];
  weight: number;
  membership: MembershipSettings;
  /** How long a coordinator waits for replicas before answering KV_QUORUM_NOT_MET. */
  requestTimeoutMs: number;
  /** Address other nodes reach this one at (defaults to host:port). */
  advertise: string | undefined;
  hints: { maxBytesPerTarget: number; maxAgeMs: number; deliveryIntervalMs: number };
  antiEntropy: AntiEntropySettings;
  /** Enables the per-link fault switch (test.fault op). Never in production. */
  testingFaults: boolean;
  security: SecuritySettings;
  log: LogSettings;
  /** Where to serve Prometheus metrics over HTTP; off when undefined. */
  metrics?: { host: string; port: number };
}

/** Who may connect and how (files are read by the daemon when it starts). */
export interface SecuritySettings {
  /** The cluster secret peers prove they know (current line, then the previous one during a rotation). */
  secretFile: string | undefined;
  /** Client tokens with roles, one `ROLE TOKEN` a line; without it reads and writes are open. */
  clientTokenFile: string | undefined;
  /** TLS 1.3 for the listener and every peer connection. */
  tls: TlsFiles | undefined;
  /** Listen beyond loopback without the protection protected mode asks for. */
  insecure: boolean;
}

export interface TlsFiles {
  cert: string;
  key: string;
  /** The CA that signed every node's certificate: peers' certificates are checked against it. */
  ca: string;
  /** Peers must present a certificate from the CA (mutual TLS). */
  peerVerify: boolean;
}

export const defaultSecurity: SecuritySettings = { secretFile: undefined, clientTokenFile: undefined, tls: undefined, insecure: false };

/** True for addresses only this host can reach: loopback (127.0.0.0/8, ::1) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}

/**
 * Protected mode: why a daemon may not listen on `host` with these settings, or undefined. Beyond
 * loopback, peers must prove the cluster secret, and clients must present tokens or at least use
 * TLS; `insecure` accepts the risk (the daemon then says so in its log and in status).
 */
export function protectedModeProblem(host: string, security: SecuritySettings): string | undefined {
  if (isLoopbackHost(host) || security.insecure) return undefined;
  const missing: string[] = [];
  if (!security.secretFile)
    missing.push('--secret-file FILE (the same file on every node; make it with kvctl secret new > FILE) so only nodes of the cluster run node-to-node ops');
  if (!security.clientTokenFile && !security.tls) missing.push('--client-token-file FILE or --tls-cert/--tls-key/--tls-ca for clients');
  if (missing.length === 0) return undefined;
  return `--host ${host} takes connections from other hosts; protected mode needs ${missing.join(', and ')}; or --insecure on a network where every host is trusted`;
}

export interface AntiEntropySettings {
  /** Period of the background Merkle exchange with one random peer; 0 turns it off. */
  intervalMs: number;
  /** Keys transferred per second at most by the background exchange (kvctl repair is not limited). */
  maxKeysPerSecond: number;
  /** Tombstones older than this, held identically by every replica, are reaped. */
  tombstoneGraceMs: number;
}

export const defaultAntiEntropy: AntiEntropySettings = { intervalMs: 10_000, maxKeysPerSecond: 1000, tombstoneGraceMs: 24 * 60 * 60 * 1000 };
export const defaultHints = { maxBytesPerTarget: 64 * 1024 * 1024, maxAgeMs: 60 * 60 * 1000, deliveryIntervalMs: 1000 };

/** `host:port` -> parts; throws RangeError on anything else (the CLI turns it into KV_USAGE). */
export function parseAddr(addr: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(addr.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match?.[1] || port < 1 || port > 65535) {
    throw new RangeError(`address must be host:port with a port 1-65535, got "${addr}"`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/** True for the addresses that mean "every interface" (0.0.0.0, ::): fine to listen on, never an address to be reached at. */
export function isUnroutableHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || h === '0:0:0:0:0:0:0:0';
}

/**
 * Why a daemon cannot tell peers where it is, or undefined: an advertised address must be one a
 * peer can reach, and listening on every interface needs an --advertise saying which one.
 */
export function advertiseProblem(host: string, advertise: string | undefined): string | undefined {
  if (advertise !== undefined) {
    let advertised: { host: string };
    try {
      advertised = parseAddr(advertise);
    } catch (err) {
      return `--advertise: ${(err as Error).message}`;
    }
    return isUnroutableHost(advertised.host) ? `--advertise ${advertise} is no address a peer can reach: give this host's own address` : undefined;
  }
  if (isUnroutableHost(host))
    return `--host ${host} listens on every interface, so peers need to be told which address reaches this node: add --advertise HOST:PORT`;
  return undefined;
}

/** Environment variables, one per setting a user may want to fix for a shell session. */
export const envVars = {
  addr: 'KVCTL_ADDR',
  host: 'KVCTL_HOST',
  port: 'KVCTL_PORT',
  dataDir: 'KVCTL_DATA_DIR',
  name: 'KVCTL_NAME',
  cacheMb: 'KVCTL_CACHE_MB',
  secretFile: 'KVCTL_SECRET_FILE',
  tokenFile: 'KVCTL_TOKEN_FILE',
  tlsCa: 'KVCTL_TLS_CA',
} as const;

export function defaultAddr(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[envVars.addr];
  if (fromEnv) return fromEnv;
  const host = env[envVars.host] || DEFAULT_HOST;
  const port = env[envVars.port] || String(DEFAULT_PORT);
  return `${host}:${port}`;
}
