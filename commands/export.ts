import { once } from 'node:events';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { keyRangeFlags } from '../src/cli/key-range-flags.js';
import type { Consistency } from '../src/config.js';
import { KvError } from '../src/errors.js';

export default class Export extends KvCommand {
  static override summary = "Write every live key's whole record to stdout, one JSON line per key (a dump kvctl import reads).";
  static override description = `Streams the cluster's keys in key order (all, --prefix, or [--start, --end)), each as one JSON line holding its whole
causal record: the clock, and every version with its dot, its time, its value or its deletion, and its deadline. A key with no
live value (deleted or expired) is left out. The format (its "v" field is 1) is documented in the README; kvctl import writes a
dump back causally. Each key is answered by R of its replicas, as scan answers it; a scan that stops (a node lost in strict mode)
says on stderr where to resume with --cursor, and the lines written so far stand. Stdout is the dump, with or without --json;
the count goes to stderr.`;
  static override examples = [
    '<%= config.bin %> export > dump.ndjson',
    '<%= config.bin %> export --prefix user: | gzip > users.ndjson.gz',
    '<%= config.bin %> export --cursor c1.dXNlcjo5OQ >> dump.ndjson',
  ];

  static override flags = {
    ...addrFlags,
    ...keyRangeFlags,
  };

  async run(): Promise<undefined> {
    const { flags } = await this.parse(Export);
    const client = await this.connect(flags);
    const scan = client.scan({
      prefix: flags.prefix,
      start: flags.start,
      end: flags.end,
      cursor: flags.cursor,
      versions: true,
      r: flags.r,
      consistency: flags.consistency as Consistency | undefined,
      pageKeys: 1000,
    });
    let readerGone = false;
    process.stdout.on('error', () => {
      readerGone = true;
      client.destroy();
    });
    let keys = 0;
    let stale = 0;
    let chunk = '';
    try {
      for await (const item of scan) {
        if (readerGone) return undefined;
        const { maybeStale: _, ...line } = item.exported ?? {};
        if (item.exported === undefined) throw new KvError('KV_INTERNAL', 'the daemon answered an export without records');
        if (item.maybeStale) stale++;
        chunk += `${JSON.stringify(line)}\n`;
        keys++;
        if (chunk.length >= 64 * 1024) {
          await write(chunk);
          chunk = '';
        }
      }
      if (chunk.length > 0) await write(chunk);
    } catch (err) {
      if (readerGone) return undefined;
      if (chunk.length > 0) await write(chunk);
      const at = scan.cursor;
      if (at !== undefined) this.note(`export stopped after ${keys} keys; resume with --cursor ${at} (append to the same dump)`);
      throw err;
    }
    await client.close();
    if (stale > 0) this.note(`sloppy export: fewer than R replicas answered for ${stale} keys; they may be stale`);
    this.note(`exported ${keys} keys`);
    return undefined;
  }
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}
