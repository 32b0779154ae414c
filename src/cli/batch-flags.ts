/** Flags and exit handling shared by the `--stdin` batch mode of put, get and delete. */
import { Flags } from '@oclif/core';
import { ExitStatus } from '../errors.js';
import type { KvCommand } from './base-command.js';
import { type BatchSummary, MAX_RESENDS } from './batch.js';

export const batchFlags = {
  stdin: Flags.boolean({
    description:
      'Read NDJSON requests from stdin, write one NDJSON result per line, in input order, with its input line number ("line"). A bad line (not JSON, unknown field, over a limit) gets an error result and the others go on',
    default: false,
    helpGroup: 'BATCH',
  }),
  'max-in-flight': Flags.integer({ description: 'Requests pipelined at once in --stdin mode', default: 64, min: 1, helpGroup: 'BATCH' }),
  'max-line-bytes': Flags.integer({
    description:
      "Longest input line in --stdin mode; a longer one is skipped (KV_LINE_TOO_LONG), as is a request longer on the wire than the daemon's own line limit",
    default: 4 * 1024 * 1024,
    min: 16,
    helpGroup: 'BATCH',
  }),
  'reconnect-timeout': Flags.integer({
    description: `Milliseconds --stdin mode keeps trying to reopen a lost connection before it stops (exit 3). A get that was in flight is sent again (up to ${MAX_RESENDS} times); a put or delete is reported failed with maybeApplied, as it may have been applied`,
    default: 10_000,
    min: 0,
    helpGroup: 'BATCH',
  }),
};

/**
 * Batch exit status: 0 when every line succeeded (a missing key in `get --stdin` is a result, not
 * a failure), 3 when the daemon became unreachable mid-way (and stayed so), 4 when any line was
 * rejected. The summary goes to stderr, so stdout holds only the per-line results.
 */
export function batchExit(command: KvCommand, summary: BatchSummary): BatchSummary {
  const notFound = summary.notFound ? `, ${summary.notFound} not found` : '';
  const reconnects = summary.reconnects ? `, ${summary.reconnects} reconnect${summary.reconnects > 1 ? 's' : ''}` : '';
  const stopped = summary.aborted ? `; stopped ${summary.aborted.message}` : '';
  process.stderr.write(`kvctl: ${summary.lines} lines, ${summary.succeeded} ok, ${summary.failed} failed${notFound}${reconnects}${stopped}\n`);
  if (summary.aborted) process.exitCode = ExitStatus.unreachable;
  else if (summary.failed > 0) process.exitCode = ExitStatus.rejected;
  void command;
  return summary;
}
