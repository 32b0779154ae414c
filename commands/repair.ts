import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type PairResult, parseRange, type RepairSummary, runRepair } from '../src/cli/repair-run.js';
import { ExitStatus } from '../src/errors.js';

export default class Repair extends KvCommand {
  static override summary = 'Run Merkle anti-entropy now: compare replicas and transfer only the keys that differ.';
  static override description = `For every pair of live nodes that share keys (or only pairs with --node), one asks the other for its Merkle tree of their
shared keys, descends only into differing subtrees, and both exchange the differing keys with their clocks (merged, so siblings and
tombstones come out right). Prints a progress bar at a terminal, NDJSON progress events with --json (one per pair, then the summary),
and a summary: ranges compared, keys differing, keys and bytes transferred, time taken. --dry-run reports differences only.
Exit 0 when every pair was repaired, 3 when a pair could not be reached.`;
  static override examples = [
    '<%= config.bin %> repair',
    '<%= config.bin %> repair --node node2 --dry-run',
    '<%= config.bin %> repair --range 0:0x3fffffff --json',
  ];

  static override flags = {
    ...addrFlags,
    node: Flags.string({ description: 'Repair only this node against its peers' }),
    range: Flags.string({ description: 'Only keys whose ring position is in lo:hi (0 .. 4294967295, decimal or 0x-hex)' }),
    'dry-run': Flags.boolean({ description: 'Report differences without transferring anything', default: false }),
  };

  async run(): Promise<RepairSummary> {
    const { flags } = await this.parse(Repair);
    const range = flags.range ? parseRange(flags.range) : undefined;
    const json = this.jsonEnabled();
    const tty = process.stdout.isTTY === true && !json;
    const title = `repair${flags['dry-run'] ? ' (dry run)' : ''}${flags.node ? ` of ${flags.node}` : ''}${flags.range ? ` in ${flags.range}` : ''}`;
    const lines: string[] = [];
    const view = tty ? await startView(title) : undefined;
    const describe = (r: PairResult) =>
      r.error
        ? `${r.pair.join(' <-> ')}: failed: ${r.error.message}`
        : `${r.pair.join(' <-> ')}: ${r.keysDiffering} differing, ${r.keysTransferred} transferred (${r.ms} ms)`;
    const summary = await runRepair(
      { addr: this.resolveAddr(flags.addr), node: flags.node, range, dryRun: flags['dry-run'], access: this.clientOptions(flags) },
      (done, total, result) => {
        if (json) process.stdout.write(`${JSON.stringify({ event: 'progress', done, total, ...result })}\n`);
        else if (view) {
          lines.push(describe(result));
          view.update(done, total, lines);
        } else this.say(`[${done}/${total}] ${describe(result)}`);
      },
    );
    view?.finish();
    this.say(
      `${title}: ${summary.pairs} pairs, ${summary.rangesCompared} ranges compared, ${summary.keysDiffering} keys differing, ${summary.keysTransferred} keys / ${summary.bytesTransferred} bytes transferred, ${summary.tombstonesReaped} tombstones reaped, ${summary.ms} ms${summary.pairsFailed ? `; ${summary.pairsFailed} pairs failed` : ''}`,
    );
    if (summary.pairsFailed > 0) this.setExit(ExitStatus.unreachable);
    return json ? ({ event: 'summary', ...summary } as RepairSummary) : summary;
  }
}

/** ink is imported only when a person watches. */
async function startView(title: string) {
  const [{ render }, { createElement }, { ProgressView }] = await Promise.all([import('ink'), import('react'), import('../src/views/progress-view.js')]);
  const app = render(createElement(ProgressView, { title, done: 0, total: 0, lines: [] }));
  return {
    update: (done: number, total: number, lines: string[]) => app.rerender(createElement(ProgressView, { title, done, total, lines: [...lines] })),
    finish: () => app.unmount(),
  };
}
