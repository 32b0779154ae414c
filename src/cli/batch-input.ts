/**
 * One line of `--stdin` batch input turned into a request body, or refused on its own with its line
 * number: not UTF-8, not JSON, not a JSON object, giving a field twice, or holding a field its op
 * does not take. Unknown fields are refused as the daemon refuses them on the wire, not silently
 * dropped: a misspelt `contxt` would otherwise turn a careful overwrite into a blind write. Values
 * are checked by the daemon, which answers each request on its own; only what could not be sent is
 * refused here.
 */
import { isUtf8 } from 'node:buffer';
import { KvError } from '../errors.js';
import { isJsonObject, repeatedFieldName } from '../json.js';

export type BatchOp = 'put' | 'get' | 'delete' | 'import';

/** The fields an input line of each op may hold; the op itself comes from the command. */
export const BATCH_FIELDS: Record<BatchOp, ReadonlySet<string>> = {
  put: new Set(['key', 'value', 'context', 'encoding', 'w', 'consistency', 'keepSiblings', 'ttlMs']),
  get: new Set(['key', 'encoding', 'r', 'consistency']),
  delete: new Set(['key', 'context', 'encoding', 'w', 'consistency', 'keepSiblings']),
  // An export line (protocol/export-format.ts), sent whole as the import's record.
  import: new Set(['v', 'key', 'encoding', 'clock', 'versions', 'context']),
};

/** A parsed input line: the request to send, or why it is refused. `key` is echoed in its result. */
export type BatchLine = { line: number; key: unknown; request: Record<string, unknown> } | { line: number; key: unknown; error: KvError };

/**
 * Parses input line number `line` (1-based, counting every line of the input). Fields of the line
 * override `defaults` (the command's flags, such as --w).
 */
export function parseBatchLine(op: BatchOp, text: Buffer, line: number, defaults: Record<string, unknown>): BatchLine {
  if (!isUtf8(text)) return { line, key: undefined, error: new KvError('KV_BAD_ENCODING', `line ${line} is not valid UTF-8`, { line }) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch {
    return { line, key: undefined, error: new KvError('KV_BAD_JSON', `line ${line} is not valid JSON`, { line }) };
  }
  if (!isJsonObject(parsed)) {
    return { line, key: undefined, error: new KvError('KV_BAD_JSON', `line ${line} is not a JSON object`, { line }) };
  }
  const fields = parsed;
  const repeated = repeatedFieldName(text);
  if (repeated) {
    // The daemon would refuse it too; here it would be sent with only the last of the two.
    const field = repeated.name.slice(0, 64);
    return { line, key: undefined, error: new KvError('KV_BAD_REQUEST', `line ${line} gives field "${field}" twice`, { line, field }) };
  }
  const key = fields.key;
  const allowed = BATCH_FIELDS[op];
  for (const name of Object.keys(fields)) {
    if (!allowed.has(name)) {
      const field = name.slice(0, 64);
      return { line, key, error: new KvError('KV_BAD_REQUEST', `line ${line}: unknown field "${field}" for ${op}`, { line, field }) };
    }
  }
  if (op === 'import') return { line, key, request: { op, ...defaults, record: fields } };
  return { line, key, request: { op, ...defaults, ...fields } };
}

/** The refusal of an input line longer than the batch's own input limit (it is skipped, not read). */
export function inputLineTooLong(line: number, bytesSeen: number, maxLineBytes: number): BatchLine {
  return {
    line,
    key: undefined,
    error: new KvError('KV_LINE_TOO_LONG', `line ${line} is longer than ${maxLineBytes} bytes (--max-line-bytes); skipped`, {
      line,
      limit: maxLineBytes,
      bytesSeen,
    }),
  };
}
