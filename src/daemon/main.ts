/**
 * The daemon's composition root: builds the real parts (LevelStore, TcpServer, TcpTransport,
 * system clock, OS-seeded random, file logger), joins or creates the cluster, reports readiness
 * (or a coded failure) to the parent over IPC, and shuts down gracefully on SIGTERM/SIGINT: stop
 * accepting, finish in-flight requests, close LevelDB.
 *
 * A node removed from its cluster (kvctl remove) never serves again from its data dir: a restart
 * asks its peers first and refuses (KV_REMOVED), and a running node that hears of its removal
 * through gossip records it in the data dir and exits.
 *
 * Run by `kvctl start` (src/daemon/control.ts) with its settings as JSON in KVCTL_DAEMON_CONFIG.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KvClient } from '../client/client.js';
import { advertiseProblem, isLoopbackHost, type NodeConfig, protectedModeProblem } from '../config.js';
import { FileLogger } from '../env/file-logger.js';
import type { LogEvent } from '../env/logger.js';
import { SeededRandom } from '../env/random.js';
import { SystemClock } from '../env/system-clock.js';
import { KvError, toKvError } from '../errors.js';
import { joinCluster } from '../gossip/join.js';
import { checkRemoved } from '../gossip/removal-check.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { type MemberInfo, newMember } from '../membership/member-table.js';
import { parseMembers } from '../membership/member-wire.js';
import { MetricsServer } from '../metrics/metrics-server.js';
import { nodeMetrics } from '../metrics/prometheus.js';
import { answerFrame, answerLine } from '../net/answer.js';
import type { ClientOptions } from '../net/line-connection.js';
import { ConnectionAuthenticator, type PeerSelf } from '../net/peer-auth.js';
import { TcpServer } from '../net/tcp-server.js';
import { TcpTransport } from '../net/tcp-transport.js';
import { buildNode } from '../node/build-node.js';
import { loadIdentity } from '../node/identity.js';
import { NodeMeta } from '../node/node-meta.js';
import { ValueCodec } from '../storage/codec.js';
import { LevelStore } from '../storage/level-store.js';
import { createCodec } from '../storage/zlib-codec.js';
import { defaultNodeName } from './control.js';
import { loadCredentials } from './credential-files.js';
import { type DaemonMessage, daemonPaths, type PidFileContents } from './paths.js';

export type DaemonConfig = NodeConfig & { nameGiven: boolean };

/** The log, once main() opened it: the last-resort handler below writes to it too. */
let crashLog: FileLogger | undefined;

/** The event of each refusal the connection authenticator reports (its texts are the messages). */
const AUTH_EVENTS: Readonly<Record<string, LogEvent>> = {
  'client token refused': 'auth.token_refused',
  'peer of another cluster refused': 'auth.cluster_mismatch',
  'peer handshake refused': 'auth.peer_refused',
};

/** Sends a message to the parent and lets go of the IPC channel once it is written. */
function report(message: DaemonMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => {
      process.disconnect?.();
      resolve();
    });
  });
}

/** How long a restarting node waits for a peer to say whether it was removed. */
const REMOVAL_CHECK_MS = 2000;

function removedError(name: string, cluster: string, dataDir: string): KvError {
  return new KvError(
    'KV_REMOVED',
    `node "${name}" was removed from cluster ${cluster} (kvctl remove) and cannot rejoin from this data dir: wipe ${dataDir} and start it with --join <member> to add it as a new node`,
    { name, cluster, dataDir },
  );
}

