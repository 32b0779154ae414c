/** Where data dirs are by default, and where a daemon keeps its files inside its data dir. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ClusterIdentity } from '../membership/cluster-state.js';

/** The user's data home per the XDG base directory spec. */
export function dataHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_DATA_HOME && env.XDG_DATA_HOME.length > 0 ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataHome(env), 'kvctl', 'default');
}

/** The files of the daemon whose data dir is `dataDir`. */
export function daemonPaths(dataDir: string) {
  return {
    db: join(dataDir, 'db'),
    pidFile: join(dataDir, 'kvctl.pid'),
    logFile: join(dataDir, 'kvctl.log'),
    /** What the daemon process itself prints (a crash's stack trace, Node's warnings): not JSON, so not in the log. */
    outFile: join(dataDir, 'daemon.out'),
    /** The node's settings, kept across restarts (src/daemon/settings-file.ts). */
    settingsFile: join(dataDir, 'node.json'),
  };
}

/** What the pid file holds: enough to find and verify the daemon. */
export interface PidFileContents {
  pid: number;
  host: string;
  port: number;
  name: string;
  startedAt: string;
}

/** What a starting daemon tells the process that spawned it, over IPC, once: ready, or why not. */
export type DaemonMessage =
  | {
      type: 'ready';
      pid: number;
      host: string;
      port: number;
      name: string;
      dataDir: string;
      logFile: string;
      cluster: ClusterIdentity;
      /** The port the Prometheus endpoint got (with --metrics-port). */
      metricsPort?: number;
    }
  | { type: 'error'; error: { code: string; message: string; details?: Record<string, unknown> } };
