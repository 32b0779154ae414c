/**
 * Shows a daemon's snapshot (members, ring) the way its reader wants it: `--json` data, an ink view
 * when stdout is a terminal, plain stable text otherwise. With --watch it polls every interval until
 * interrupted (SIGINT, SIGTERM, or q / Ctrl-C at a terminal; exit status 0) and never passes old data
 * off as current: every refresh says when and from which node it was polled, a failed poll says
 * "stale" and why instead of repeating the last data, and when the polled node goes away the watch
 * moves to another node that was up (watch-source.ts). ink is imported only here, lazily, and only
 * at a terminal, so commands that never render stay fast to start.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Flags } from '@oclif/core';
import { KvClient } from '../client/client.js';
import { errorCodes, type KvError } from '../errors.js';
import type { ClientOptions } from '../net/line-connection.js';
import type { TableViewProps } from '../views/table-view.js';
import { plainTable } from '../views/tables.js';
import {
  clockTime,
  initialStatus,
  isoTime,
  movedLine,
  type PollError,
  pollFailed,
  pollStarted,
  pollSucceeded,
  staleBanner,
  staleLine,
  statusLines,
  type WatchStatus,
} from '../views/watch-status.js';
import { onInterruption } from './interruption.js';
import { type KnownNode, type PollResult, WatchSource } from './watch-source.js';

/** --watch and --interval-ms, as every snapshot view takes them. */
export const watchFlags = {
  watch: Flags.boolean({
    description:
      'Refresh until interrupted (q, Ctrl-C, SIGTERM; exit 0), saying when and from which node each poll was. A poll with no reply within --timeout marks the view stale. With --json: one line per poll, the snapshot with ok, polledAt and addr, or {"ok":false,"stale":true,"error":{...}}',
    default: false,
  }),
  'interval-ms': Flags.integer({ description: 'Refresh period with --watch, ms (at least 100)', default: 1000, min: 100 }),
};

export interface DaemonViewOptions<T> {
  addr: string;
  /** Deadline of each connect and request, ms (--timeout). */
  /** How to reach the daemons: deadline, TLS, token. */
  access: ClientOptions;
  json: boolean;
  watch: boolean;
  intervalMs: number;
  /** The view op (members, ring) whose reply is the snapshot. */
  body: Record<string, unknown>;
  table: (snapshot: T) => TableViewProps;
  /** The nodes a snapshot lists: where a watch may move when its node goes away. */
  nodes: (snapshot: T) => KnownNode[];
  /** The name of the node that answered, when the snapshot says. */
  self?: (snapshot: T) => string | undefined;
}

/**
 * One snapshot, shown and returned (oclif prints it for --json); with --watch, polls until
 * interrupted and returns undefined, having printed every poll itself.
 */
export async function showDaemonView<T>(o: DaemonViewOptions<T>): Promise<T | undefined> {
  if (o.watch) {
    await watch(o);
    return undefined;
  }
  const client = await KvClient.connect(o.addr, o.access);
  try {
    const { id: _id, ok: _ok, ...reply } = await client.request(o.body);
    const snapshot = reply as unknown as T;
    if (o.json) return snapshot;
    if (process.stdout.isTTY) {
      const [{ renderToString }, { createElement }, { TableView }] = await Promise.all([import('ink'), import('react'), import('../views/table-view.js')]);
      process.stdout.write(`${renderToString(createElement(TableView, o.table(snapshot)), { columns: process.stdout.columns })}\n`);
    } else process.stdout.write(`${plainView(o.table(snapshot))}\n`);
    return snapshot;
  } finally {
    await client.close();
  }
}

function plainView(t: TableViewProps): string {
  return [t.title, plainTable(t.columns, t.rows), ...(t.footer ?? []), ...(t.warnings ?? [])].join('\n');
}

/** Where a watch shows its polls: NDJSON lines, plain blocks, or an ink view redrawn in place. */
interface WatchSink<T> {
  polling(status: WatchStatus): void;
  show(result: PollResult<T>, status: WatchStatus): void;
  close(): void;
}

