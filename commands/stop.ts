import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { KvClient } from '../src/client/client.js';
import { defaultDataDir, envVars } from '../src/config.js';
import { clearStalePidFile, readPidFile, stopProcess } from '../src/daemon/control.js';
import { KvError } from '../src/errors.js';

export default class Stop extends KvCommand {
  static override summary = 'Stop a daemon gracefully and wait for it to exit.';
  static override description = `Sends SIGTERM: the daemon stops accepting connections, finishes in-flight requests, closes LevelDB and exits.
The daemon is found by --addr (it reports its own pid), else by the pid file in --data-dir (default: the embedded data dir).
Exit 3 when no daemon runs there.`;
  static override examples = ['<%= config.bin %> stop', '<%= config.bin %> stop --data-dir /tmp/kv2', '<%= config.bin %> stop --addr 127.0.0.1:7071'];

  static override flags = {
    ...addrFlags,
    'data-dir': Flags.string({ description: 'Data dir of the daemon to stop', env: envVars.dataDir }),
    'wait-ms': Flags.integer({ description: 'How long to wait for the exit', default: 30_000, min: 1 }),
  };

  async run(): Promise<{ stopped: true; pid: number; name: string }> {
    const { flags } = await this.parse(Stop);
    const target = flags.addr ? await this.viaAddr(flags.addr, flags.timeout) : this.viaDataDir(flags['data-dir'] ?? defaultDataDir());
    await stopProcess(target.pid, flags['wait-ms']);
    this.say(`stopped "${target.name}" (pid ${target.pid})`);
    return { stopped: true, ...target };
  }

  private async viaAddr(addr: string, timeoutMs: number): Promise<{ pid: number; name: string }> {
    const client = await KvClient.connect(this.resolveAddr(addr), { timeoutMs }).catch((err: KvError) => {
      throw new KvError('KV_NOT_RUNNING', `no daemon answers at ${addr}`, undefined, { cause: err });
    });
    const stats = await client.stats();
    await client.close();
    return { pid: Number(stats.pid), name: String(stats.node) };
  }

  private viaDataDir(dataDir: string): { pid: number; name: string } {
    if (clearStalePidFile(dataDir)) throw new KvError('KV_NOT_RUNNING', `no daemon runs for ${dataDir} (removed a stale pid file)`);
    const holder = readPidFile(dataDir);
    if (!holder) throw new KvError('KV_NOT_RUNNING', `no daemon runs for ${dataDir}`, { dataDir });
    return { pid: holder.pid, name: holder.name };
  }
}
