/**
 * A local cluster is one directory holding one data dir per node (node1..nodeK), each with its
 * saved settings (node.json). `kvctl start --nodes K` makes one, `kvctl start --cluster` starts
 * it again as it was, `kvctl stop --cluster` stops every node in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KvClient } from '../client/client.js';
import { clearStalePidFile, isAlive, readPidFile, type StartedDaemon, stopProcess } from '../daemon/control.js';
import { dataHome } from '../daemon/paths.js';
import { readSettingsFile } from '../daemon/settings-file.js';
import { KvError } from '../errors.js';

export function defaultClusterDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataHome(env), 'kvctl', 'local-cluster');
}

/** The data dir of node `i` (from 1) of the local cluster in `dir`. */
export function localNodeDir(dir: string, i: number): string {
  return join(dir, `node${i}`);
}

/** Data dirs under `dir` that hold saved node settings, in node order (node2 before node10). */
export function listLocalNodes(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
  return names
    .filter((name) => readSettingsFile(join(dir, name)) !== undefined)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => join(dir, name));
}

/** The pid of the daemon running for `dataDir`, if one is (a stale pid file is removed). */
export function runningPid(dataDir: string): number | undefined {
  clearStalePidFile(dataDir);
  const holder = readPidFile(dataDir);
  return holder && isAlive(holder.pid) ? holder.pid : undefined;
}

/**
 * A node found running: what its pid file and its own stats say (as `kvctl start` would have printed).
 * `tlsCa`: the CA of a node that listens with TLS (from its saved settings).
 */
export async function describeRunning(dataDir: string, tlsCa?: string): Promise<StartedDaemon & { alreadyRunning: true }> {
  const holder = readPidFile(dataDir);
  if (!holder) throw new KvError('KV_NOT_RUNNING', `no daemon runs for ${dataDir}`, { dataDir });
  const client = await KvClient.connect(`${holder.host}:${holder.port}`, { timeoutMs: 5000, ...(tlsCa ? { tls: { ca: readFileSync(tlsCa) } } : {}) });
  try {
    const stats = await client.stats();
    const c = stats.cluster as { id: string; n: number; w: number; r: number; consistency: 'strict' | 'sloppy' };
    return {
      cluster: { id: c.id, settings: { n: c.n, w: c.w, r: c.r, consistency: c.consistency } },
      pid: holder.pid,
      addr: `${holder.host}:${holder.port}`,
      host: holder.host,
      port: holder.port,
      name: holder.name,
      dataDir,
      logFile: String(stats.logFile),
      alreadyRunning: true,
    };
  } finally {
    await client.close();
  }
}

function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Refuses with KV_PORT_IN_USE, naming every busy one, unless all the given ports are free. */
export async function checkPortsFree(host: string, ports: readonly number[], hint: string): Promise<void> {
  const busy: number[] = [];
  for (const port of ports) if (port !== 0 && !(await portIsFree(host, port))) busy.push(port);
  if (busy.length === 0) return;
  const which = busy.length === 1 ? `port ${busy[0]} is` : `ports ${busy.join(', ')} are`;
  throw new KvError('KV_PORT_IN_USE', `${which} already in use on ${host}; ${hint}`, { host, ports: busy });
}

export interface StoppedNode {
  name: string;
  dataDir: string;
  /** Whether a daemon ran and was stopped (false: it was not running). */
  stopped: boolean;
  pid?: number;
}

/** Stops every running node of the local cluster in `dir` at once and waits until all have exited. */
export async function stopLocalCluster(dir: string, waitMs: number): Promise<StoppedNode[]> {
  const dataDirs = listLocalNodes(dir);
  if (dataDirs.length === 0) throw new KvError('KV_NOT_RUNNING', `no local cluster in ${dir} (no node data dirs with saved settings)`, { dir });
  const nodes = dataDirs.map((dataDir): StoppedNode => {
    const pid = runningPid(dataDir);
    const name = String(readSettingsFile(dataDir)?.name ?? readPidFile(dataDir)?.name ?? dataDir);
    return pid === undefined ? { name, dataDir, stopped: false } : { name, dataDir, stopped: true, pid };
  });
  await Promise.all(nodes.map((n) => (n.pid === undefined ? undefined : stopProcess(n.pid, waitMs))));
  return nodes;
}
