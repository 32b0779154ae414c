import { Args, Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type BatchSummary, runBatch } from '../src/cli/batch.js';
import { batchExit, batchFlags } from '../src/cli/batch-flags.js';
import { parseDurationMs } from '../src/cli/duration.js';
import { readStdin } from '../src/cli/read-stdin.js';
import { contextFlag, writeFlags } from '../src/cli/write-flags.js';
import type { Consistency } from '../src/config.js';
import { KvError } from '../src/errors.js';

const STDIN_VALUE_LIMIT = 64 * 1024 * 1024;

export default class Put extends KvCommand {
  static override summary = 'Store a value under a key.';
  static override description = `The value comes from the VALUE argument, or from stdin when VALUE is "-" or left out with stdin piped (binary-safe).
Without --context the write overwrites: it supersedes every version a read at R would return now, so "put k a; put k b" leaves "b".
Writes that overlap in time through different nodes, or across a partition, still both survive as siblings.
--context (the "context" of a get) supersedes exactly the versions that read saw: a read-modify-write that never loses a concurrent write.
--keep-siblings writes beside whatever is there (the new value becomes one more sibling), for values merged by the application.
--ttl makes the value expire: from its deadline on, reads and scans no longer see it, and it is reaped as a delete is.
--stdin reads NDJSON requests ({"key":…, "value":…} with optional "context", "keepSiblings": true, "ttlMs", "encoding": "base64") and writes one NDJSON result per line, in order.`;
  static override examples = [
    '<%= config.bin %> put user:1 \'{"name":"Ada"}\'',
    'cat photo.jpg | <%= config.bin %> put photo:1',
    '<%= config.bin %> put user:1 Ada --context "$(<%= config.bin %> get user:1 --json | jq -r .context)"',
    '<%= config.bin %> put cart:7 apples --keep-siblings',
    '<%= config.bin %> put session:42 token --ttl 30m',
    'seq 1000 | jq -c \'{key: "k\\(.)", value: "v\\(.)"}\' | <%= config.bin %> put --stdin',
  ];

  static override args = {
    key: Args.string({ description: 'The key (UTF-8)', ignoreStdin: true }),
    value: Args.string({ description: 'The value; "-" or omitted: read stdin', ignoreStdin: true }),
  };

  static override flags = {
    ...addrFlags,
    ...batchFlags,
    ...writeFlags,
    'keep-siblings': Flags.boolean({
      description: 'Without --context: keep what is there and add this value as one more sibling, instead of overwriting',
      default: false,
      exclusive: ['context'],
    }),
    ttl: Flags.string({
      description:
        "Expire the value after this long (500ms, 30s, 5m, 2h, 7d, 1h30m; a bare number is seconds), counted on the daemon's clock from when it takes the put",
    }),
  };

  async run(): Promise<Record<string, unknown> | BatchSummary> {
    const { args, flags } = await this.parse(Put);
    if (flags.stdin) {
      if (args.key !== undefined) throw new KvError('KV_USAGE', '--stdin takes no KEY argument: keys come from the NDJSON lines');
      const client = await this.connect(flags);
      const summary = await runBatch(client, 'put', process.stdin, process.stdout, {
        maxInFlight: flags['max-in-flight'],
        maxLineBytes: flags['max-line-bytes'],
        reconnectTimeoutMs: flags['reconnect-timeout'],
        reconnect: () => this.connect(flags),
        defaults: {
          ...(flags.w ? { w: flags.w } : {}),
          ...(flags.consistency ? { consistency: flags.consistency } : {}),
          ...(flags.ttl ? { ttlMs: parseDurationMs(flags.ttl, 'ttl') } : {}),
        },
      });
      await client.close();
      return batchExit(this, summary);
    }
    if (args.key === undefined) throw new KvError('KV_USAGE', 'missing KEY (or use --stdin)');
    let value: Buffer | string;
    if (args.value !== undefined && args.value !== '-') value = args.value;
    else if (args.value === '-' || !process.stdin.isTTY) value = await readStdin(STDIN_VALUE_LIMIT);
    else throw new KvError('KV_USAGE', 'missing VALUE: give it as an argument or pipe it on stdin');

    const context = contextFlag(flags.context);
    const ttlMs = flags.ttl === undefined ? undefined : parseDurationMs(flags.ttl, 'ttl');
    const client = await this.connect(flags);
    const result = await client.put(args.key, value, {
      context,
      w: flags.w,
      consistency: flags.consistency as Consistency | undefined,
      keepSiblings: flags['keep-siblings'],
      ...(ttlMs === undefined ? {} : { ttlMs }),
    });
    await client.close();
    if (result.siblings > 1) {
      this.note(
        `"${args.key}" now holds ${result.siblings} concurrent values (siblings): see them with kvctl get --all; a put without --keep-siblings replaces them all`,
      );
    }
    if (process.stdout.isTTY) this.say('OK');
    if (result.hintsDropped.length > 0) {
      this.note(`no fallback could keep a hint for ${result.hintsDropped.join(', ')} (hint cap reached): anti-entropy brings them the write later`);
    }
    return {
      key: args.key,
      ok: true,
      context: result.context,
      siblings: result.siblings,
      ...(result.expiresAt === undefined ? {} : { expiresAt: new Date(result.expiresAt).toISOString() }),
      ...(result.hinted.length > 0 ? { hinted: result.hinted } : {}),
      ...(result.hintsDropped.length > 0 ? { hintsDropped: result.hintsDropped } : {}),
    };
  }
}
