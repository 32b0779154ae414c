/**
 * `--stdin` batch mode of put/get/delete: NDJSON requests in (one `{"key":…,"value":…}` per line),
 * one NDJSON result per line out, in input order, each with its input `line` number, with up to
 * `maxInFlight` requests pipelined. No line can spoil the lines after it:
 * - a line that is not UTF-8, not a JSON object, or holds an unknown field is refused on its own;
 * - a line over the input limit is skipped, and a request whose wire line would exceed the
 *   daemon's line limit (learnt from its ping) is refused without being sent: the daemon would
 *   close the connection, failing every request on it;
 * - a connection the daemon closes, or that drops, is reopened and the batch goes on (see
 *   `runLine` for what happens to the requests that were on it).
 * Input is framed by our LineFramer (byte limit per line, blank lines counted but not answered)
 * rather than `ndjson`, whose parse errors end the stream instead of reporting the line.
 */
import type { Readable, Writable } from 'node:stream';
import type { KvClient } from '../client/client.js';
import { KvError, toKvError } from '../errors.js';
import { LineFramer } from '../net/line-framer.js';
import { BatchConnection } from './batch-connection.js';
import { type BatchLine, type BatchOp, inputLineTooLong, parseBatchLine } from './batch-input.js';

export type { BatchOp } from './batch-input.js';

export interface BatchSummary {
  /** Lines answered (blank lines are not). */
  lines: number;
  succeeded: number;
  failed: number;
  notFound: number;
  /** Times a lost connection was reopened. */
  reconnects: number;
  /** Set when the daemon became unreachable (or stopped answering): the batch stopped there. */
  aborted: KvError | undefined;
}

export interface BatchOptions {
  maxInFlight: number;
  /** Longest input line; a longer one is refused (KV_LINE_TOO_LONG) and skipped. */
  maxLineBytes: number;
  /** Request fields from the command's flags; fields of a line override them. */
  defaults: Record<string, unknown>;
  /** Opens a new connection to the same daemon, in place of a lost one. */
  reconnect: () => Promise<KvClient>;
  /** How long a lost connection is tried again before the batch stops (exit 3). */
  reconnectTimeoutMs: number;
}

/** A line's result, and the error that stops the batch when it is one. */
interface LineOutcome {
  result: Record<string, unknown>;
  abort?: KvError;
}

/** A request that is safe to send again (a get, or one the daemon did not run) is sent again at most this many times. */
export const MAX_RESENDS = 3;

/**
 * Errors with which the daemon says it did not run a request (it refused the connection, or is
 * stopping and took no more requests on it): sending it again on a new connection is always safe.
 */
const NOT_RUN_CODES: ReadonlySet<string> = new Set(['KV_SHUTTING_DOWN', 'KV_TOO_MANY_CONNECTIONS']);

/**
 * Runs the batch on `client` (pinged first: a daemon that does not answer throws before any line),
 * writing each result to `output` as soon as it and every earlier line's result are known.
 */
export async function runBatch(client: KvClient, op: BatchOp, input: Readable, output: Writable, options: BatchOptions): Promise<BatchSummary> {
  const connection = new BatchConnection(client, options.reconnect, options.reconnectTimeoutMs);
  await connection.start();
  const summary: BatchSummary = { lines: 0, succeeded: 0, failed: 0, notFound: 0, reconnects: 0, aborted: undefined };
  const results = new InOrderResults(output, ({ result, abort }) => {
    if (result.ok === true) {
      summary.succeeded++;
      if (result.found === false) summary.notFound++;
    } else summary.failed++;
    if (abort && !summary.aborted)
      summary.aborted = new KvError(abort.code, `at line ${result.line}: ${abort.message}`, { ...abort.details, line: result.line });
  });
  // Framed input in order: a line's bytes, or the byte count seen of a line over the limit.
  let framed: (Buffer | number)[] = [];
  const framer = new LineFramer(
    options.maxLineBytes,
    (line) => framed.push(line),
    (bytesSeen) => framed.push(bytesSeen),
    { skipOverlongLines: true, emitEmptyLines: true },
  );
  let lineNumber = 0;

  const submit = async (items: (Buffer | number)[]) => {
    for (const item of items) {
      lineNumber++;
      if (typeof item !== 'number' && item.length === 0) continue;
      summary.lines++;
      const parsed =
        typeof item === 'number' ? inputLineTooLong(lineNumber, item, options.maxLineBytes) : parseBatchLine(op, item, lineNumber, options.defaults);
      results.add(lineNumber, runLine(connection, op, parsed));
      await results.room(options.maxInFlight);
      if (summary.aborted) return;
    }
  };

  try {
    for await (const chunk of input) {
      framer.push(chunk as Buffer);
      const items = framed;
      framed = [];
      await submit(items);
      if (summary.aborted) break;
    }
    if (!summary.aborted) {
      framer.end();
      await submit(framed);
    }
    await results.room(1);
  } finally {
    results.detach();
    summary.reconnects = connection.reopened;
    await connection.close();
  }
  return summary;
}

