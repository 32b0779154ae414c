import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { showDaemonView, watchFlags } from '../src/cli/snapshot-view.js';
import { type MembersSnapshot, memberColumns, memberRows, membersTitle } from '../src/views/tables.js';

export default class Members extends KvCommand {
  static override summary = 'Show the cluster members as one node sees them.';
  static override description =
    `For each member: its state (up, suspect, down, leaving, left, removed), address, the age of its last heartbeat, its incarnation,
weight, keys held, keys still to hand off, and hints held for others. Health is each node's own judgement from gossip: ask another
node (--addr) to see its view. An ink table at a terminal, plain stable text otherwise; --watch refreshes in place; --json gives the data.`;
  static override examples = [
    '<%= config.bin %> members',
    '<%= config.bin %> members --watch',
    '<%= config.bin %> members --json | jq ".members[] | {name, health}"',
  ];

  static override flags = {
    ...addrFlags,
    ...watchFlags,
  };

  async run(): Promise<MembersSnapshot> {
    const { flags } = await this.parse(Members);
    return showDaemonView<MembersSnapshot>(() => this.connect(flags), {
      json: this.jsonEnabled(),
      flags,
      body: { op: 'members' },
      table: (s) => ({ title: membersTitle(s), columns: memberColumns, rows: memberRows(s), stateColumn: 1 }),
    });
  }
}
