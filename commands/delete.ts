import { Args } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type BatchSummary, runBatch } from '../src/cli/batch.js';
import { batchExit, batchFlags } from '../src/cli/batch-flags.js';
import { contextFlag, writeFlags } from '../src/cli/write-flags.js';
import type { Consistency } from '../src/config.js';
import { KvError } from '../src/errors.js';

export default class Delete extends KvCommand {
  static override summary = 'Delete a key.';
  static override description =
    `Writes a tombstone that supersedes every version a read at R would return now (or, with --context, exactly the versions that read saw).
Deleting a missing key succeeds (exit 0); the result says whether a value existed.
--stdin reads NDJSON requests ({"key":…}) and writes one NDJSON result per line, in order.`;
  static override examples = ['<%= config.bin %> delete user:1', '<%= config.bin %> delete user:1 --json'];

  static override args = { key: Args.string({ description: 'The key (UTF-8)', ignoreStdin: true }) };

  static override flags = {
    ...addrFlags,
    ...batchFlags,
    ...writeFlags,
  };

  async run(): Promise<Record<string, unknown> | BatchSummary> {
    const { args, flags } = await this.parse(Delete);
    const context = contextFlag(flags.context);
    const client = await this.connect(flags);
    if (flags.stdin) {
      if (args.key !== undefined) throw new KvError('KV_USAGE', '--stdin takes no KEY argument: keys come from the NDJSON lines');
      const summary = await runBatch(client, 'delete', process.stdin, process.stdout, {
        maxInFlight: flags['max-in-flight'],
        maxLineBytes: flags['max-line-bytes'],
        reconnectTimeoutMs: flags['reconnect-timeout'],
        reconnect: () => this.connect(flags),
        defaults: { ...(flags.w ? { w: flags.w } : {}), ...(flags.consistency ? { consistency: flags.consistency } : {}) },
      });
      await client.close();
      return batchExit(this, summary);
    }
    if (args.key === undefined) throw new KvError('KV_USAGE', 'missing KEY (or use --stdin)');
    const result = await client.delete(args.key, { context, w: flags.w, consistency: flags.consistency as Consistency | undefined });
    await client.close();
    if (process.stdout.isTTY) this.say(result.existed ? 'deleted' : 'not found (nothing to delete)');
    return { key: args.key, deleted: true, existed: result.existed, context: result.context };
  }
}
