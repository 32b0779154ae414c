/**
 * `kvctl start`: turns flags into daemon configs and starts one daemon, or K daemons on
 * consecutive free ports as one local cluster (the first creates it, the others join it).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  type ClusterSettings,
  type CodecName,
  clusterSettingsFrom,
  dataHome,
  defaultDataDir,
  defaultHints,
  defaultLimits,
  defaultMembershipSettings,
  type NodeConfig,
} from '../config.js';
import { clearStalePidFile, defaultNodeName, type StartedDaemon, startDaemon } from '../daemon/control.js';
import { KvError } from '../errors.js';

export interface StartFlags {
  host: string;
  port: number;
  'data-dir'?: string;
  name?: string;
  join?: string;
  nodes?: number;
  weight: number;
  n?: number;
  w?: number;
  r?: number;
  consistency?: string;
  advertise?: string;
  'gossip-interval-ms': number;
  'down-after-ms': number;
  'request-timeout-ms': number;
  'cache-mb': number;
  sync: boolean;
  codec: string;
  'compress-min-bytes': number;
  'max-line-bytes': number;
  'max-key-bytes': number;
  'max-value-bytes': number;
  'max-connections': number;
  'max-siblings': number;
  'hint-max-mb': number;
  'hint-max-age-ms': number;
  'anti-entropy-interval-ms': number;
  'anti-entropy-keys-per-sec': number;
  'tombstone-grace-ms': number;
  'testing-faults': boolean;
}

function explicitSettings(flags: StartFlags): Partial<ClusterSettings> {
  const out: Partial<ClusterSettings> = {};
  if (flags.n !== undefined) out.n = flags.n;
  if (flags.w !== undefined) out.w = flags.w;
  if (flags.r !== undefined) out.r = flags.r;
  if (flags.consistency !== undefined) out.consistency = flags.consistency as ClusterSettings['consistency'];
  return out;
}

function config(
  flags: StartFlags,
  over: { name: string; nameGiven: boolean; port: number; dataDir: string; join: string[]; cluster: ClusterSettings },
): NodeConfig & { nameGiven: boolean } {
  const { n, w, r } = over.cluster;
  if (w > n || r > n) throw new KvError('KV_USAGE', `W (${w}) and R (${r}) must not exceed N (${n})`);
  if (flags['tombstone-grace-ms'] < flags['hint-max-age-ms']) {
    // Otherwise a hint written before a delete could arrive after its tombstone was reaped.
    throw new KvError('KV_USAGE', `--tombstone-grace-ms (${flags['tombstone-grace-ms']}) must be at least --hint-max-age-ms (${flags['hint-max-age-ms']})`);
  }
  return {
    ...over,
    host: flags.host,
    cacheBytes: flags['cache-mb'] * 1024 * 1024,
    sync: flags.sync,
    codec: flags.codec as CodecName,
    compressMinBytes: flags['compress-min-bytes'],
    compressQuality: 4,
    limits: {
      ...defaultLimits,
      maxLineBytes: flags['max-line-bytes'],
      maxKeyBytes: flags['max-key-bytes'],
      maxValueBytes: flags['max-value-bytes'],
      maxConnections: flags['max-connections'],
      maxSiblings: flags['max-siblings'],
    },
    explicitClusterSettings: explicitSettings(flags),
    weight: flags.weight,
    membership: {
      ...defaultMembershipSettings,
      gossipIntervalMs: flags['gossip-interval-ms'],
      downAfterMs: flags['down-after-ms'],
      suspectAfterMs: Math.floor(flags['down-after-ms'] / 2),
    },
    requestTimeoutMs: flags['request-timeout-ms'],
    advertise: flags.advertise,
    hints: { ...defaultHints, maxBytesPerTarget: flags['hint-max-mb'] * 1024 * 1024, maxAgeMs: flags['hint-max-age-ms'] },
    antiEntropy: {
      intervalMs: flags['anti-entropy-interval-ms'],
      maxKeysPerSecond: flags['anti-entropy-keys-per-sec'],
      tombstoneGraceMs: flags['tombstone-grace-ms'],
    },
    testingFaults: flags['testing-faults'],
  };
}

function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first run of `count` free consecutive ports at or after `base`. */
async function freePortRun(host: string, base: number, count: number): Promise<number> {
  for (let start = base; start + count - 1 <= 65535; start++) {
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portIsFree(host, start + i);
    if (ok) return start;
  }
  throw new KvError('KV_PORT_IN_USE', `no ${count} consecutive free ports at or after ${base}`);
}

export async function startNodes(flags: StartFlags, note: (text: string) => void): Promise<{ nodes: StartedDaemon[] }> {
  const seeds = flags.join
    ? flags.join
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  if (!flags.nodes) {
    const dataDir = flags['data-dir'] ?? defaultDataDir();
    if (clearStalePidFile(dataDir)) note(`removed a stale pid file in ${dataDir} (the previous daemon had exited)`);
    const cluster = clusterSettingsFrom(explicitSettings(flags));
    const name = flags.name ?? defaultNodeName(flags.port);
    return { nodes: [await startDaemon(config(flags, { name, nameGiven: flags.name !== undefined, port: flags.port, dataDir, join: seeds, cluster }))] };
  }
  const count = flags.nodes;
  const base = flags['data-dir'] ?? join(dataHome(), 'kvctl', 'local-cluster');
  const firstPort = flags.port === 0 ? 0 : await freePortRun(flags.host, flags.port, count);
  const cluster = clusterSettingsFrom(explicitSettings(flags));
  const nodes: StartedDaemon[] = [];
  for (let i = 1; i <= count; i++) {
    const dataDir = join(base, `node${i}`);
    clearStalePidFile(dataDir);
    const name = `${flags.name ?? 'node'}${i}`;
    const join_ = i === 1 ? seeds : [(nodes[0] as StartedDaemon).addr];
    const port = firstPort === 0 ? 0 : firstPort + i - 1;
    nodes.push(await startDaemon(config(flags, { name, nameGiven: true, port, dataDir, join: join_, cluster })));
  }
  return { nodes };
}
