/**
 * `kvctl start`: one daemon with the settings kept in its data dir (see node-settings.ts); a new
 * local cluster of K daemons on K consecutive ports (`--nodes K`: the first creates the cluster,
 * the others join it); or every node of an existing local cluster again (`--cluster`). Each node's
 * settings are saved once it runs, with the port it got.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type ClusterSettings,
  type CodecName,
  clusterSettingsFrom,
  defaultHints,
  defaultLimits,
  defaultMembershipSettings,
  type Limits,
  type NodeConfig,
  type SecuritySettings,
} from '../config.js';
import { clearStalePidFile, defaultNodeName, type StartedDaemon, startDaemon, stopProcess } from '../daemon/control.js';
import { daemonPaths, defaultDataDir } from '../daemon/paths.js';
import { readSettingsFile, writeSettingsFile } from '../daemon/settings-file.js';
import type { LogLevel } from '../env/logger.js';
import { KvError } from '../errors.js';
import { MAX_MEMBER_NAME_CHARS } from '../membership/member-wire.js';
import { newSecret } from '../net/credentials.js';
import { recordBytesFitting, recordLimitsProblem } from '../protocol/record-size.js';
import { DEFAULT_COMPRESS_QUALITY } from '../storage/codec.js';
import { checkPortsFree, defaultClusterDir, describeRunning, listLocalNodes, localNodeDir, runningPid } from './local-cluster.js';
import { checkSavedSettings, type NodeSettings, PER_NODE_SETTINGS, resolveNodeSettings } from './node-settings.js';

export interface StartFlags extends NodeSettings {
  'data-dir'?: string;
  nodes?: number;
  cluster?: boolean;
  n?: number;
  w?: number;
  r?: number;
  consistency?: string;
}

export interface StartedNode extends StartedDaemon {
  /** Set when `start --cluster` found this node running and left it alone. */
  alreadyRunning?: true;
}

export interface StartResult {
  /** The local cluster's directory (with --nodes or --cluster). */
  clusterDir?: string;
  nodes: StartedNode[];
}

function explicitSettings(flags: StartFlags): Partial<ClusterSettings> {
  const out: Partial<ClusterSettings> = {};
  if (flags.n !== undefined) out.n = flags.n;
  if (flags.w !== undefined) out.w = flags.w;
  if (flags.r !== undefined) out.r = flags.r;
  if (flags.consistency !== undefined) out.consistency = flags.consistency as ClusterSettings['consistency'];
  return out;
}

function nodeConfig(s: NodeSettings, dataDir: string, cluster: ClusterSettings, explicit: Partial<ClusterSettings>): NodeConfig & { nameGiven: boolean } {
  const { n, w, r } = cluster;
  const name = s.name ?? defaultNodeName(s.port);
  if (name.length === 0 || name.length > MAX_MEMBER_NAME_CHARS) {
    throw new KvError('KV_USAGE', `a node name is 1 to ${MAX_MEMBER_NAME_CHARS} characters (${name.length} given): peers refuse longer ones`);
  }
  if (w > n || r > n) throw new KvError('KV_USAGE', `W (${w}) and R (${r}) must not exceed N (${n})`);
  if (s['tombstone-grace-ms'] < s['hint-max-age-ms']) {
    // Otherwise a hint written before a delete could arrive after its tombstone was reaped.
    throw new KvError('KV_USAGE', `--tombstone-grace-ms (${s['tombstone-grace-ms']}) must be at least --hint-max-age-ms (${s['hint-max-age-ms']})`);
  }
  return {
    name,
    nameGiven: s.name !== undefined,
    host: s.host,
    port: s.port,
    dataDir,
    join: (s.join ?? '')
      .split(',')
      .map((seed) => seed.trim())
      .filter(Boolean),
    cluster,
    explicitClusterSettings: explicit,
    cacheBytes: s['cache-mb'] * 1024 * 1024,
    sync: s.sync,
    codec: s.codec as CodecName,
    compressMinBytes: s['compress-min-bytes'],
    compressQuality: DEFAULT_COMPRESS_QUALITY,
    limits: nodeLimits(s),
    weight: s.weight,
    membership: {
      ...defaultMembershipSettings,
      gossipIntervalMs: s['gossip-interval-ms'],
      downAfterMs: s['down-after-ms'],
      suspectAfterMs: Math.floor(s['down-after-ms'] / 2),
    },
    requestTimeoutMs: s['request-timeout-ms'],
    advertise: s.advertise,
    hints: { ...defaultHints, maxBytesPerTarget: s['hint-max-mb'] * 1024 * 1024, maxAgeMs: s['hint-max-age-ms'] },
    antiEntropy: {
      intervalMs: s['anti-entropy-interval-ms'],
      maxKeysPerSecond: s['anti-entropy-keys-per-sec'],
      tombstoneGraceMs: s['tombstone-grace-ms'],
    },
    testingFaults: s['testing-faults'],
    security: securitySettings(s),
    log: { level: s['log-level'] as LogLevel, maxBytes: s['log-max-bytes'], files: s['log-files'] },
    ...metricsSettings(s),
  };
}

