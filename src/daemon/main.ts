/**
 * The daemon's composition root: builds the real parts (LevelStore, TcpServer, system clock, file
 * logger), reports readiness (or a coded failure) to the parent over IPC, and shuts down
 * gracefully on SIGTERM/SIGINT: stop accepting, finish in-flight requests, close LevelDB.
 *
 * Run by `kvctl start` (src/daemon/control.ts) with its settings as JSON in KVCTL_DAEMON_CONFIG.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { NodeConfig } from '../config.js';
import { SystemClock } from '../env/clock.js';
import { FileLogger } from '../env/logger.js';
import { KvError, toKvError } from '../errors.js';
import { TcpServer } from '../net/tcp-server.js';
import { actorOf, loadIdentity } from '../node/identity.js';
import { KvNode } from '../node/kv-node.js';
import { LocalReplica } from '../node/local-replica.js';
import { createCodec, ValueCodec } from '../storage/codec.js';
import { LevelStore } from '../storage/level-store.js';
import { LruCache } from '../storage/lru-cache.js';
import type { StoredRecord } from '../storage/record-format.js';
import { daemonPaths, type PidFileContents } from './paths.js';

export type DaemonMessage =
  | { type: 'ready'; pid: number; host: string; port: number; name: string; dataDir: string; logFile: string }
  | { type: 'error'; error: { code: string; message: string; details?: Record<string, unknown> } };

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

async function main(): Promise<void> {
  const config = JSON.parse(process.env.KVCTL_DAEMON_CONFIG ?? '{}') as NodeConfig & { nameGiven: boolean };
  const paths = daemonPaths(config.dataDir);
  mkdirSync(config.dataDir, { recursive: true });
  const logger = new FileLogger(paths.logFile);
  const clock = new SystemClock();
  let store: LevelStore | undefined;
  try {
    store = await LevelStore.open(paths.db, { sync: config.sync });
    const identity = await loadIdentity(store, config.nameGiven ? config.name : undefined, config.name, () => randomBytes(4).toString('hex'), clock.now());
    const codec = new ValueCodec(createCodec(config.codec), { minBytes: config.compressMinBytes, quality: config.compressQuality });
    const cache = new LruCache<string, StoredRecord>(config.cacheBytes);
    const replica = new LocalReplica(store, codec, cache, clock, { actor: actorOf(identity), maxSiblings: config.limits.maxSiblings });
    const levelStore = store;
    let server: TcpServer | undefined;
    let port = config.port;
    const node = new KvNode(replica, {
      name: identity.name,
      clock,
      limits: config.limits,
      replicas: 1,
      processStats: async () => ({
        pid: process.pid,
        addr: `${config.host}:${port}`,
        dataDir: config.dataDir,
        logFile: paths.logFile,
        incarnation: identity.incarnation,
        sync: config.sync,
        memory: { rssBytes: process.memoryUsage().rss },
        store: { diskBytes: await levelStore.diskBytes(), batches: levelStore.batches, batchedOps: levelStore.batchedOps },
        server: server?.stats(),
      }),
    });
    server = new TcpServer((line) => node.handleLine(line), config.limits);
    port = await server.listen(config.host, config.port);

    const pidFile: PidFileContents = { pid: process.pid, host: config.host, port, name: identity.name, startedAt: new Date().toISOString() };
    writeFileSync(paths.pidFile, `${JSON.stringify(pidFile)}\n`);
    logger.log('info', 'listening', { host: config.host, port, name: identity.name, incarnation: identity.incarnation, dataDir: config.dataDir });

    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.log('info', 'stopping', { signal });
      await server?.close();
      await levelStore.close();
      rmSync(paths.pidFile, { force: true });
      logger.log('info', 'stopped', { signal });
      await logger.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
    await report({ type: 'ready', pid: process.pid, host: config.host, port, name: identity.name, dataDir: config.dataDir, logFile: paths.logFile });
  } catch (err) {
    const error = toKvError(err);
    logger.log('error', 'start failed', { code: error.code, message: error.message });
    await report({ type: 'error', error: error.toWire() });
    await store?.close().catch(() => {});
    await logger.close();
    process.exit(error instanceof KvError ? 1 : 70);
  }
}

process.on('uncaughtException', (err) => {
  // Last resort: log and exit rather than run on in an unknown state; acknowledged data is on disk.
  process.stderr.write(`kvctl daemon: uncaught exception: ${err.stack ?? err}\n`);
  process.exit(70);
});

void main().catch((err) => {
  process.stderr.write(`kvctl daemon: ${String(err)}\n`);
  process.exit(70);
});
