import { Flags } from '@oclif/core';
import { KvCommand } from '../src/cli/base-command.js';
import { type CodecName, DEFAULT_HOST, DEFAULT_PORT, defaultDataDir, defaultLimits, envVars, type NodeConfig } from '../src/config.js';
import { clearStalePidFile, defaultNodeName, type StartedDaemon, startDaemon } from '../src/daemon/control.js';

export default class Start extends KvCommand {
  static override summary = 'Start a daemon in the background.';
  static override description = `Forks a detached daemon, waits until it answers, and prints where it listens, where its data lives, its pid and its log file.
A busy port or a data dir used by another daemon fails with a clear message (exit 6). A pid file left by a crash does not block the start.
Writes are acknowledged once LevelDB has them in the OS page cache (they survive kill -9 of the daemon, not a power cut); --sync fsyncs each group commit first.`;
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --port 7071 --data-dir /tmp/kv2 --name node2',
    '<%= config.bin %> start --port 0 --json   # any free port; the JSON says which',
  ];

  static override flags = {
    host: Flags.string({ description: 'Address to listen on', env: envVars.host, default: DEFAULT_HOST }),
    port: Flags.integer({ description: 'TCP port (0: any free port)', env: envVars.port, default: DEFAULT_PORT, min: 0, max: 65535 }),
    'data-dir': Flags.string({ description: 'Directory for the LevelDB data, pid file and log [default: $XDG_DATA_HOME/kvctl/default]', env: envVars.dataDir }),
    name: Flags.string({ description: 'Node name, kept in the data dir [default: <hostname>-<port>]', env: envVars.name }),
    'cache-mb': Flags.integer({ description: 'Memory budget of the hot-value cache, MiB (0: no cache)', env: envVars.cacheMb, default: 64, min: 0 }),
    sync: Flags.boolean({ description: 'fsync each group commit before acknowledging writes', default: false }),
    codec: Flags.string({ description: 'Brotli implementation for values', options: ['zlib', 'brotli-wasm'], default: 'zlib' }),
    'compress-min-bytes': Flags.integer({ description: 'Values shorter than this are stored uncompressed', default: 512, min: 0 }),
    'max-line-bytes': Flags.integer({ description: 'Longest request line; longer closes the connection', default: defaultLimits.maxLineBytes, min: 64 }),
    'max-key-bytes': Flags.integer({ description: 'Longest key', default: defaultLimits.maxKeyBytes, min: 1 }),
    'max-value-bytes': Flags.integer({ description: 'Longest value', default: defaultLimits.maxValueBytes, min: 0 }),
    'max-connections': Flags.integer({ description: 'Client connections open at once', default: defaultLimits.maxConnections, min: 1 }),
    'max-siblings': Flags.integer({ description: 'Concurrent values one key may hold', default: defaultLimits.maxSiblings, min: 1 }),
  };

  async run(): Promise<StartedDaemon & { clearedStalePidFile: boolean }> {
    const { flags } = await this.parse(Start);
    const dataDir = flags['data-dir'] ?? defaultDataDir();
    const config: NodeConfig & { nameGiven: boolean } = {
      name: flags.name ?? defaultNodeName(flags.port),
      nameGiven: flags.name !== undefined,
      host: flags.host,
      port: flags.port,
      dataDir,
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
    };
    const clearedStalePidFile = clearStalePidFile(dataDir);
    if (clearedStalePidFile) this.note(`removed a stale pid file in ${dataDir} (the previous daemon had exited)`);
    const started = await startDaemon(config);
    this.say(`kvctl daemon "${started.name}" is running
  address:  ${started.addr}
  data dir: ${started.dataDir}
  pid:      ${started.pid}
  log:      ${started.logFile}`);
    return { ...started, clearedStalePidFile };
  }
}