/**
 * The limits from the flags, checked together: every record a node accepts must fit one line to a
 * peer and to a client (protocol/record-size.ts). Without --max-record-bytes, the default, or what
 * --max-line-bytes holds if that is less (a data dir saved with a smaller line limit still starts).
 */
export function nodeLimits(
  s: Pick<NodeSettings, 'max-line-bytes' | 'max-key-bytes' | 'max-value-bytes' | 'max-connections' | 'max-siblings' | 'max-record-bytes'> &
    Partial<
      Pick<
        NodeSettings,
        | 'max-peer-connections'
        | 'max-peer-links'
        | 'peer-idle-timeout-ms'
        | 'max-connection-reply-bytes'
        | 'max-reply-bytes'
        | 'max-input-bytes'
        | 'read-timeout-ms'
        | 'send-timeout-ms'
        | 'idle-timeout-ms'
      >
    >,
): Limits {
  const limits = {
    ...defaultLimits,
    maxLineBytes: s['max-line-bytes'],
    maxKeyBytes: s['max-key-bytes'],
    maxValueBytes: s['max-value-bytes'],
    maxConnections: s['max-connections'],
    maxSiblings: s['max-siblings'],
    maxPeerConnections: s['max-peer-connections'] ?? defaultLimits.maxPeerConnections,
    maxPeerLinks: s['max-peer-links'] ?? defaultLimits.maxPeerLinks,
    peerIdleTimeoutMs: s['peer-idle-timeout-ms'] ?? defaultLimits.peerIdleTimeoutMs,
    maxConnectionReplyBytes: s['max-connection-reply-bytes'] ?? defaultLimits.maxConnectionReplyBytes,
    maxReplyBytes: s['max-reply-bytes'] ?? defaultLimits.maxReplyBytes,
    maxInputBytes: s['max-input-bytes'] ?? defaultLimits.maxInputBytes,
    readTimeoutMs: s['read-timeout-ms'] ?? defaultLimits.readTimeoutMs,
    sendTimeoutMs: s['send-timeout-ms'] ?? defaultLimits.sendTimeoutMs,
    idleTimeoutMs: s['idle-timeout-ms'] ?? defaultLimits.idleTimeoutMs,
  };
  limits.maxRecordBytes = s['max-record-bytes'] ?? Math.max(limits.maxValueBytes, Math.min(defaultLimits.maxRecordBytes, recordBytesFitting(limits)));
  const problem = recordLimitsProblem(limits);
  if (problem) throw new KvError('KV_USAGE', problem, { limits });
  return limits;
}

