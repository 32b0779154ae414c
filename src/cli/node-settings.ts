/**
 * A node's settings: the `kvctl start` flags that shape one node (address, name, seeds, weight,
 * limits, cache, sync, codec, timers). They are kept in the node's data dir (node.json) so that
 * `kvctl start --data-dir D` brings the node back exactly as it was. Precedence, highest first: a
 * flag typed on the command line (then saved), the saved value, an environment variable, the
 * embedded default. Cluster settings (N, W, R, consistency) are not node settings: they belong to
 * the cluster and live with its identity in the store.
 */
import { Flags, type Interfaces } from '@oclif/core';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  defaultAntiEntropy,
  defaultHints,
  defaultLimits,
  defaultLogSettings,
  defaultMembershipSettings,
  envVars,
} from '../config.js';
import { LOG_LEVELS } from '../env/logger.js';
import { KvError } from '../errors.js';
import { largestRecordLineBytes } from '../protocol/record-size.js';

/** What the largest record's messages take beyond 4/3 of its values, in KiB, with the default limits (for the help text). */
const RECORD_OVERHEAD_KIB = (largestRecordLineBytes(defaultLimits) - (4 * defaultLimits.maxRecordBytes) / 3) / 1024;

/** The smallest log cap: room for a line with its fixed fields and a long node name. */
const MIN_LOG_MAX_BYTES = 4096;

