/**
 * Shows a snapshot the way its reader wants it: `--json` data (one object, or NDJSON with
 * --watch), an ink view when stdout is a terminal, plain stable text otherwise. With --watch it
 * refreshes every interval until interrupted (ink redraws in place; plain text prints a new block).
 * ink is imported only here, lazily, so commands that never render stay fast to start.
 */
import { Flags } from '@oclif/core';
import type { KvClient } from '../client/client.js';
import type { TableViewProps } from '../views/table-view.js';
import { plainTable } from '../views/tables.js';

/** --watch and --interval-ms, as every snapshot view takes them. */
export const watchFlags = {
  watch: Flags.boolean({ description: 'Refresh until interrupted (with --json: one snapshot per line)', default: false }),
  'interval-ms': Flags.integer({ description: 'Refresh period with --watch', default: 1000, min: 100 }),
};

export interface DaemonViewOptions<T> {
  json: boolean;
  flags: { watch: boolean; 'interval-ms': number };
  /** The view op (members, ring) whose reply is the snapshot. */
  body: Record<string, unknown>;
  table: (snapshot: T) => TableViewProps;
}

/** A view op's snapshot from a daemon, shown as the reader wants it, over one connection closed at the end. */
export async function showDaemonView<T>(connect: () => Promise<KvClient>, o: DaemonViewOptions<T>): Promise<T> {
  const client = await connect();
  try {
    const fetch = async () => {
      const { id: _id, ok: _ok, ...snapshot } = await client.request(o.body);
      return snapshot as unknown as T;
    };
    return await showSnapshot({ json: o.json, watch: o.flags.watch, intervalMs: o.flags['interval-ms'], fetch, table: o.table });
  } finally {
    await client.close();
  }
}

interface SnapshotViewOptions<T> {
  json: boolean;
  watch: boolean;
  intervalMs: number;
  fetch: () => Promise<T>;
  table: (snapshot: T) => TableViewProps;
}

async function showSnapshot<T>(o: SnapshotViewOptions<T>): Promise<T> {
  let snapshot = await o.fetch();
  const tty = process.stdout.isTTY === true && !o.json;
  const plain = (s: T) => {
    const t = o.table(s);
    return [t.title, plainTable(t.columns, t.rows), ...(t.footer ?? [])].join('\n');
  };
  if (!o.watch) {
    if (tty) {
      const [{ renderToString }, { createElement }, { TableView }] = await Promise.all([import('ink'), import('react'), import('../views/table-view.js')]);
      process.stdout.write(`${renderToString(createElement(TableView, o.table(snapshot)), { columns: process.stdout.columns })}\n`);
    } else if (!o.json) process.stdout.write(`${plain(snapshot)}\n`);
    return snapshot;
  }
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  const pause = () => new Promise((r) => setTimeout(r, o.intervalMs));
  if (tty) {
    const [{ render }, { createElement }, { TableView }] = await Promise.all([import('ink'), import('react'), import('../views/table-view.js')]);
    const app = render(createElement(TableView, o.table(snapshot)), { exitOnCtrlC: false });
    while (!stop) {
      await pause();
      snapshot = await o.fetch().catch(() => snapshot);
      app.rerender(createElement(TableView, o.table(snapshot)));
    }
    app.unmount();
    return snapshot;
  }
  for (;;) {
    process.stdout.write(o.json ? `${JSON.stringify(snapshot)}\n` : `${plain(snapshot)}\n\n`);
    await pause();
    if (stop) return snapshot;
    snapshot = await o.fetch();
  }
}