/** The security flags as settings; TLS needs its certificate, key and CA together. */
function securitySettings(s: NodeSettings): SecuritySettings {
  const tlsGiven = [s['tls-cert'], s['tls-key'], s['tls-ca']].filter((f) => f !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new KvError('KV_USAGE', 'TLS needs --tls-cert, --tls-key and --tls-ca together');
  if (s['tls-peer-verify'] && tlsGiven === 0) throw new KvError('KV_USAGE', '--tls-peer-verify needs --tls-cert, --tls-key and --tls-ca');
  return {
    secretFile: s['secret-file'],
    clientTokenFile: s['client-token-file'],
    tls:
      tlsGiven === 3 ? { cert: s['tls-cert'] as string, key: s['tls-key'] as string, ca: s['tls-ca'] as string, peerVerify: s['tls-peer-verify'] } : undefined,
    insecure: s.insecure,
  };
}

/** Where the Prometheus endpoint listens: on the node's host unless --metrics-host says otherwise; off without --metrics-port. */
function metricsSettings(s: NodeSettings): Pick<NodeConfig, 'metrics'> {
  if (s['metrics-port'] === undefined) {
    if (s['metrics-host'] !== undefined) throw new KvError('KV_USAGE', '--metrics-host needs --metrics-port');
    return {};
  }
  return { metrics: { host: s['metrics-host'] ?? s.host, port: s['metrics-port'] } };
}

/** Settings that name files, made absolute: a daemon (and a later restart from elsewhere) finds them from any directory. */
const FILE_SETTINGS = ['secret-file', 'client-token-file', 'tls-cert', 'tls-key', 'tls-ca'] as const;

function withAbsolutePaths(s: NodeSettings): NodeSettings {
  const out = { ...s };
  for (const name of FILE_SETTINGS) if (out[name] !== undefined) out[name] = resolve(out[name] as string);
  return out;
}

/** Writes a new secret to `file`, readable by its owner only (kept if an earlier attempt made it); returns the file. */
function writeNewSecret(file: string): string {
  if (existsSync(file)) return file;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${newSecret(randomBytes)}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

/** The settings saved in `dataDir`, checked; undefined when none were saved. */
async function loadSaved(dataDir: string): Promise<Partial<NodeSettings> | undefined> {
  const raw = readSettingsFile(dataDir);
  return raw ? checkSavedSettings(raw, daemonPaths(dataDir).settingsFile) : undefined;
}

/** Starts one daemon and, once it runs, saves its settings with the port and name it got. */
async function startNode(dataDir: string, given: NodeSettings, cluster: ClusterSettings, explicit: Partial<ClusterSettings>): Promise<StartedDaemon> {
  const settings = withAbsolutePaths(given);
  const daemon = await startDaemon(nodeConfig(settings, dataDir, cluster, explicit));
  // Ports chosen by the OS (0) are saved as chosen: the node comes back where it was.
  const metricsPort = daemon.metricsAddr === undefined ? {} : { 'metrics-port': Number(daemon.metricsAddr.slice(daemon.metricsAddr.lastIndexOf(':') + 1)) };
  writeSettingsFile(dataDir, { ...settings, port: daemon.port, name: daemon.name, ...metricsPort });
  return daemon;
}

async function startSingle(flags: StartFlags, given: ReadonlySet<string>, note: (text: string) => void): Promise<StartResult> {
  const dataDir = flags['data-dir'] ?? defaultDataDir();
  const saved = await loadSaved(dataDir);
  if (!saved && listLocalNodes(dataDir).length > 0) {
    throw new KvError('KV_USAGE', `${dataDir} holds a local cluster, not one node: start it with kvctl start --cluster --data-dir ${dataDir}`);
  }
  if (clearStalePidFile(dataDir)) note(`removed a stale pid file in ${dataDir} (the previous daemon had exited)`);
  const cluster = clusterSettingsFrom(explicitSettings(flags));
  return { nodes: [await startNode(dataDir, resolveNodeSettings(flags, given, saved), cluster, explicitSettings(flags))] };
}

async function startLocalCluster(flags: StartFlags, given: ReadonlySet<string>, count: number): Promise<StartResult> {
  const dir = flags['data-dir'] ?? defaultClusterDir();
  if (listLocalNodes(dir).length > 0) {
    throw new KvError(
      'KV_USAGE',
      `${dir} already holds a local cluster: start it again with kvctl start --cluster --data-dir ${dir}, or remove ${dir} for a new one`,
      {
        dir,
      },
    );
  }
  if (flags.advertise !== undefined)
    throw new KvError('KV_USAGE', '--advertise is one node’s address: start the nodes one by one (--data-dir, --join) to set it');
  const ports = Array.from({ length: count }, (_, i) => (flags.port === 0 ? 0 : flags.port + i));
  const last = ports[count - 1] as number;
  if (last > 65535) throw new KvError('KV_USAGE', `--nodes ${count} from --port ${flags.port} runs past port 65535`);
  await checkPortsFree(flags.host, ports, `start --nodes ${count} needs ports ${flags.port}-${last}: choose another --port, or --port 0 for any free ports`);
  const metricsPorts = localMetricsPorts(flags, count, ports);
  if (metricsPorts) {
    await checkPortsFree(
      flags['metrics-host'] ?? flags.host,
      metricsPorts,
      `start --nodes ${count} --metrics-port ${flags['metrics-port']} needs ports ${metricsPorts[0]}-${metricsPorts.at(-1)}: choose another --metrics-port, or 0 for any free ports`,
    );
  }
  const cluster = clusterSettingsFrom(explicitSettings(flags));
  const common = resolveNodeSettings(flags, given, undefined);
  // A new cluster gets its own secret unless one is given: every node proves it to the others.
  if (common['secret-file'] === undefined) common['secret-file'] = writeNewSecret(join(dir, 'cluster.secret'));
  const nodes: StartedDaemon[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const seeds = i === 1 ? flags.join : (nodes[0] as StartedDaemon).addr;
      const settings: NodeSettings = {
        ...common,
        port: ports[i - 1] as number,
        name: `${flags.name ?? 'node'}${i}`,
        join: seeds,
        ...(metricsPorts ? { 'metrics-port': metricsPorts[i - 1] as number } : {}),
      };
      nodes.push(await startNode(localNodeDir(dir, i), settings, cluster, explicitSettings(flags)));
    }
  } catch (err) {
    // All or nothing: a half-started cluster would keep its ports and confuse the next attempt.
    await Promise.all(nodes.map((n) => stopProcess(n.pid).catch(() => {})));
    const e = err instanceof KvError ? err : new KvError('KV_START_FAILED', (err as Error).message);
    const stopped = nodes.length > 0 ? ` (stopped the ${nodes.length} nodes already started; remove ${dir} before trying again)` : '';
    throw new KvError(e.code, `${e.message}${stopped}`, e.details, { cause: err });
  }
  return { clusterDir: dir, nodes };
}

/**
 * The metrics ports of a new local cluster: K consecutive from --metrics-port (0: each chosen by
 * the OS), refused when they run past 65535 or into the nodes' own ports; undefined when metrics are off.
 */
function localMetricsPorts(flags: StartFlags, count: number, nodePorts: readonly number[]): number[] | undefined {
  const first = flags['metrics-port'];
  if (first === undefined) return undefined;
  if (first === 0) return nodePorts.map(() => 0);
  const ports = Array.from({ length: count }, (_, i) => first + i);
  const last = ports[count - 1] as number;
  if (last > 65535) throw new KvError('KV_USAGE', `--nodes ${count} from --metrics-port ${first} runs past port 65535`);
  const sameHost = (flags['metrics-host'] ?? flags.host) === flags.host;
  if (sameHost && ports.some((p) => nodePorts.includes(p))) {
    throw new KvError('KV_USAGE', `--metrics-port ${first}-${last} overlaps the nodes' ports ${nodePorts[0]}-${nodePorts.at(-1)}: choose ports apart`);
  }
  return ports;
}

async function restartLocalCluster(flags: StartFlags, given: ReadonlySet<string>): Promise<StartResult> {
  const dir = flags['data-dir'] ?? defaultClusterDir();
  const perNode = PER_NODE_SETTINGS.filter((name) => given.has(name));
  if (perNode.length > 0) {
    const list = perNode.map((n) => `--${n}`).join(', ');
    throw new KvError(
      'KV_USAGE',
      `${list} ${perNode.length === 1 ? 'differs' : 'differ'} from node to node: set it per node with kvctl start --data-dir ${dir}/<node>`,
    );
  }
  const dataDirs = listLocalNodes(dir);
  if (dataDirs.length === 0) throw new KvError('KV_USAGE', `no local cluster in ${dir}: make one with kvctl start --nodes K --data-dir ${dir}`, { dir });
  // Every node's saved settings are read and checked before any node starts.
  const plans = await Promise.all(
    dataDirs.map(async (dataDir) => ({ dataDir, settings: resolveNodeSettings(flags, given, await loadSaved(dataDir)), pid: runningPid(dataDir) })),
  );
  const toStart = plans.filter((p) => p.pid === undefined);
  for (const host of new Set(toStart.map((p) => p.settings.host))) {
    const ports = toStart.filter((p) => p.settings.host === host).map((p) => p.settings.port);
    await checkPortsFree(
      host,
      ports,
      `the nodes of ${dir} were started on them; stop what holds them, or move a node with kvctl start --data-dir ${dir}/<node> --port P`,
    );
  }
  const cluster = clusterSettingsFrom(explicitSettings(flags));
  const nodes: StartedNode[] = [];
  for (const plan of plans) {
    try {
      nodes.push(
        plan.pid === undefined
          ? await startNode(plan.dataDir, plan.settings, cluster, explicitSettings(flags))
          : await describeRunning(plan.dataDir, plan.settings['tls-ca']),
      );
    } catch (err) {
      const e = err instanceof KvError ? err : new KvError('KV_START_FAILED', (err as Error).message);
      const running = nodes.length > 0 ? `; running: ${nodes.map((n) => n.name).join(', ')}` : '';
      throw new KvError(e.code, `${plan.dataDir}: ${e.message}${running}`, e.details, { cause: err });
    }
  }
  return { clusterDir: dir, nodes };
}

/** Starts what the flags ask for; `given` names the flags typed on the command line. */
export function startNodes(flags: StartFlags, given: ReadonlySet<string>, note: (text: string) => void): Promise<StartResult> {
  if (flags.cluster) return restartLocalCluster(flags, given);
  if (flags.nodes) return startLocalCluster(flags, given, flags.nodes);
  return startSingle(flags, given, note);
}
