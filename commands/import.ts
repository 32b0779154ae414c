import { fstatSync } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type BatchSummary, runBatch } from '../src/cli/batch.js';
import { batchExit } from '../src/cli/batch-flags.js';

/** How often progress is reported. */
const PROGRESS_EVERY_MS = 1000;

export default class Import extends KvCommand {
  static override summary = 'Write a dump made by kvctl export back into the cluster, causally.';
  static override description = `Reads export lines from stdin and merges each key's whole record into its replicas, as replicas merge: every version
keeps its dot, its clock and its deadline. Importing into an empty cluster reproduces every key, sibling and context; into the
cluster the dump came from, or twice, it changes nothing; a version the cluster has since superseded (a value deleted or
overwritten after the export) stays superseded. Up to --max-in-flight lines are imported at once; a lost connection is reopened
and its lines sent again (an import is safe to repeat). A bad line gets an error (on stderr, or as an NDJSON line with --json)
and the others go on. Progress: a bar on stderr at a terminal, or with --json one {"progress":…} line per second on stdout,
then a summary line. Exit 4 when any line failed, 3 when the daemon went away.`;
  static override examples = ['<%= config.bin %> import < dump.ndjson', 'gunzip -c users.ndjson.gz | <%= config.bin %> import --json'];

  static override flags = {
    ...addrFlags,
    w: Flags.integer({ description: 'Replicas that must take each record (1..N)', min: 1 }),
    consistency: Flags.string({ description: "Override the cluster's mode: strict or sloppy", options: ['strict', 'sloppy'] }),
    'max-in-flight': Flags.integer({ description: 'Lines imported at once', default: 64, min: 1 }),
    'max-line-bytes': Flags.integer({ description: 'Longest input line; a longer one is skipped (KV_LINE_TOO_LONG)', default: 8 * 1024 * 1024, min: 16 }),
    'reconnect-timeout': Flags.integer({
      description: 'Milliseconds a lost connection is tried again before the import stops (exit 3)',
      default: 10_000,
      min: 0,
    }),
  };

  async run(): Promise<undefined> {
    const { flags } = await this.parse(Import);
    const json = this.jsonEnabled();
    const client = await this.connect(flags);
    const counts = { lines: 0, imported: 0, failed: 0 };
    // Results: failures are reported, successes only counted (a dump of a million keys makes no million lines).
    const output = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const text of chunk.toString('utf8').split('\n')) {
          if (text === '') continue;
          const result = JSON.parse(text) as { line: number; ok?: boolean; error?: { code: string; message: string } };
          counts.lines++;
          if (result.ok === true) counts.imported++;
          else {
            counts.failed++;
            if (json) process.stdout.write(`${text}\n`);
            else this.note(`line ${result.line}: ${result.error?.code}: ${result.error?.message}`);
          }
        }
        done();
      },
    });
    const totalBytes = inputBytes();
    let readBytes = 0;
    // Counted on the way through: a second reader of stdin would take chunks from the import.
    const input = process.stdin.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          readBytes += chunk.length;
          done(null, chunk);
        },
      }),
    );
    const started = Date.now();
    const bar = !json && process.stderr.isTTY;
    const report = () => {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      if (json) process.stdout.write(`${JSON.stringify({ progress: { ...counts, bytes: readBytes, ...(totalBytes ? { totalBytes } : {}) } })}\n`);
      else if (bar) process.stderr.write(`\r${progressText(counts, readBytes, totalBytes, seconds)}`);
    };
    const timer = setInterval(report, PROGRESS_EVERY_MS);
    let summary: BatchSummary;
    try {
      summary = await runBatch(client, 'import', input, output, {
        maxInFlight: flags['max-in-flight'],
        maxLineBytes: flags['max-line-bytes'],
        reconnectTimeoutMs: flags['reconnect-timeout'],
        reconnect: () => this.connect(flags),
        defaults: { ...(flags.w ? { w: flags.w } : {}), ...(flags.consistency ? { consistency: flags.consistency } : {}) },
      });
    } finally {
      clearInterval(timer);
    }
    await client.close();
    if (bar) process.stderr.write(`\r${progressText(counts, readBytes, totalBytes, (Date.now() - started) / 1000)}\n`);
    const seconds = (Date.now() - started) / 1000;
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ ok: summary.failed === 0 && !summary.aborted, lines: summary.lines, imported: summary.succeeded, failed: summary.failed, seconds, ...(summary.aborted ? { error: summary.aborted.toWire() } : {}) })}\n`,
      );
    }
    batchExit(this, summary);
    return undefined;
  }
}

/** Bytes of stdin when it is a file (a bar can then say how far along it is). */
function inputBytes(): number | undefined {
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

function progressText(counts: { lines: number; imported: number; failed: number }, bytes: number, total: number | undefined, seconds: number): string {
  const rate = Math.round(counts.lines / Math.max(seconds, 0.001));
  const failed = counts.failed > 0 ? `, ${counts.failed} failed` : '';
  if (!total) return `imported ${counts.imported} keys${failed} (${rate}/s)`;
  const share = Math.min(1, bytes / total);
  const width = 30;
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(share * 100)}%  ${counts.imported} keys${failed} (${rate}/s)`;
}