export const nodeSettingFlags = {
  host: Flags.string({ description: 'Address to listen on', env: envVars.host, default: DEFAULT_HOST }),
  port: Flags.integer({
    description: 'TCP port (0: any free port, then kept); with --nodes, the first of K consecutive ports',
    env: envVars.port,
    default: DEFAULT_PORT,
    min: 0,
    max: 65535,
  }),
  name: Flags.string({ description: 'Node name, kept in the data dir [default: <hostname>-<port>; with --nodes: node1..K]', env: envVars.name }),
  join: Flags.string({ description: 'Seeds to join through, host:port[,host:port]', helpGroup: 'CLUSTER' }),
  weight: Flags.integer({
    description: "Capacity relative to other nodes (the node's share of virtual nodes)",
    default: 1,
    min: 1,
    max: 64,
    helpGroup: 'CLUSTER',
  }),
  advertise: Flags.string({ description: 'Address other nodes reach this one at [default: host:port]', helpGroup: 'CLUSTER' }),
  'gossip-interval-ms': Flags.integer({
    description: 'Gossip period: each round probes one member',
    default: defaultMembershipSettings.gossipIntervalMs,
    min: 10,
    helpGroup: 'CLUSTER',
  }),
  'down-after-ms': Flags.integer({
    description: 'A node that stops answering probes is suspect after half of this and down after it (longer above 10 nodes, and while no other node confirms)',
    default: defaultMembershipSettings.downAfterMs,
    min: 50,
    helpGroup: 'CLUSTER',
  }),
  'request-timeout-ms': Flags.integer({ description: 'How long a coordinator waits for replicas', default: 2000, min: 10, helpGroup: 'CLUSTER' }),
  'hint-max-mb': Flags.integer({
    description: 'Hints kept per down node, MiB; beyond it writes are not hinted (anti-entropy repairs later)',
    default: 64,
    min: 1,
    helpGroup: 'FAILURE HANDLING',
  }),
  'hint-max-age-ms': Flags.integer({
    description: 'Hints older than this are dropped and left to anti-entropy',
    default: defaultHints.maxAgeMs,
    min: 1,
    helpGroup: 'FAILURE HANDLING',
  }),
  'anti-entropy-interval-ms': Flags.integer({
    description: 'Background Merkle exchange with a random peer every this often (0: off)',
    default: defaultAntiEntropy.intervalMs,
    min: 0,
    helpGroup: 'FAILURE HANDLING',
  }),
  'anti-entropy-keys-per-sec': Flags.integer({
    description: 'Rate limit of the background exchange, keys transferred per second',
    default: defaultAntiEntropy.maxKeysPerSecond,
    min: 1,
    helpGroup: 'FAILURE HANDLING',
  }),
  'tombstone-grace-ms': Flags.integer({
    description: 'Tombstones are reaped once this old and held by every replica',
    default: defaultAntiEntropy.tombstoneGraceMs,
    min: 0,
    helpGroup: 'FAILURE HANDLING',
  }),
  'testing-faults': Flags.boolean({
    description: 'Enable the per-link fault switch (test.fault op) for partition tests; never in production',
    default: false,
    allowNo: true,
    helpGroup: 'FAILURE HANDLING',
  }),
  'secret-file': Flags.string({
    description: 'The cluster secret: nodes prove they know it before any node-to-node op (kvctl secret new > FILE; the same file on every node)',
    env: envVars.secretFile,
    helpGroup: 'SECURITY',
  }),
  'client-token-file': Flags.string({
    description: 'Clients must present a token from this file (lines of ROLE TOKEN; roles read, write, admin)',
    helpGroup: 'SECURITY',
  }),
  'tls-cert': Flags.string({ description: "This node's TLS certificate (PEM): the listener and every peer connection use TLS 1.3", helpGroup: 'SECURITY' }),
  'tls-key': Flags.string({ description: "This node's TLS private key (PEM)", helpGroup: 'SECURITY' }),
  'tls-ca': Flags.string({ description: 'The CA that signed every node’s certificate (PEM)', helpGroup: 'SECURITY' }),
  'tls-peer-verify': Flags.boolean({
    description: 'Peers must present a certificate from --tls-ca (mutual TLS)',
    default: false,
    allowNo: true,
    helpGroup: 'SECURITY',
  }),
  insecure: Flags.boolean({
    description: 'Listen beyond loopback without a secret, tokens or TLS (a warning in the log and in status)',
    default: false,
    allowNo: true,
    helpGroup: 'SECURITY',
  }),
  'metrics-port': Flags.integer({
    description:
      'Serve Prometheus metrics over HTTP at GET /metrics on this port (0: any free port, then kept); with --nodes, the first of K consecutive ports [default: off]',
    min: 0,
    max: 65535,
    helpGroup: 'MONITORING',
  }),
  'metrics-host': Flags.string({ description: 'Address the metrics endpoint listens on [default: --host]', helpGroup: 'MONITORING' }),
  'cache-mb': Flags.integer({ description: 'Memory budget of the hot-value cache, MiB (0: no cache)', env: envVars.cacheMb, default: 64, min: 0 }),
  sync: Flags.boolean({ description: 'fsync each group commit before acknowledging writes', default: false, allowNo: true }),
  codec: Flags.string({ description: 'Brotli implementation for values', options: ['zlib', 'brotli-wasm'], default: 'zlib' }),
  'compress-min-bytes': Flags.integer({
    description: 'Values shorter than this are stored as they come: smaller ones compress better in LevelDB blocks than one by one',
    default: 4096,
    min: 0,
  }),
  'log-level': Flags.string({
    description: 'Lines of the log below this level are not written',
    options: [...LOG_LEVELS],
    default: defaultLogSettings.level,
    helpGroup: 'LOGS',
  }),
  'log-max-bytes': Flags.integer({
    description: `The log (kvctl.log in the data dir) is rotated before it grows past this: kvctl.log -> kvctl.log.1 -> kvctl.log.2 ...; the logs take at most --log-max-bytes x (--log-files + 1) of disk`,
    default: defaultLogSettings.maxBytes,
    min: MIN_LOG_MAX_BYTES,
    helpGroup: 'LOGS',
  }),
  'log-files': Flags.integer({
    description: 'Rotated log files kept; the oldest is deleted (0: none, the log starts over at the cap)',
    default: defaultLogSettings.files,
    min: 0,
    max: 100,
    helpGroup: 'LOGS',
  }),
  'max-line-bytes': Flags.integer({
    description: 'Longest request or reply line; longer closes the connection. Must hold the largest record: see --max-record-bytes',
    default: defaultLimits.maxLineBytes,
    min: 64,
    helpGroup: 'LIMITS',
  }),
  'max-key-bytes': Flags.integer({ description: 'Longest key', default: defaultLimits.maxKeyBytes, min: 1, helpGroup: 'LIMITS' }),
  'max-value-bytes': Flags.integer({ description: 'Longest value', default: defaultLimits.maxValueBytes, min: 0, helpGroup: 'LIMITS' }),
  'max-connections': Flags.integer({ description: 'Client connections open at once', default: defaultLimits.maxConnections, min: 1, helpGroup: 'LIMITS' }),
  'max-siblings': Flags.integer({ description: 'Concurrent values one key may hold', default: defaultLimits.maxSiblings, min: 1, helpGroup: 'LIMITS' }),
  'max-record-bytes': Flags.integer({
    description: `Bytes of values one key may hold, its siblings together; a write over it gets KV_RECORD_TOO_LARGE. The largest record's messages must fit --max-line-bytes (about 4/3 of this plus ${Math.round(RECORD_OVERHEAD_KIB)} KiB) [default: ${defaultLimits.maxRecordBytes}, or what --max-line-bytes holds if less]`,
    min: 1,
    helpGroup: 'LIMITS',
  }),
  'max-peer-connections': Flags.integer({
    description:
      'Peer connections open at once, apart from clients (a connection counts as a peer once it proves the cluster secret); one more closes the least recently active idle one, and is refused only when all are busy',
    default: defaultLimits.maxPeerConnections,
    min: 1,
    helpGroup: 'LIMITS',
  }),
  'max-peer-links': Flags.integer({
    description:
      'Links this node opens to peers, open at once; a request to a peer with none closes the least recently used idle one, or waits for one within its timeout (then KV_UNREACHABLE, not sent)',
    default: defaultLimits.maxPeerLinks,
    min: 1,
    helpGroup: 'LIMITS',
  }),
  'peer-idle-timeout-ms': Flags.integer({
    description:
      "Close a link to a peer with no request for this long; a peer's connection to this node carrying nothing for twice as long is closed too (0: never)",
    default: defaultLimits.peerIdleTimeoutMs,
    min: 0,
    helpGroup: 'LIMITS',
  }),
  'max-connection-reply-bytes': Flags.integer({
    description: 'Reply bytes one connection may hold unsent or in the making; beyond it its requests wait and it is not read',
    default: defaultLimits.maxConnectionReplyBytes,
    min: 65536,
    helpGroup: 'LIMITS',
  }),
  'max-reply-bytes': Flags.integer({
    description: 'Reply bytes all connections together may hold unsent or in the making; beyond it requests wait their turn',
    default: defaultLimits.maxReplyBytes,
    min: 65536,
    helpGroup: 'LIMITS',
  }),
  'max-input-bytes': Flags.integer({
    description: 'Bytes of unfinished or waiting request lines held over all connections; beyond it connections sending long lines wait',
    default: defaultLimits.maxInputBytes,
    min: 65536,
    helpGroup: 'LIMITS',
  }),
  'read-timeout-ms': Flags.integer({
    description: 'Close a connection that sends part of a request line and then nothing for this long (0: never)',
    default: defaultLimits.readTimeoutMs,
    min: 0,
    helpGroup: 'LIMITS',
  }),
  'send-timeout-ms': Flags.integer({
    description: 'Close a connection that takes none of its pending replies for this long (0: never)',
    default: defaultLimits.sendTimeoutMs,
    min: 0,
    helpGroup: 'LIMITS',
  }),
  'idle-timeout-ms': Flags.integer({
    description: 'Close a client connection with nothing pending and no bytes either way for this long (0: never; peers: --peer-idle-timeout-ms)',
    default: defaultLimits.idleTimeoutMs,
    min: 0,
    helpGroup: 'LIMITS',
  }),
};