/** Refuses explicit settings that contradict what the data dir's cluster runs with. */
function checkExplicit(cluster: ClusterIdentity, explicit: NodeConfig['explicitClusterSettings']): void {
  const conflicts = (Object.keys(explicit) as (keyof typeof explicit)[]).filter((k) => explicit[k] !== cluster.settings[k]);
  if (conflicts.length > 0) {
    throw new KvError(
      'KV_CLUSTER_MISMATCH',
      `this data dir belongs to cluster ${cluster.id} with N=${cluster.settings.n} W=${cluster.settings.w} R=${cluster.settings.r} consistency=${cluster.settings.consistency}; conflicting: ${conflicts.join(', ')}`,
      { conflicts },
    );
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.KVCTL_DAEMON_CONFIG ?? '{}') as DaemonConfig;
  const paths = daemonPaths(config.dataDir);
  mkdirSync(config.dataDir, { recursive: true });
  const logger = new FileLogger(paths.logFile, { node: config.name, level: config.log.level, maxBytes: config.log.maxBytes, files: config.log.files });
  crashLog = logger;
  logger.log('info', 'node.starting', 'starting', { pid: process.pid, nodeVersion: process.version, dataDir: config.dataDir, log: config.log });
  logger.log('debug', 'node.config', 'configuration', { ...config });
  const clock = new SystemClock();
  const generation = clock.now();
  let store: LevelStore | undefined;
  // Who this node is to its peers' handshakes: known once the identity is loaded and the cluster joined.
  let self: PeerSelf | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    const unadvertisable = advertiseProblem(config.host, config.advertise);
    if (unadvertisable) throw new KvError('KV_START_FAILED', unadvertisable, { host: config.host, advertise: config.advertise });
    const unprotected = protectedModeProblem(config.host, config.security);
    if (unprotected) throw new KvError('KV_START_FAILED', unprotected, { host: config.host });
    const credentials = loadCredentials(config.security);
    for (const warning of credentials.warnings) logger.log('warn', 'security.file_readable', warning);
    if (config.security.insecure && !isLoopbackHost(config.host)) {
      logger.log('warn', 'security.insecure', 'running with --insecure: other hosts may connect without the protection protected mode asks for', {
        host: config.host,
      });
    }
    // How this node connects to its peers: TLS when configured, then the peer handshake.
    const peerLink = {
      ...(credentials.peerTls ? { tls: credentials.peerTls } : {}),
      peer: { secrets: credentials.secrets, self: () => self ?? { name: config.name, cluster: '' }, randomBytes },
    } satisfies ClientOptions;
    const lastRefusalLogged = new Map<string, number>();
    const peerTransport = new TcpTransport(
      config.limits,
      {
        ...peerLink,
        // Once a minute per peer: a node whose handshakes keep failing would otherwise log every gossip round.
        onRefused: (peer, err) => {
          const now = clock.now();
          if (now - (lastRefusalLogged.get(peer) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
          lastRefusalLogged.set(peer, now);
          logger.log('warn', 'peer.refused', 'a peer refused this node', { peer, code: err.code, message: err.message });
        },
      },
      undefined,
      undefined,
      undefined,
      config.limits,
    );
    const membersAt = async (peer: string, timeoutMs: number): Promise<MemberInfo[]> => {
      const client = await KvClient.connect(peer, { ...peerLink, timeoutMs });
      try {
        return parseMembers((await client.request({ op: 'members' }, timeoutMs)).members);
      } finally {
        void client.close();
      }
    };
    const authenticator = new ConnectionAuthenticator({
      secrets: credentials.secrets,
      tokens: credentials.tokens,
      self: () => self,
      randomBytes,
      requireCertificate: config.security.tls?.peerVerify === true,
      // The refused peer's claimed name goes as `peer`: `node` is this node's own, in every line.
      onFailure: (what, { node: peer, ...fields }) =>
        logger.log('warn', AUTH_EVENTS[what] ?? 'auth.refused', what, peer === undefined ? fields : { ...fields, peer }),
    });
    store = await LevelStore.open(paths.db, { sync: config.sync, clock, logger });
    const levelStore = store;
    const meta = new NodeMeta(store);

    // Listen first: the port is part of our identity in the cluster (port 0 picks a free one).
    let built: ReturnType<typeof buildNode> | undefined;
    // Requests that arrive while the node is still being built (a peer's gossip during our join)
    // wait for it rather than being refused.
    let markBuilt!: () => void;
    const whenBuilt = new Promise<void>((resolve) => {
      markBuilt = resolve;
    });
    let server: TcpServer;
    try {
      server = new TcpServer(
        async (line, connection) => {
          if (!built) await whenBuilt;
          return answerLine(line, (built as NonNullable<typeof built>).node, connection, config.limits, authenticator);
        },
        config.limits,
        {
          tls: credentials.serverTls,
          tokensRequired: authenticator.tokensRequired,
          frames: async (frame, connection) => {
            if (!built) await whenBuilt;
            return answerFrame(frame, (built as NonNullable<typeof built>).node, connection, config.limits);
          },
        },
      );
    } catch (err) {
      throw new KvError('KV_START_FAILED', `cannot use the TLS certificate and key: ${(err as Error).message}`, undefined, { cause: err });
    }
    const port = await server.listen(config.host, config.port);
    const addr = config.advertise ?? `${config.host}:${port}`;
    // Without a name the node is named after the port it got (not 0, with --port 0).
    const defaultName = config.nameGiven ? config.name : defaultNodeName(port);
    const identity = await loadIdentity(
      store,
      config.nameGiven ? config.name : undefined,
      defaultName,
      () => randomBytes(4).toString('hex'),
      clock.now(),
      machineBootId(),
    );
    self = { name: identity.name, cluster: '' };
    logger.setNode(identity.name);

    const peers = await meta.loadPeers();
    let cluster = await meta.loadCluster();
    let members: MemberInfo[] = [];
    let restoredMembers: MemberInfo[] = [];
    const seeds = [...new Set([...config.join, ...peers])].filter((s) => s !== addr);
    if (cluster) {
      const removal = await meta.loadRemoved();
      if (removal) throw removedError(identity.name, removal.cluster, config.dataDir);
      checkExplicit(cluster, config.explicitClusterSettings);
      restoredMembers = await meta.loadMembers();
      const check = await checkRemoved((peer) => membersAt(peer, REMOVAL_CHECK_MS), seeds, identity);
      if (check.removed) {
        await meta.saveRemoved({ cluster: cluster.id, at: clock.now() });
        throw removedError(identity.name, cluster.id, config.dataDir);
      }
    } else if (config.join.length > 0) {
      const joining = newMember({ name: identity.name, addr, incarnation: identity.incarnation, generation, weight: config.weight });
      ({ cluster, members } = await joinCluster(
        peerTransport,
        config.join,
        joining,
        config.explicitClusterSettings,
        5000,
        new SeededRandom(randomBytes(4).readUInt32LE(0)),
      ));
      if (members.some((m) => m.name === identity.name && m.incarnation !== identity.incarnation && m.status === 'up')) {
        logger.log('warn', 'node.name_reused', 'joining under a name the cluster knows with another incarnation (a wiped data dir?)', { name: identity.name });
      }
    } else {
      cluster = { id: randomBytes(8).toString('hex'), settings: config.cluster };
    }
    await meta.saveCluster(cluster);
    self = { name: identity.name, cluster: cluster.id };

    let ready = false;
    let removed = false;
    const clusterId = cluster.id;
    const onRemoved = async () => {
      removed = true;
      logger.log('error', 'node.removed', 'this node was removed from the cluster (kvctl remove); exiting: wipe the data dir and join again as a new node', {
        cluster: clusterId,
      });
      await meta.saveRemoved({ cluster: clusterId, at: clock.now() }).catch(() => {});
      if (ready) await shutdown('removed from the cluster');
    };
    let stopping = false;
    const shutdown = async (reason: string) => {
      if (stopping) return;
      stopping = true;
      logger.log('info', 'node.stopping', 'stopping', { reason });
      built?.stop();
      await metricsServer?.close();
      await server.close();
      await peerTransport.close();
      await levelStore.close();
      rmSync(paths.pidFile, { force: true });
      logger.log('info', 'node.stopped', 'stopped', { reason });
      await logger.close();
      process.exit(0);
    };

    let metricsAddr: string | undefined;
    const codec = new ValueCodec(createCodec(config.codec), { minBytes: config.compressMinBytes, quality: config.compressQuality });
    built = buildNode({
      identity,
      addr,
      weight: config.weight,
      generation,
      store,
      meta,
      transport: peerTransport,
      clock,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      logger,
      codec,
      cacheBytes: config.cacheBytes,
      limits: config.limits,
      membership: config.membership,
      requestTimeoutMs: config.requestTimeoutMs,
      cluster,
      members,
      restoredMembers,
      seeds,
      hintCaps: { maxBytesPerTarget: config.hints.maxBytesPerTarget, maxAgeMs: config.hints.maxAgeMs },
      hintDeliveryIntervalMs: config.hints.deliveryIntervalMs,
      antiEntropy: config.antiEntropy,
      testingFaults: config.testingFaults,
      storageStatus: () => levelStore.status(),
      monotonicNow: () => performance.now(),
      processStats: async () => ({
        pid: process.pid,
        addr,
        dataDir: config.dataDir,
        logFile: paths.logFile,
        incarnation: identity.incarnation,
        sync: config.sync,
        memory: memoryFigures(),
        store: { diskBytes: await levelStore.diskBytes(), batches: levelStore.batches, batchedOps: levelStore.batchedOps },
        server: server.stats(),
        ...(metricsAddr ? { metricsAddr } : {}),
        peerLinks: { open: peerTransport.linkCount, limit: config.limits.maxPeerLinks, waiting: peerTransport.waitingCount, ...peerTransport.counters },
        security: {
          peerSecret: config.security.secretFile !== undefined,
          clientTokens: config.security.clientTokenFile !== undefined,
          tls: config.security.tls !== undefined,
          peerCertificates: config.security.tls?.peerVerify === true,
          insecure: config.security.insecure,
        },
      }),
      onLeft: () => void shutdown('left the cluster'),
      onRemoved: () => void onRemoved(),
    });
    // Peers hear at once that this node's storage refuses writes, or takes them again.
    levelStore.onStatusChange = () => built?.gossiper.round();
    await built.start();
    markBuilt();
    if (removed) throw removedError(identity.name, cluster.id, config.dataDir);
    let metricsPort: number | undefined;
    if (config.metrics) {
      const node = built.node;
      const metrics = nodeMetrics(() => node.stats());
      metricsServer = new MetricsServer({
        scrape: metrics.scrape,
        contentType: metrics.contentType,
        onError: (err) => logger.log('warn', 'metrics.scrape_failed', 'a metrics scrape failed', { message: err.message }),
      });
      metricsPort = await metricsServer.listen(config.metrics.host, config.metrics.port);
      metricsAddr = `${config.metrics.host}:${metricsPort}`;
    }

    const pidFile: PidFileContents = { pid: process.pid, host: config.host, port, name: identity.name, startedAt: new Date().toISOString() };
    writeFileSync(paths.pidFile, `${JSON.stringify(pidFile)}\n`);
    logger.log('info', 'node.listening', 'listening', {
      addr,
      name: identity.name,
      incarnation: identity.incarnation,
      cluster: cluster.id,
      dataDir: config.dataDir,
    });

    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
    ready = true;
    await report({
      type: 'ready',
      pid: process.pid,
      host: config.host,
      port,
      name: identity.name,
      dataDir: config.dataDir,
      logFile: paths.logFile,
      cluster,
      ...(metricsPort === undefined ? {} : { metricsPort }),
    });
  } catch (err) {
    const error = toKvError(err);
    logger.log('error', 'node.start_failed', 'start failed', { code: error.code, message: error.message });
    await report({ type: 'error', error: error.toWire() });
    await store?.close().catch(() => {});
    await logger.close();
    process.exit(error instanceof KvError ? 1 : 70);
  }
}

process.on('uncaughtException', (err) => {
  // Last resort: log and exit rather than run on in an unknown state; acknowledged data is on disk.
  process.stderr.write(`kvctl daemon: uncaught exception: ${err.stack ?? err}\n`);
  crashLog?.logNow('error', 'node.crashed', 'uncaught exception; exiting', { message: err.message, stack: err.stack });
  process.exit(70);
});

void main().catch((err) => {
  process.stderr.write(`kvctl daemon: ${String(err)}\n`);
  process.exit(70);
});

/**
 * Which boot of the machine this is (Linux's boot_id): a node that starts under another boot than
 * last time takes a new clock epoch (see node/identity.ts). Where the kernel does not say, every
 * start counts as a new boot: safe, at the cost of a clock entry per restart.
 */
function machineBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `unknown-${randomBytes(8).toString('hex')}`;
  }
}

/** Where the process's memory is: resident, the JavaScript heap, and buffers outside it (values, socket data). */
function memoryFigures(): { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number } {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external };
}
