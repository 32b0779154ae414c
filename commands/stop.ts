import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { defaultClusterDir, listLocalNodes, type StoppedNode, stopLocalCluster } from '../src/cli/local-cluster.js';
import { KvClient } from '../src/client/client.js';
import { envVars } from '../src/config.js';
import { clearStalePidFile, readPidFile, stopProcess } from '../src/daemon/control.js';
import { defaultDataDir } from '../src/daemon/paths.js';
import { KvError } from '../src/errors.js';
import type { ClientOptions } from '../src/net/line-connection.js';

export default class Stop extends KvCommand {
  static override summary = 'Stop a daemon (or a local cluster) gracefully and wait for it to exit.';
  static override description = `Sends SIGTERM: the daemon stops accepting connections, finishes in-flight requests, closes LevelDB and exits.
The daemon is found by --addr (it reports its own pid), else by the pid file in --data-dir (default: the embedded data dir).
--cluster stops every node of the local cluster in --data-dir (default $XDG_DATA_HOME/kvctl/local-cluster) at once and waits for all;
kvctl start --cluster starts them again as they were. Exit 3 when no daemon runs there.`;
  static override examples = [
    '<%= config.bin %> stop',
    '<%= config.bin %> stop --data-dir /tmp/kv2',
    '<%= config.bin %> stop --addr 127.0.0.1:7071',
    '<%= config.bin %> stop --cluster --data-dir /tmp/kv3',
  ];

  static override flags = {
    ...addrFlags,
    'data-dir': Flags.string({ description: 'Data dir of the daemon to stop (with --cluster: of the local cluster)', env: envVars.dataDir }),
    cluster: Flags.boolean({ description: 'Stop every node of the local cluster in --data-dir' }),
    'wait-ms': Flags.integer({ description: 'How long to wait for the exit', default: 30_000, min: 1 }),
  };

  async run(): Promise<{ stopped: true; pid: number; name: string } | { clusterDir: string; nodes: StoppedNode[] }> {
    const { flags } = await this.parse(Stop);
    if (flags.cluster && flags.addr)
      throw new KvError('KV_USAGE', '--cluster stops the local cluster in --data-dir; --addr names one daemon: give one of them');
    if (flags.cluster) return this.stopCluster(flags['data-dir'] ?? defaultClusterDir(), flags['wait-ms']);
    const target = flags.addr ? await this.viaAddr(flags.addr, this.clientOptions(flags)) : this.viaDataDir(flags['data-dir'] ?? defaultDataDir());
    await stopProcess(target.pid, flags['wait-ms']);
    this.say(`stopped "${target.name}" (pid ${target.pid})`);
    return { stopped: true, ...target };
  }

  private async stopCluster(dir: string, waitMs: number): Promise<{ clusterDir: string; nodes: StoppedNode[] }> {
    const nodes = await stopLocalCluster(dir, waitMs);
    if (!nodes.some((n) => n.stopped)) throw new KvError('KV_NOT_RUNNING', `no node of the local cluster in ${dir} is running`, { dir });
    for (const n of nodes) this.say(n.stopped ? `stopped "${n.name}" (pid ${n.pid})` : `"${n.name}" was not running`);
    return { clusterDir: dir, nodes };
  }

  private async viaAddr(addr: string, access: ClientOptions): Promise<{ pid: number; name: string }> {
    const client = await KvClient.connect(this.resolveAddr(addr), access).catch((err: KvError) => {
      throw new KvError('KV_NOT_RUNNING', `no daemon answers at ${addr}`, undefined, { cause: err });
    });
    const stats = await client.stats();
    await client.close();
    return { pid: Number(stats.pid), name: String(stats.node) };
  }

  private viaDataDir(dataDir: string): { pid: number; name: string } {
    if (clearStalePidFile(dataDir)) throw new KvError('KV_NOT_RUNNING', `no daemon runs for ${dataDir} (removed a stale pid file)`);
    const holder = readPidFile(dataDir);
    if (!holder) {
      const hint = listLocalNodes(dataDir).length > 0 ? ` (it holds a local cluster: kvctl stop --cluster --data-dir ${dataDir})` : '';
      throw new KvError('KV_NOT_RUNNING', `no daemon runs for ${dataDir}${hint}`, { dataDir });
    }
    return { pid: holder.pid, name: holder.name };
  }
}
