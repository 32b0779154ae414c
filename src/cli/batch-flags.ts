/** Flags and exit handling shared by the `--stdin` batch mode of put, get and delete. */
import { Flags } from '@oclif/core';
import { ExitStatus } from '../errors.js';
import type { KvCommand } from './base-command.js';
import type { BatchSummary } from './batch.js';

export const batchFlags = {
  stdin: Flags.boolean({ description: 'Read NDJSON requests from stdin, write one NDJSON result per line', default: false, helpGroup: 'BATCH' }),
  'max-in-flight': Flags.integer({ description: 'Requests pipelined at once in --stdin mode', default: 64, min: 1, helpGroup: 'BATCH' }),
  'max-line-bytes': Flags.integer({ description: 'Longest input line in --stdin mode', default: 4 * 1024 * 1024, min: 16, helpGroup: 'BATCH' }),
};

/**
 * Batch exit status: 0 when every line succeeded (a missing key in `get --stdin` is a result, not
 * a failure), 3 when the daemon became unreachable mid-way, 4 when any line was rejected.
 * The summary goes to stderr, so stdout holds only the per-line results.
 */
export function batchExit(command: KvCommand, summary: BatchSummary): BatchSummary {
  process.stderr.write(
    `kvctl: ${summary.lines} lines, ${summary.succeeded} ok, ${summary.failed} failed${summary.notFound ? `, ${summary.notFound} not found` : ''}${summary.aborted ? `; stopped: ${summary.aborted.message}` : ''}\n`,
  );
  if (summary.aborted) process.exitCode = summary.aborted.code === 'KV_LINE_TOO_LONG' ? ExitStatus.rejected : ExitStatus.unreachable;
  else if (summary.failed > 0) process.exitCode = ExitStatus.rejected;
  void command;
  return summary;
}
