import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { keyRangeFlags } from '../src/cli/key-range-flags.js';
import type { ScanItem, ScanStream } from '../src/client/client.js';
import type { Consistency } from '../src/config.js';
import { MAX_SCAN_PAGE_KEYS } from '../src/protocol/scan.js';

export default class Scan extends KvCommand {
  static override summary = 'List keys (and values) in key order across the cluster.';
  static override description = `Lists the keys of the whole cluster in byte order: all of them, those starting with --prefix, or those in [--start, --end)
(start included, end not; with --prefix too, the keys in both). Deleted keys are left out; each key is answered by at least R of
its replicas, their versions merged as a get merges them. Without --json: one key per line, or with --values the key, a tab and
each value (UTF-8, or base64: with that prefix when not UTF-8). With --json: NDJSON, one object per key
({key, values, encoding, context, siblings, maybeStale, expiresAt}), so it pipes into jq; encoding says whether key and values are utf8 or base64.
--limit N stops after N keys and prints the cursor to resume from (on stderr, and with --json as a last line {"cursor":…});
--cursor C resumes there. Strict mode fails (exit 5, with the cursor reached) when a key could not be answered by R replicas;
sloppy mode goes on and marks such keys maybeStale. The scan streams: the daemon and every node behind it produce only as fast
as this command writes, so kvctl scan | head stops the scan early.`;
  static override examples = [
    '<%= config.bin %> scan --prefix user:',
    '<%= config.bin %> scan --prefix user: --json | jq -r .key',
    '<%= config.bin %> scan --start a --end m --values',
    '<%= config.bin %> scan --limit 100',
    '<%= config.bin %> scan --limit 100 --cursor c1.dXNlcjo5OQ',
  ];

  static override flags = {
    ...addrFlags,
    ...keyRangeFlags,
    limit: Flags.integer({ description: 'Stop after this many keys and print the cursor to resume from', min: 1 }),
    values: Flags.boolean({ description: 'Print values too', default: false }),
    'page-keys': Flags.integer({ description: `Keys per reply line from the daemon (1..${MAX_SCAN_PAGE_KEYS})`, min: 1, max: MAX_SCAN_PAGE_KEYS }),
  };

  async run(): Promise<undefined> {
    const { flags } = await this.parse(Scan);
    const client = await this.connect(flags);
    const json = this.jsonEnabled();
    const scan = client.scan({
      prefix: flags.prefix,
      start: flags.start,
      end: flags.end,
      cursor: flags.cursor,
      limit: flags.limit,
      values: flags.values,
      r: flags.r,
      consistency: flags.consistency as Consistency | undefined,
      pageKeys: flags['page-keys'],
    });
    // The reader went away (kvctl scan | head): stop, quietly; closing the connection stops the scan everywhere.
    let readerGone = false;
    process.stdout.on('error', () => {
      readerGone = true;
      client.destroy();
    });
    let staleNoted = false;
    try {
      await this.print(
        scan,
        json,
        flags.values,
        () => readerGone,
        (item) => {
          if (item.maybeStale && !staleNoted && !json) {
            staleNoted = true;
            this.note('sloppy scan: fewer than R replicas answered for some keys (marked maybeStale with --json); they may be stale');
          }
        },
      );
    } catch (err) {
      if (readerGone) return undefined;
      // Where the keys printed end (a connection dropped for not taking its replies has no cursor of its own).
      const at = scan.cursor;
      if (at !== undefined) this.note(`scan stopped after the keys printed; resume with --cursor ${at}`);
      throw err;
    }
    if (readerGone) return undefined;
    const cursor = scan.cursor;
    if (cursor !== undefined) {
      this.note(`stopped at --limit; more keys may follow: resume with --cursor ${cursor}`);
      if (json) await write(`${JSON.stringify({ cursor })}\n`);
    }
    await client.close();
    return undefined;
  }

  /** Writes each item as it comes, waiting for stdout to drain: a slow reader slows the scan instead of filling memory. */
  private async print(scan: ScanStream, json: boolean, values: boolean, gone: () => boolean, seen: (item: ScanItem) => void): Promise<void> {
    let chunk = '';
    for await (const item of scan) {
      if (gone()) return;
      seen(item);
      chunk += json ? `${JSON.stringify(jsonItem(item))}\n` : `${textItem(item, values)}\n`;
      if (chunk.length >= 64 * 1024) {
        await write(chunk);
        chunk = '';
      }
    }
    if (chunk.length > 0) await write(chunk);
  }
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

function jsonItem(item: ScanItem): Record<string, unknown> {
  const encoding = isUtf8(item.key) && (item.values ?? []).every((v) => isUtf8(v)) ? 'utf8' : 'base64';
  return {
    key: item.key.toString(encoding),
    ...(item.values ? { values: item.values.map((v) => v.toString(encoding)) } : {}),
    encoding,
    context: item.context,
    ...(item.siblings > 1 ? { siblings: item.siblings } : {}),
    ...(item.maybeStale ? { maybeStale: true } : {}),
    ...(item.expiresAt ? { expiresAt: item.expiresAt.map((ms) => (ms === null ? null : new Date(ms).toISOString())) } : {}),
  };
}

/** A key for people: UTF-8, else base64 marked as such; values after tabs, the same way. */
function textItem(item: ScanItem, values: boolean): string {
  const shown = (bytes: Buffer) => (isUtf8(bytes) && !/[\t\n\r]/.test(bytes.toString('utf8')) ? bytes.toString('utf8') : `base64:${bytes.toString('base64')}`);
  if (!values || !item.values) return shown(item.key);
  return [shown(item.key), ...item.values.map(shown)].join('\t');
}
