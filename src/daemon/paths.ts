/** Where a daemon keeps its files inside its data dir. */
import { join } from 'node:path';

export function daemonPaths(dataDir: string) {
  return {
    db: join(dataDir, 'db'),
    pidFile: join(dataDir, 'kvctl.pid'),
    logFile: join(dataDir, 'kvctl.log'),
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