async function watch<T>(o: DaemonViewOptions<T>): Promise<void> {
  const stop = onInterruption();
  const source = new WatchSource<T>({ addr: o.addr, access: o.access, body: o.body, nodes: o.nodes, self: o.self });
  const sink: WatchSink<T> = o.json ? ndjsonSink() : process.stdout.isTTY ? await inkSink(o, stop.quit) : plainSink(o);
  let status = initialStatus(o.addr, o.intervalMs);
  try {
    for (let first = true; !stop.signal.aborted; first = false) {
      status = pollStarted(status, Date.now());
      sink.polling(status);
      const result = await untilAborted(source.poll(), stop.signal);
      if (result === undefined) break;
      if (result.ok) {
        const movedFrom = result.movedFrom && { addr: result.movedFrom.addr, at: result.movedFrom.at, error: pollError(result.movedFrom.error) };
        status = pollSucceeded(status, { at: result.at, addr: result.addr, node: result.node, movedFrom });
      } else {
        // A request no daemon will ever answer (e.g. an op this daemon does not serve) is a plain error, not a wait.
        if (first && !errorCodes[result.error.code].retryable) throw result.error;
        status = pollFailed(status, { at: result.at, addr: result.addr, error: pollError(result.error), tried: result.tried });
      }
      sink.show(result, status);
      await delay(o.intervalMs, undefined, { signal: stop.signal }).catch(() => {});
    }
  } finally {
    stop.release();
    source.close();
    sink.close();
  }
}

function pollError(err: KvError): PollError {
  return { code: err.code, message: err.message };
}

/** The promise's value, or undefined as soon as the signal aborts. */
function untilAborted<R>(promise: Promise<R>, signal: AbortSignal): Promise<R | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** One JSON line per poll: the snapshot with ok, polledAt and addr, or ok:false, stale:true and the error. */
function ndjsonSink<T>(): WatchSink<T> {
  return {
    polling() {},
    show(r, s) {
      const line = r.ok
        ? {
            ok: true,
            polledAt: isoTime(r.at),
            addr: r.addr,
            ...(r.node === undefined ? {} : { node: r.node }),
            ...(r.movedFrom ? { movedFrom: { addr: r.movedFrom.addr, error: pollError(r.movedFrom.error) } } : {}),
            ...r.snapshot,
          }
        : {
            ok: false,
            stale: true,
            polledAt: isoTime(r.at),
            addr: r.addr,
            error: pollError(r.error),
            failingSince: isoTime(s.failing?.since ?? r.at),
            lastOkAt: s.lastOkAt === undefined ? null : isoTime(s.lastOkAt),
            tried: r.tried,
          };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    },
    close() {},
  };
}

/** A plain block per poll ending with the poll time and node; a failed poll prints only its stale line. */
function plainSink<T>(o: DaemonViewOptions<T>): WatchSink<T> {
  return {
    polling() {},
    show(r, s) {
      if (!r.ok) {
        process.stdout.write(`${staleLine(s, isoTime)}\n\n`);
        return;
      }
      const moved = r.movedFrom ? movedLine(s, isoTime) : undefined;
      const polled = `polled ${r.node ? `${r.node} at ${r.addr}` : r.addr} at ${isoTime(r.at)}`;
      process.stdout.write(`${[plainView(o.table(r.snapshot)), ...(moved ? [moved] : []), polled].join('\n')}\n\n`);
    },
    close() {},
  };
}

/** The ink view, redrawn after each poll and every second (so "4 s ago" keeps counting while a poll hangs). */
async function inkSink<T>(o: DaemonViewOptions<T>, quit: () => void): Promise<WatchSink<T>> {
  const [{ render }, { createElement }, { WatchView }] = await Promise.all([import('ink'), import('react'), import('../views/watch-view.js')]);
  let status = initialStatus(o.addr, o.intervalMs);
  let table: TableViewProps | undefined;
  const view = () =>
    createElement(WatchView, { table, staleBanner: staleBanner(status, clockTime), status: statusLines(status, Date.now(), clockTime), onQuit: quit });
  const app = render(view(), { exitOnCtrlC: false, patchConsole: false });
  const ticker = setInterval(() => app.rerender(view()), 1000);
  return {
    polling(s) {
      status = s;
    },
    show(r, s) {
      status = s;
      if (r.ok) table = o.table(r.snapshot);
      app.rerender(view());
    },
    close() {
      clearInterval(ticker);
      app.unmount();
    },
  };
}
