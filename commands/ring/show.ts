import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../../src/cli/base-command.js';
import { showDaemonView, watchFlags } from '../../src/cli/snapshot-view.js';
import { preferenceLine, type RingSnapshot, ringColumns, ringRows, ringTitle, ringWarnings } from '../../src/views/tables.js';

export default class RingShow extends KvCommand {
  static override summary = 'Show the consistent-hash ring: nodes, vnodes, weights, ownership.';
  static override description = `OWNS is each node's share of the key space as a replica (sums to N x 100%); while keys are being handed off after a
join or leave, OWNS is the share under the old ring and OWNS AFTER HANDOFF the share once it completes.
--key K adds the key's preference list: its N primary replicas, then the fallbacks in ring order.
--watch polls until interrupted, says when each poll was, marks the view stale when polls fail, and moves to another node
that was up when the one it polls goes away.`;
  static override examples = ['<%= config.bin %> ring show', '<%= config.bin %> ring show --key user:1', '<%= config.bin %> ring show --json'];

  static override flags = {
    ...addrFlags,
    key: Flags.string({ description: "Show this key's preference list" }),
    ...watchFlags,
  };

  /** The snapshot; undefined with --watch, which prints every poll itself. */
  async run(): Promise<RingSnapshot | undefined> {
    const { flags } = await this.parse(RingShow);
    return showDaemonView<RingSnapshot>({
      addr: this.resolveAddr(flags.addr),
      access: this.clientOptions(flags),
      json: this.jsonEnabled(),
      watch: flags.watch,
      intervalMs: flags['interval-ms'],
      body: { op: 'ring', ...(flags.key ? { key: flags.key } : {}) },
      table: (s) => {
        const line = flags.key ? preferenceLine(s, flags.key) : undefined;
        return { title: ringTitle(s), columns: ringColumns, rows: ringRows(s), footer: line ? [line] : [], warnings: ringWarnings(s) };
      },
      nodes: (s) => s.nodes.map((n) => ({ name: n.name, addr: n.addr, up: n.status === 'up' })),
    });
  }
}
