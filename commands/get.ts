import { isUtf8 } from 'node:buffer';
import { Args, Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type BatchSummary, runBatch } from '../src/cli/batch.js';
import { batchExit, batchFlags } from '../src/cli/batch-flags.js';
import type { Consistency } from '../src/config.js';
import { ExitStatus, KvError } from '../src/errors.js';

export default class Get extends KvCommand {
  static override summary = 'Print the value of a key.';
  static override description = `Prints the value's bytes to stdout exactly, nothing else, so v=$(kvctl get k) is the value or a failure.
Exit 1 (and nothing on stdout) when the key is missing or deleted.
When concurrent writes left several values (siblings), nothing goes to stdout and the exit status is 7 (KV_SIBLINGS), unless
--all prints every value (each followed by a newline if it lacks one; --json gives exact bytes). --json gives {values:[…], context};
"kvctl put --context" with that context resolves the siblings, and so does a plain put (it overwrites them all).
--stdin reads NDJSON requests ({"key":…}) and writes one NDJSON result per line, in order.`;
  static override examples = [
    '<%= config.bin %> get user:1',
    '<%= config.bin %> get user:1 --json',
    '<%= config.bin %> get cart:7 --all',
    'printf \'{"key":"a"}\\n{"key":"b"}\\n\' | <%= config.bin %> get --stdin',
  ];

  static override args = { key: Args.string({ description: 'The key (UTF-8)', ignoreStdin: true }) };

  static override flags = {
    ...addrFlags,
    ...batchFlags,
    consistency: Flags.string({ description: "Override the cluster's mode for this request: strict or sloppy", options: ['strict', 'sloppy'] }),
    r: Flags.integer({ description: 'Replicas that must answer (1..N)', min: 1 }),
    all: Flags.boolean({ description: 'Print every sibling when there are several (otherwise: exit 7, nothing printed)', default: false }),
  };

  async run(): Promise<Record<string, unknown> | BatchSummary> {
    const { args, flags } = await this.parse(Get);
    const client = await this.connect(flags);
    if (flags.stdin) {
      if (args.key !== undefined) throw new KvError('KV_USAGE', '--stdin takes no KEY argument: keys come from the NDJSON lines');
      const summary = await runBatch(client, 'get', process.stdin, process.stdout, {
        maxInFlight: flags['max-in-flight'],
        maxLineBytes: flags['max-line-bytes'],
        reconnectTimeoutMs: flags['reconnect-timeout'],
        reconnect: () => this.connect(flags),
        defaults: { ...(flags.r ? { r: flags.r } : {}), ...(flags.consistency ? { consistency: flags.consistency } : {}) },
      });
      await client.close();
      return batchExit(this, summary);
    }
    if (args.key === undefined) throw new KvError('KV_USAGE', 'missing KEY (or use --stdin)');
    const result = await client.get(args.key, { r: flags.r, consistency: flags.consistency as Consistency | undefined });
    if (result.maybeStale && !this.jsonEnabled())
      this.note(`sloppy read: fallbacks answered for down replicas (${result.replicas.join(', ')}); the value may be stale`);
    await client.close();
    if (!result.found) {
      if (!this.jsonEnabled()) this.note(`key not found: ${args.key}`);
      this.setExit(ExitStatus.notFound);
      return { key: args.key, found: false, context: result.context, replicas: result.replicas, ...(result.maybeStale ? { maybeStale: true } : {}) };
    }
    if (!this.jsonEnabled()) this.print(args.key, result.values, flags.all);
    const encoding = result.values.every((v) => isUtf8(v)) ? 'utf8' : 'base64';
    return {
      key: args.key,
      found: true,
      values: result.values.map((v) => v.toString(encoding)),
      encoding,
      context: result.context,
      replicas: result.replicas,
      ...(result.maybeStale ? { maybeStale: true } : {}),
      // Each value's deadline (ISO 8601, null: none) when any value expires.
      ...(result.expiresAt ? { expiresAt: result.expiresAt.map((ms) => (ms === null ? null : new Date(ms).toISOString())) } : {}),
    };
  }

  /** One value: its exact bytes. Siblings: all of them with --all, else a KV_SIBLINGS failure (nothing on stdout). */
  private print(key: string, values: Buffer[], all: boolean): void {
    if (values.length === 1) {
      const [value] = values as [Buffer];
      process.stdout.write(value);
      if (process.stdout.isTTY && value.at(-1) !== 0x0a) process.stdout.write('\n');
      return;
    }
    if (!all) {
      throw new KvError(
        'KV_SIBLINGS',
        `"${key}" holds ${values.length} concurrent values (siblings): print them with --all or --json; a put without --keep-siblings replaces them`,
        { key, siblings: values.length },
      );
    }
    this.note(`"${key}" holds ${values.length} concurrent values (siblings), printed one after another`);
    for (const value of values) {
      process.stdout.write(value);
      if (value.at(-1) !== 0x0a) process.stdout.write('\n');
    }
  }
}