export type NodeSettingName = keyof typeof nodeSettingFlags;
export type NodeSettings = Omit<Interfaces.InferredFlags<typeof nodeSettingFlags>, 'json'>;

export const NODE_SETTING_NAMES = Object.keys(nodeSettingFlags) as NodeSettingName[];

/** Settings that differ from node to node of one cluster: `start --cluster` cannot set them for all. */
export const PER_NODE_SETTINGS: readonly NodeSettingName[] = ['port', 'name', 'advertise', 'join', 'metrics-port'];

/**
 * The settings a node starts with: each flag typed on the command line (`given`) wins, then the
 * saved value, then what the flags hold otherwise (an environment variable or the default). Pure.
 */
export function resolveNodeSettings(flags: NodeSettings, given: ReadonlySet<string>, saved: Partial<NodeSettings> | undefined): NodeSettings {
  const out: Record<string, unknown> = {};
  for (const name of NODE_SETTING_NAMES) {
    const keep = !given.has(name) && saved?.[name] !== undefined;
    const value = keep ? saved?.[name] : flags[name];
    if (value !== undefined) out[name] = value;
  }
  return out as NodeSettings;
}

/** The names of the flags typed on the command line (oclif's raw tokens; env and defaults are not tokens). */
export function givenFlags(raw: readonly { type: string; flag?: string }[]): Set<string> {
  return new Set(raw.flatMap((token) => (token.type === 'flag' && token.flag !== undefined ? [token.flag] : [])));
}

interface FlagShape {
  type: 'boolean' | 'option';
  options?: readonly string[];
  parse: (input: string, context: unknown, options: unknown) => Promise<unknown>;
}

/**
 * Checks saved settings (a hand-edited node.json is input too) by the rules of the flags
 * themselves: known names, right JSON types, ranges and options. Throws KV_START_FAILED naming the
 * file and the setting.
 */
export async function checkSavedSettings(raw: Record<string, unknown>, file: string): Promise<Partial<NodeSettings>> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const bad = (why: string) => new KvError('KV_START_FAILED', `${file}: setting "${name.slice(0, 64)}" ${why}; fix or delete it`, { file, setting: name });
    if (!Object.hasOwn(nodeSettingFlags, name)) throw bad('is not a node setting');
    const flag = nodeSettingFlags[name as NodeSettingName] as unknown as FlagShape;
    if (flag.type === 'boolean') {
      if (typeof value !== 'boolean') throw bad('must be true or false');
      out[name] = value;
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw bad('must be a string or a number');
    let parsed: unknown;
    try {
      parsed = await flag.parse(String(value), undefined, flag);
    } catch (err) {
      throw bad(`is invalid: ${(err as Error).message}`);
    }
    if (typeof parsed !== typeof value) throw bad(`must be a ${typeof parsed}`);
    if (flag.options && !flag.options.includes(parsed as string)) throw bad(`must be one of ${flag.options.join(', ')}`);
    out[name] = parsed;
  }
  return out as Partial<NodeSettings>;
}