/**
 * The results not written yet, in input order: each is written as soon as it and all before it
 * are known, so a slow line holds back the output but not the requests behind it.
 */
class InOrderResults {
  private readonly queue: { outcome?: LineOutcome }[] = [];
  private waiter: (() => void) | undefined;
  /** The output's buffer is full: take no more lines until it drains. */
  private blocked = false;
  private readonly onDrain = () => {
    this.blocked = false;
    this.wake();
  };

  constructor(
    private readonly output: Writable,
    private readonly onWrite: (outcome: LineOutcome) => void,
  ) {
    output.on('drain', this.onDrain);
  }

  add(line: number, outcome: Promise<LineOutcome>): void {
    const slot: { outcome?: LineOutcome } = {};
    this.queue.push(slot);
    const settle = (o: LineOutcome) => {
      slot.outcome = o;
      this.writeReady();
    };
    // runLine answers every failure with a result; a bug must still not leave a gap in the output.
    outcome.then(settle, (err: unknown) => settle({ result: errorResult(line, undefined, toKvError(err)) }));
  }

  /** Resolves once fewer than `max` results are unwritten and the output takes more. */
  async room(max: number): Promise<void> {
    while (this.queue.length >= max || this.blocked) await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  detach(): void {
    this.output.off('drain', this.onDrain);
  }

  private writeReady(): void {
    while (this.queue[0]?.outcome) {
      const { outcome } = this.queue.shift() as { outcome: LineOutcome };
      this.onWrite(outcome);
      if (!this.output.write(`${JSON.stringify(outcome.result)}\n`)) this.blocked = true;
    }
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

/**
 * Sends one line's request and makes its result. When the connection is lost with the request on
 * it, a get is sent again on a new connection (up to MAX_RESENDS times). A put or delete is
 * not: its reply was lost, not necessarily the write, and applying it twice is not harmless (a
 * put without a context would add a second sibling; either could overwrite a write made since by
 * another client). It gets an error result saying it may have been applied. Requests the daemon
 * says it did not run are sent again whatever their op.
 */
async function runLine(connection: BatchConnection, op: BatchOp, parsed: BatchLine): Promise<LineOutcome> {
  const { line, key } = parsed;
  if ('error' in parsed) return { result: errorResult(line, key, parsed.error) };
  for (let resends = 0; ; ) {
    let client: KvClient;
    try {
      client = connection.openClient() ?? (await connection.reopen());
    } catch (err) {
      const error = toKvError(err);
      return { result: errorResult(line, key, error), abort: error };
    }
    if (client.closeReason) continue; // lost again before this line had its turn: it was not sent
    try {
      const { id: _id, ...reply } = await client.request(parsed.request);
      return { result: { line, key, ...reply } };
    } catch (err) {
      const error = toKvError(err);
      const lost = error === client.closeReason;
      const notRun = NOT_RUN_CODES.has(error.code);
      if (!lost && !notRun) return { result: errorResult(line, key, error), abort: error.code === 'KV_TIMEOUT' ? error : undefined };
      if (!lost) connection.retire(client); // the daemon is stopping: it runs nothing more sent on this connection
      // A get changes nothing, and an import merges: sending either again is safe.
      const safeToResend = notRun || op === 'get' || op === 'import';
      if (safeToResend && resends < MAX_RESENDS) {
        resends++;
        continue;
      }
      const why = safeToResend ? `; sent ${resends + 1} times` : `; the ${op} was sent and may have been applied`;
      const details = op === 'get' || op === 'import' ? error.details : { ...error.details, maybeApplied: !safeToResend };
      const result = errorResult(line, key, new KvError(error.code, `${error.message}${why}`, details));
      // Whether the batch can go on: a daemon that stays away stops it here, whether or not more lines follow.
      const gone = await connection.reopen().then(
        () => undefined,
        (err: unknown) => toKvError(err),
      );
      return { result, abort: gone };
    }
  }
}

function errorResult(line: number, key: unknown, error: KvError): Record<string, unknown> {
  return { line, key, ok: false, error: error.toWire() };
}
