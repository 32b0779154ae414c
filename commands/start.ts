import { Flags } from '@oclif/core';
import { KvCommand } from '../src/cli/base-command.js';
import { type StartFlags, startNodes } from '../src/cli/start-nodes.js';
import { DEFAULT_HOST, DEFAULT_PORT, defaultAntiEntropy, defaultHints, defaultLimits, defaultMembershipSettings, envVars } from '../src/config.js';

export default class Start extends KvCommand {
  static override summary = 'Start a daemon (or a local cluster) in the background.';
  static override description = `Forks a detached daemon, waits until it answers, and prints where it listens, where its data lives, its pid and its log file.
A busy port or a data dir used by another daemon fails with a clear message (exit 6). A pid file left by a crash does not block the start.
Without --join the node starts a new cluster (a standalone node: N=1 W=1 R=1 unless --n/--w/--r say otherwise); with --join it joins
the cluster of any reachable seed, adopting its settings (explicit --n/--w/--r/--consistency that contradict them are refused).
--nodes K starts K daemons on consecutive free ports as one local cluster (N=min(3,K), W=R=majority), each with its own data dir and log.
Writes are acknowledged once LevelDB has them in the OS page cache (they survive kill -9 of the daemon, not a power cut); --sync fsyncs each group commit first.`;
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --nodes 3 --data-dir /tmp/kv3',
    '<%= config.bin %> start --port 7071 --data-dir /tmp/kv2 --name node2 --join 127.0.0.1:7070',
    '<%= config.bin %> start --port 0 --json   # any free port; the JSON says which',
  ];

  static override flags = {
    host: Flags.string({ description: 'Address to listen on', env: envVars.host, default: DEFAULT_HOST }),
    port: Flags.integer({
      description: 'TCP port (0: any free port); with --nodes, the first of a run of free ports',
      env: envVars.port,
      default: DEFAULT_PORT,
      min: 0,
      max: 65535,
    }),
    'data-dir': Flags.string({ description: 'Directory for the LevelDB data, pid file and log [default: $XDG_DATA_HOME/kvctl/default]', env: envVars.dataDir }),
    name: Flags.string({ description: 'Node name, kept in the data dir [default: <hostname>-<port>; with --nodes: node1..K]', env: envVars.name }),
    join: Flags.string({ description: 'Seeds to join through, host:port[,host:port]', helpGroup: 'CLUSTER' }),
    nodes: Flags.integer({ description: 'Start this many daemons as one local cluster', min: 1, max: 64, helpGroup: 'CLUSTER' }),
    weight: Flags.integer({
      description: "Capacity relative to other nodes (the node's share of virtual nodes)",
      default: 1,
      min: 1,
      max: 64,
      helpGroup: 'CLUSTER',
    }),
    n: Flags.integer({ description: 'Replicas per key, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    w: Flags.integer({ description: 'Default write quorum, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    r: Flags.integer({ description: 'Default read quorum, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    consistency: Flags.string({
      description: "strict: only a key's own replicas count; sloppy: fallbacks with hints",
      options: ['strict', 'sloppy'],
      helpGroup: 'CLUSTER',
    }),
    advertise: Flags.string({ description: 'Address other nodes reach this one at [default: host:port]', helpGroup: 'CLUSTER' }),
    'gossip-interval-ms': Flags.integer({ description: 'Gossip period', default: defaultMembershipSettings.gossipIntervalMs, min: 10, helpGroup: 'CLUSTER' }),
    'down-after-ms': Flags.integer({
      description: 'A node not heard from this long is down (suspect at half)',
      default: defaultMembershipSettings.downAfterMs,
      min: 50,
      helpGroup: 'CLUSTER',
    }),
    'request-timeout-ms': Flags.integer({ description: 'How long a coordinator waits for replicas', default: 2000, min: 10, helpGroup: 'CLUSTER' }),
    'hint-max-mb': Flags.integer({
      description: 'Hints kept per down node, MiB; beyond it writes are not hinted (anti-entropy repairs later)',
      default: 64,
      min: 1,
      helpGroup: 'FAILURE HANDLING',
    }),
    'hint-max-age-ms': Flags.integer({
      description: 'Hints older than this are dropped and left to anti-entropy',
      default: defaultHints.maxAgeMs,
      min: 1,
      helpGroup: 'FAILURE HANDLING',
    }),
    'anti-entropy-interval-ms': Flags.integer({
      description: 'Background Merkle exchange with a random peer every this often (0: off)',
      default: defaultAntiEntropy.intervalMs,
      min: 0,
      helpGroup: 'FAILURE HANDLING',
    }),
    'anti-entropy-keys-per-sec': Flags.integer({
      description: 'Rate limit of the background exchange, keys transferred per second',
      default: defaultAntiEntropy.maxKeysPerSecond,
      min: 1,
      helpGroup: 'FAILURE HANDLING',
    }),
    'tombstone-grace-ms': Flags.integer({
      description: 'Tombstones are reaped once this old and held by every replica',
      default: defaultAntiEntropy.tombstoneGraceMs,
      min: 0,
      helpGroup: 'FAILURE HANDLING',
    }),
    'testing-faults': Flags.boolean({
      description: 'Enable the per-link fault switch (test.fault op) for partition tests; never in production',
      default: false,
      helpGroup: 'FAILURE HANDLING',
    }),
    'cache-mb': Flags.integer({ description: 'Memory budget of the hot-value cache, MiB (0: no cache)', env: envVars.cacheMb, default: 64, min: 0 }),
    sync: Flags.boolean({ description: 'fsync each group commit before acknowledging writes', default: false }),
    codec: Flags.string({ description: 'Brotli implementation for values', options: ['zlib', 'brotli-wasm'], default: 'zlib' }),
    'compress-min-bytes': Flags.integer({ description: 'Values shorter than this are stored uncompressed', default: 512, min: 0 }),
    'max-line-bytes': Flags.integer({
      description: 'Longest request line; longer closes the connection',
      default: defaultLimits.maxLineBytes,
      min: 64,
      helpGroup: 'LIMITS',
    }),
    'max-key-bytes': Flags.integer({ description: 'Longest key', default: defaultLimits.maxKeyBytes, min: 1, helpGroup: 'LIMITS' }),
    'max-value-bytes': Flags.integer({ description: 'Longest value', default: defaultLimits.maxValueBytes, min: 0, helpGroup: 'LIMITS' }),
    'max-connections': Flags.integer({ description: 'Client connections open at once', default: defaultLimits.maxConnections, min: 1, helpGroup: 'LIMITS' }),
    'max-siblings': Flags.integer({ description: 'Concurrent values one key may hold', default: defaultLimits.maxSiblings, min: 1, helpGroup: 'LIMITS' }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(Start);
    const result = await startNodes(flags as StartFlags, (text) => this.note(text));
    if (result.nodes.length === 1) {
      const [d] = result.nodes as [(typeof result.nodes)[number]];
      this.say(`kvctl daemon "${d.name}" is running
  address:  ${d.addr}
  data dir: ${d.dataDir}
  pid:      ${d.pid}
  log:      ${d.logFile}
  cluster:  ${d.cluster.id} (N=${d.cluster.settings.n} W=${d.cluster.settings.w} R=${d.cluster.settings.r}, ${d.cluster.settings.consistency})`);
      return { ...d };
    }
    const s = result.nodes[0]?.cluster.settings;
    this.say(`local cluster of ${result.nodes.length} nodes is running (N=${s?.n} W=${s?.w} R=${s?.r}, ${s?.consistency}):`);
    for (const d of result.nodes) this.say(`  ${d.name.padEnd(8)} ${d.addr.padEnd(21)} pid ${String(d.pid).padEnd(8)} ${d.dataDir}`);
    this.say(`try: KVCTL_ADDR=${result.nodes[0]?.addr} kvctl members`);
    return result;
  }
}
