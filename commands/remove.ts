import { Args, Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import type { KvClient } from '../src/client/client.js';
import { KvError } from '../src/errors.js';

interface RemoveResult {
  node: string;
  /** The member that took the request (it gossips the removal to the others). */
  removedBy: string;
  /** True when the node had been removed before. */
  already: boolean;
  /** True once every survivor reports it holds its share of the new ring (false with --wait-ms 0). */
  copied: boolean;
}

export default class Remove extends KvCommand {
  static override summary = 'Take a dead node out of the cluster for good; its keys are copied to the survivors.';
  static override description = `For a node that is gone (disk lost, machine dead), as riak-admin cluster force-remove or nodetool removenode.
The member at --addr marks NODE removed and gossips it; every member drops it from the ring, and each key it held gets a new
replica, copied from the key's remaining replicas (ownership transfer; anti-entropy repairs anything missed). The command
waits until every survivor reports its handoff for the new ring done (--wait-ms; 0: do not wait).
A node that is up (alive or suspect) is refused (exit 4, KV_NODE_UP): use kvctl leave, which hands its keys off first,
or --force. A removed node never comes back under its old data dir: started again, it refuses (KV_REMOVED), and a running one
exits once it hears of its removal. To bring the machine back, wipe its data dir and start it with --join as a new node.`;
  static override examples = [
    '<%= config.bin %> remove node3 --addr 127.0.0.1:7070',
    '<%= config.bin %> remove node3 --force   # even if the node still answers',
  ];

  static override args = { node: Args.string({ description: 'Name of the node to remove, as kvctl members shows it' }) };

  static override flags = {
    ...addrFlags,
    force: Flags.boolean({ description: 'Remove the node even if it is up (it exits when it hears; its keys are not handed off)' }),
    'wait-ms': Flags.integer({ description: 'How long to wait for the survivors to copy its keys (0: do not wait)', default: 300_000, min: 0 }),
  };

  async run(): Promise<RemoveResult> {
    const { args, flags } = await this.parse(Remove);
    const node = args.node;
    if (!node) throw new KvError('KV_USAGE', 'name the node to remove: kvctl remove NODE (kvctl members lists them)');
    const client = await this.connect(flags);
    try {
      const reply = await client.request({ op: 'remove', node: node, force: flags.force === true });
      const removedBy = String((await client.request({ op: 'ping' })).node);
      const already = reply.already === true;
      this.say(
        already
          ? `${node} was removed already`
          : `${node} (${String(reply.health)}) is removed from the ring; its keys are being copied to the survivors from their other replicas`,
      );
      const copied = flags['wait-ms'] > 0 && (await this.waitForCopies(client, flags['wait-ms']));
      if (copied) this.say(`every survivor holds its share of the new ring`);
      return { node: node, removedBy, already, copied };
    } finally {
      await client.close();
    }
  }

  /** Polls until the node sees every ring member done handing off for the new ring. */
  private async waitForCopies(client: KvClient, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    let lastPending = -1;
    for (;;) {
      const ring = await client.request({ op: 'ring' });
      const nodes = ring.nodes as { handoffPending: number }[];
      if (ring.transferring === false) return true;
      const pending = nodes.reduce((sum, n) => sum + n.handoffPending, 0);
      if (pending !== lastPending && pending > 0) this.note(`${pending} keys still to copy`);
      lastPending = pending;
      if (Date.now() > deadline)
        throw new KvError('KV_TIMEOUT', `the survivors did not finish copying within ${waitMs} ms (kvctl ring show tells the progress)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
