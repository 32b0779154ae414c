import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { KvClient } from '../src/client/client.js';
import { KvError } from '../src/errors.js';

export default class Leave extends KvCommand {
  static override summary = 'Decommission a node: hand its keys to their new owners, then stop it.';
  static override description = `The node marks itself leaving (gossiped), leaves the ring, streams every key it holds to the key's new replicas, marks
itself left and exits. The command waits until the daemon has exited (or --wait-ms passes), printing the handoff progress.
A node that was only stopped or killed is not gone: the cluster keeps its place on the ring until it leaves.`;
  static override examples = ['<%= config.bin %> leave --addr 127.0.0.1:7072'];

  static override flags = {
    ...addrFlags,
    'wait-ms': Flags.integer({ description: 'How long to wait for the handoff and exit', default: 300_000, min: 1 }),
  };

  async run(): Promise<{ left: true; node: string; keys: number }> {
    const { flags } = await this.parse(Leave);
    const addr = this.resolveAddr(flags.addr);
    const client = await KvClient.connect(addr, this.clientOptions(flags));
    const members = await client.request({ op: 'members' });
    if ((members.members as unknown[]).filter((m) => (m as { status: string }).status === 'up').length <= 1) {
      await client.close();
      throw new KvError('KV_USAGE', 'the last member of a cluster cannot leave it (stop it instead)');
    }
    const reply = await client.request({ op: 'leave' });
    const node = String(members.self);
    this.say(`${node} is leaving: handing off ${reply.keys} keys`);
    const deadline = Date.now() + flags['wait-ms'];
    let lastPending = -1;
    for (;;) {
      if (Date.now() > deadline) throw new KvError('KV_TIMEOUT', `${node} did not finish leaving within ${flags['wait-ms']} ms`);
      await new Promise((r) => setTimeout(r, 200));
      try {
        const stats = await client.stats();
        const pending = (stats.handoff as { pending: number }).pending;
        if (pending !== lastPending && pending > 0) this.note(`${pending} keys still to hand off`);
        lastPending = pending;
      } catch {
        break; // the daemon exited: it has left
      }
    }
    this.say(`${node} has left the cluster`);
    return { left: true, node, keys: Number(reply.keys) };
  }
}
