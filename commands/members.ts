import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { showDaemonView, watchFlags } from '../src/cli/snapshot-view.js';
import { answers, type MembersSnapshot, memberColumns, memberRows, membersTitle, membersWarnings } from '../src/views/tables.js';

export default class Members extends KvCommand {
  static override summary = 'Show the cluster members as one node sees them.';
  static override description = `For each member: its state (up, degraded, suspect, down, leaving, left, removed), address, the age of its last heartbeat, its
incarnation, weight, keys held, keys still to hand off, and hints held for others. Health is each node's own judgement from gossip:
ask another node (--addr) to see its view. A degraded node is alive but its storage refuses writes (a full disk, an I/O error): a
warning says why; it recovers on its own. When the ring has fewer nodes than N, a warning says how many copies each key really gets.
An ink table at a terminal, plain stable text otherwise; --json gives the data.
--watch polls until interrupted and says when each poll was; when polls fail it marks the view stale and says why, and when the
node it polls goes away it moves to another member that was up and says whose view it now shows.`;
  static override examples = [
    '<%= config.bin %> members',
    '<%= config.bin %> members --watch',
    '<%= config.bin %> members --json | jq ".members[] | {name, health}"',
  ];

  static override flags = {
    ...addrFlags,
    ...watchFlags,
  };

  /** The snapshot; undefined with --watch, which prints every poll itself. */
  async run(): Promise<MembersSnapshot | undefined> {
    const { flags } = await this.parse(Members);
    return showDaemonView<MembersSnapshot>({
      addr: this.resolveAddr(flags.addr),
      access: this.clientOptions(flags),
      json: this.jsonEnabled(),
      watch: flags.watch,
      intervalMs: flags['interval-ms'],
      body: { op: 'members' },
      table: (s) => ({ title: membersTitle(s), columns: memberColumns, rows: memberRows(s), stateColumn: 1, warnings: membersWarnings(s) }),
      nodes: (s) => s.members.map((m) => ({ name: m.name, addr: m.addr, up: answers(m) })),
      self: (s) => s.self,
    });
  }
}
