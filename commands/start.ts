import { Flags } from '@oclif/core';
import { KvCommand } from '../src/cli/base-command.js';
import { givenFlags, nodeSettingFlags } from '../src/cli/node-settings.js';
import { type StartedNode, type StartFlags, type StartResult, startNodes } from '../src/cli/start-nodes.js';
import { envVars } from '../src/config.js';
import { KvError } from '../src/errors.js';

export default class Start extends KvCommand {
  static override summary = 'Start a daemon (or a local cluster) in the background.';
  static override description = `Forks a detached daemon, waits until it answers, and prints where it listens, where its data lives, its pid and its log file.
The node's settings (every flag below but --data-dir, --nodes, --cluster, --n/--w/--r/--consistency) are kept in node.json in its
data dir: "kvctl start --data-dir D" brings the node back as it was, on the same port (--port 0 picks a free port once, then keeps
it). A flag given again overrides the saved value and is saved; environment variables only fill in what neither gives.
A busy port or a data dir used by another daemon fails with a clear message (exit 6). A pid file left by a crash does not block the start.
Without --join the node starts a new cluster (a standalone node unless --n/--w/--r say otherwise); with --join it joins
the cluster of any reachable seed, adopting its settings (explicit --n/--w/--r/--consistency that contradict them are refused).
--nodes K makes a local cluster of K daemons (node1..nodeK under --data-dir, default $XDG_DATA_HOME/kvctl/local-cluster) on K
consecutive ports from --port; if any is taken it fails naming them (exit 6); --port 0 picks free ports and prints them.
--cluster starts every node of that local cluster again as it was (nodes already running are left alone); kvctl stop --cluster stops it.
A node removed from its cluster (kvctl remove) refuses to start from its old data dir (exit 6): a restarting node first asks
its peers (2 s at most) whether it was removed.
Writes are acknowledged once LevelDB has them in the OS page cache (they survive kill -9 of the daemon, not a power cut); --sync fsyncs each group commit first.`;
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --data-dir /tmp/kv2   # again after a stop: same port, name and settings',
    '<%= config.bin %> start --nodes 3 --data-dir /tmp/kv3',
    '<%= config.bin %> stop --cluster --data-dir /tmp/kv3 && <%= config.bin %> start --cluster --data-dir /tmp/kv3',
    '<%= config.bin %> start --port 7071 --data-dir /tmp/kv2 --name node2 --join 127.0.0.1:7070',
    '<%= config.bin %> start --port 0 --json   # any free port; the JSON says which',
    '<%= config.bin %> start --metrics-port 9464   # Prometheus metrics at http://127.0.0.1:9464/metrics',
  ];

  static override flags = {
    ...nodeSettingFlags,
    'data-dir': Flags.string({
      description: 'Data dir of the node (with --nodes or --cluster: of the local cluster) [default: $XDG_DATA_HOME/kvctl/default]',
      env: envVars.dataDir,
    }),
    nodes: Flags.integer({ description: 'Make a local cluster of this many daemons', min: 1, max: 64, helpGroup: 'CLUSTER' }),
    cluster: Flags.boolean({ description: 'Start every node of the local cluster in --data-dir again, as it was', helpGroup: 'CLUSTER' }),
    n: Flags.integer({ description: 'Replicas per key, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    w: Flags.integer({ description: 'Default write quorum, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    r: Flags.integer({ description: 'Default read quorum, for a new cluster', min: 1, max: 16, helpGroup: 'CLUSTER' }),
    consistency: Flags.string({
      description: "strict: only a key's own replicas count; sloppy: fallbacks with hints",
      options: ['strict', 'sloppy'],
      helpGroup: 'CLUSTER',
    }),
  };

  async run(): Promise<StartedNode | StartResult> {
    const { flags, raw } = await this.parse(Start);
    if (flags.nodes !== undefined && flags.cluster)
      throw new KvError('KV_USAGE', '--nodes makes a new local cluster, --cluster starts an existing one: give one of them');
    const result = await startNodes(flags as StartFlags, givenFlags(raw), (text) => this.note(text));
    if (!result.clusterDir) {
      const [d] = result.nodes as [StartedNode];
      this.say(`kvctl daemon "${d.name}" is running
  address:  ${d.addr}
  data dir: ${d.dataDir}
  pid:      ${d.pid}
  log:      ${d.logFile}
  cluster:  ${d.cluster.id} (N=${d.cluster.settings.n} W=${d.cluster.settings.w} R=${d.cluster.settings.r}, ${d.cluster.settings.consistency})${d.metricsAddr ? `\n  metrics:  http://${d.metricsAddr}/metrics` : ''}`);
      return { ...d };
    }
    const s = result.nodes[0]?.cluster.settings;
    const picked = flags.port === 0 && flags.nodes ? ', on ports picked by --port 0' : '';
    this.say(`local cluster of ${result.nodes.length} nodes is running (N=${s?.n} W=${s?.w} R=${s?.r}, ${s?.consistency}) in ${result.clusterDir}${picked}:`);
    for (const d of result.nodes) {
      const state = d.alreadyRunning ? '  (was running)' : '';
      const metrics = d.metricsAddr ? `  metrics http://${d.metricsAddr}/metrics` : '';
      this.say(`  ${d.name.padEnd(8)} ${d.addr.padEnd(21)} pid ${String(d.pid).padEnd(8)} ${d.dataDir}${state}${metrics}`);
    }
    if (flags.port === 0 && flags.nodes) {
      // Free ports chosen by the OS: say them loudly, they are not the documented defaults.
      this.note(`--port 0 chose ports ${result.nodes.map((d) => d.port).join(', ')}; they are kept: start --cluster reuses them`);
    }
    this.say(`try: KVCTL_ADDR=${result.nodes[0]?.addr} kvctl members`);
    return result;
  }
}
