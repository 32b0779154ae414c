/**
 * A scan as a streamed client reply (protocol/scan.ts ReplyStream): each line carries up to
 * `pageKeys` keys and about SCAN_PAGE_BYTES of them, with the cursor after its last key; the
 * last line says `done` and carries a cursor only when the scan stopped at its limit. A line is
 * made only when the server asks for it, i.e. once the client took the earlier ones.
 *
 * Items: {key, values (with values asked), encoding (of key and values: utf8 when both are UTF-8
 * and cheap to escape, else base64), context, siblings (when more than one), maybeStale (sloppy,
 * fewer than R replicas answered)}.
 */
import { type CausalRecord, encodeContext } from '../clock/index.js';
import { KvError, toKvError } from '../errors.js';
import { type Encoding, encodeBytes, replyEncoding } from '../protocol/client.js';
import { exportLine } from '../protocol/export-format.js';
import { encodeCursor, type ReplyStream, SCAN_PAGE_BYTES } from '../protocol/scan.js';
import type { ScannedKey, ScanRun } from './scan-path.js';

/** Bytes an item takes in a line besides its key and values (names, context, punctuation). */
const ITEM_OVERHEAD_BYTES = 120;
/** Bytes a clock entry or a version takes in an export item besides its value (an actor, numbers, names). */
const VERSION_OVERHEAD_BYTES = 160;

export function scanReplyStream(run: ScanRun, options: { pageKeys: number; encoding: Encoding }): ReplyStream {
  let pending: KvError | undefined;
  let finished = false;
  const cursor = () => (run.lastKey === undefined ? undefined : encodeCursor(run.lastKey));
  const fail = (err: unknown): KvError => {
    const error = toKvError(err);
    const at = cursor();
    return at === undefined ? error : new KvError(error.code, error.message, { ...error.details, cursor: at });
  };
  return {
    async next() {
      if (pending) {
        finished = true;
        throw pending;
      }
      const items: Record<string, unknown>[] = [];
      let bytes = 0;
      let last = false;
      try {
        while (items.length < options.pageKeys && bytes < SCAN_PAGE_BYTES) {
          const scanned = await run.next();
          if (scanned === undefined) {
            last = true;
            break;
          }
          const item = scanned.versions ? exportItem(scanned, scanned.versions) : scanItem(scanned, options.encoding);
          items.push(item);
          const versions = scanned.versions;
          bytes += versions
            ? ITEM_OVERHEAD_BYTES +
              scanned.key.length * 2 +
              VERSION_OVERHEAD_BYTES * (versions.clock.size + versions.siblings.length) +
              versions.siblings.reduce((sum, s) => sum + (s.value?.length ?? 0) * 2, 0)
            : ITEM_OVERHEAD_BYTES + scanned.key.length * 2 + (scanned.values?.reduce((sum, v) => sum + v.length * 2, 0) ?? 0);
        }
      } catch (err) {
        // The keys already merged go first; the error ends the stream on the next line.
        if (items.length === 0) {
          finished = true;
          throw fail(err);
        }
        pending = fail(err);
      }
      const at = cursor();
      if (!last) return { fields: { items, ...(at === undefined ? {} : { cursor: at }) }, last: false };
      finished = true;
      // Stopped at the limit: more keys may follow, from the cursor.
      const stoppedAtLimit = run.stoppedAtLimit;
      return { fields: { done: true, items, ...(stoppedAtLimit && at !== undefined ? { cursor: at } : {}) }, last: true };
    },
    cancel() {
      if (!finished) run.cancel();
      finished = true;
    },
    cursor,
  };
}

/** A key as an export line (protocol/export-format.ts): its whole record, every version. */
function exportItem(scanned: ScannedKey, record: CausalRecord<Buffer>): Record<string, unknown> {
  const item = exportLine(scanned.key, record);
  if (scanned.maybeStale) item.maybeStale = true;
  return item;
}

function scanItem(scanned: ScannedKey, requested: Encoding): Record<string, unknown> {
  const values = scanned.values;
  const encoding = replyEncoding(values ? [scanned.key, ...values] : [scanned.key], requested);
  const item: Record<string, unknown> = { key: encodeBytes(scanned.key, encoding) };
  if (values) item.values = values.map((v) => encodeBytes(v, encoding));
  item.encoding = encoding;
  item.context = encodeContext(scanned.key, scanned.record.clock);
  const siblings = scanned.visible.length;
  if (siblings > 1) item.siblings = siblings;
  // Each value's deadline (ms since the epoch, null: none), when any has one, as a get gives it.
  if (scanned.visible.some((s) => s.expiresAt !== undefined)) item.expiresAt = scanned.visible.map((s) => s.expiresAt ?? null);
  if (scanned.maybeStale) item.maybeStale = true;
  return item;
}
