import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../../src/cli/base-command.js';
import { type ClusterView, copiesWarning, settingsText } from '../../src/cli/cluster-text.js';
import { MAX_REPLICAS } from '../../src/config.js';
import { KvError } from '../../src/errors.js';

export default class ClusterSet extends KvCommand {
  static override summary = "Change a running cluster's N, W, R or consistency.";
  static override description = `The node at --addr adopts the new settings and gossip carries them to every other node within a few rounds
(the settings with the highest version win; the node and its peers keep them across restarts). W and R must not exceed N.
Raising N copies every key to its new replicas in the background (watch "kvctl ring show": transferring); lowering it makes the
extra copies drop out. W and R are defaults: a request can still choose its own with --w/--r.`;
  static override examples = [
    '<%= config.bin %> cluster set --n 3 --w 2 --r 2',
    '<%= config.bin %> cluster set --consistency sloppy',
    '<%= config.bin %> cluster set --r 1 --json',
  ];

  static override flags = {
    ...addrFlags,
    n: Flags.integer({ description: 'Replicas per key', min: 1, max: MAX_REPLICAS }),
    w: Flags.integer({ description: 'Default write quorum (1..N)', min: 1, max: MAX_REPLICAS }),
    r: Flags.integer({ description: 'Default read quorum (1..N)', min: 1, max: MAX_REPLICAS }),
    consistency: Flags.string({
      description: "strict: only a key's own replicas count; sloppy: fallbacks stand in, with hints",
      options: ['strict', 'sloppy'],
    }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(ClusterSet);
    const changes = Object.fromEntries((['n', 'w', 'r', 'consistency'] as const).filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]));
    if (Object.keys(changes).length === 0) throw new KvError('KV_USAGE', 'give at least one of --n, --w, --r, --consistency');
    const client = await this.connect(flags);
    try {
      const { id: _id, ok: _ok, ...reply } = await client.request({ op: 'cluster.set', ...changes });
      const cluster = reply.cluster as ClusterView;
      const was = reply.previous as ClusterView;
      this.say(
        reply.changed
          ? `cluster settings: ${settingsText(cluster)} (were ${settingsText(was)}); gossip spreads them to every node`
          : `cluster settings unchanged: ${settingsText(cluster)}`,
      );
      const warning = copiesWarning(cluster);
      if (warning) this.say(warning);
      return { ok: true, ...reply };
    } finally {
      await client.close();
    }
  }
}
