/**
 * `--stdin` batch mode of put/get/delete: NDJSON requests in (one `{"key":…,"value":…}` per line),
 * one NDJSON result per line out, in input order, with up to `maxInFlight` requests pipelined on
 * one connection. Input is framed by our LineFramer (byte limit per line, a result per bad line)
 * rather than `ndjson`, whose parse errors end the stream instead of reporting the line.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { KvClient } from '../client/client.js';
import { KvError, toKvError } from '../errors.js';
import { LineFramer } from '../net/line-framer.js';

export type BatchOp = 'put' | 'get' | 'delete';

export interface BatchSummary {
  lines: number;
  /** Lines that succeeded (a missing key in get is a success). */
  succeeded: number;
  failed: number;
  notFound: number;
  /** Set when the daemon became unreachable: the batch stopped there. */
  aborted: KvError | undefined;
}

const PASSED_FIELDS: Record<BatchOp, readonly string[]> = {
  put: ['key', 'value', 'context', 'encoding', 'w', 'consistency'],
  get: ['key', 'encoding', 'r', 'consistency'],
  delete: ['key', 'context', 'encoding', 'w', 'consistency'],
};

export async function runBatch(
  client: KvClient,
  op: BatchOp,
  input: Readable,
  output: Writable,
  options: { maxInFlight: number; maxLineBytes: number; defaults: Record<string, unknown> },
): Promise<BatchSummary> {
  const summary: BatchSummary = { lines: 0, succeeded: 0, failed: 0, notFound: 0, aborted: undefined };
  const window: Promise<Record<string, unknown>>[] = [];
  let pendingLines: Buffer[] = [];
  const framer = new LineFramer(
    options.maxLineBytes,
    (line) => pendingLines.push(line),
    () => {
      summary.aborted = new KvError('KV_LINE_TOO_LONG', `an input line exceeds ${options.maxLineBytes} bytes`);
    },
  );

  const writeOne = async () => {
    const result = await (window.shift() as Promise<Record<string, unknown>>);
    if (result.ok === true) {
      summary.succeeded++;
      if (result.found === false) summary.notFound++;
    } else {
      summary.failed++;
      const code = (result.error as { code?: string }).code;
      if (code === 'KV_UNREACHABLE' || code === 'KV_TIMEOUT') summary.aborted ??= KvError.fromWire(result.error as { code: string; message: string });
    }
    if (!output.write(`${JSON.stringify(result)}\n`)) await once(output, 'drain');
  };

  const submit = async (lines: Buffer[]) => {
    for (const line of lines) {
      summary.lines++;
      window.push(handleLine(client, op, line, summary.lines, options.defaults));
      while (window.length >= options.maxInFlight) await writeOne();
      if (summary.aborted) return;
    }
  };

  for await (const chunk of input) {
    framer.push(chunk as Buffer);
    const lines = pendingLines;
    pendingLines = [];
    await submit(lines);
    if (summary.aborted) break;
  }
  if (!summary.aborted) {
    framer.end();
    await submit(pendingLines);
  }
  while (window.length > 0) await writeOne();
  return summary;
}

async function handleLine(
  client: KvClient,
  op: BatchOp,
  line: Buffer,
  lineNumber: number,
  defaults: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return { line: lineNumber, ok: false, error: new KvError('KV_BAD_JSON', `line ${lineNumber} is not valid JSON`).toWire() };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { line: lineNumber, ok: false, error: new KvError('KV_BAD_JSON', `line ${lineNumber} is not a JSON object`).toWire() };
  }
  const fields = parsed as Record<string, unknown>;
  const request: Record<string, unknown> = { op, ...defaults };
  for (const name of PASSED_FIELDS[op]) if (Object.hasOwn(fields, name)) request[name] = fields[name];
  const key = fields.key;
  try {
    const { id: _id, ...reply } = await client.request(request);
    return { key, ...reply };
  } catch (err) {
    return { key, ok: false, error: toKvError(err).toWire() };
  }
}
