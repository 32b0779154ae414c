import { setTimeout as delay } from 'node:timers/promises';
import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { onInterruption } from '../src/cli/interruption.js';
import { type TopSample, TopSource } from '../src/cli/top-source.js';
import { topJson, topStatusLines, topTable } from '../src/cli/top-table.js';
import type { TableViewProps } from '../src/views/table-view.js';
import { plainTable } from '../src/views/tables.js';
import { clockTime, isoTime, type StatusLine } from '../src/views/watch-status.js';

export default class Top extends KvCommand {
  static override summary = 'Watch the whole cluster live: per node ops/s, latency, errors, hints, handoff, cache and disk.';
  static override description = `Asks --addr for the member list, then every member for its stats, every --interval-ms, and shows per node: its state,
gets, puts and deletes per second and errors per second over the last interval, the p50 and p99 latency of the reads and writes it
coordinated in that interval, hints held for down nodes, handoff backlog, cache hit ratio, disk bytes and keys. The first sample comes
one interval after the start (rates need two readings). A node that stops answering is shown stale: its last gauges, no rates, and a
line saying since when and why; when --addr itself goes away the member list comes from another member.
An ink view at a terminal (q or Ctrl-C quits), plain text blocks in a pipe, one NDJSON line per sample with --json.
--count N stops after N samples.`;
  static override examples = [
    '<%= config.bin %> top',
    '<%= config.bin %> top --interval-ms 5000',
    '<%= config.bin %> top --json --count 10 | jq -c ".nodes[] | {name, opsPerSec, p99Ms}"',
  ];

  static override flags = {
    ...addrFlags,
    'interval-ms': Flags.integer({ description: 'Time between samples, ms (at least 100)', default: 1000, min: 100 }),
    count: Flags.integer({ description: 'Stop after this many samples [default: run until interrupted]', min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Top);
    const intervalMs = flags['interval-ms'];
    const source = new TopSource(this.resolveAddr(flags.addr), this.clientOptions(flags), intervalMs);
    const stop = onInterruption();
    const sink = this.jsonEnabled() ? ndjsonSink() : process.stdout.isTTY ? await inkSink(stop.quit) : plainSink();
    let shown = 0;
    try {
      // The first poll only primes the rates; each sample after it covers the interval before it.
      for (let polls = 0; !stop.signal.aborted; polls++) {
        const sample = await source.poll();
        if (stop.signal.aborted) break;
        if (polls > 0) {
          sink.show(sample);
          if (flags.count !== undefined && ++shown >= flags.count) break;
        } else sink.priming(sample);
        await delay(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
      }
    } finally {
      stop.release();
      source.close();
      sink.close();
    }
  }
}

interface TopSink {
  /** The first poll, before any rate can be known. */
  priming(sample: TopSample): void;
  show(sample: TopSample): void;
  close(): void;
}

function ndjsonSink(): TopSink {
  return {
    priming() {},
    show(s) {
      process.stdout.write(`${JSON.stringify(topJson(s))}\n`);
    },
    close() {},
  };
}

function plainText(t: TableViewProps, status: StatusLine[]): string {
  return [t.title, plainTable(t.columns, t.rows), ...status.map((l) => l.text)].join('\n');
}

/** A block per sample: title with the time, the table, the stale lines; a blank line between blocks. */
function plainSink(): TopSink {
  return {
    priming() {},
    show(s) {
      const now = Date.now();
      process.stdout.write(`${plainText(topTable(s, now, isoTime), topStatusLines(s, now, isoTime))}\n\n`);
    },
    close() {},
  };
}

/** The ink view (the watch views' frame: table, status lines, quit hint), redrawn each sample and each second. */
async function inkSink(quit: () => void): Promise<TopSink> {
  const [{ render }, { createElement }, { WatchView }] = await Promise.all([import('ink'), import('react'), import('../src/views/watch-view.js')]);
  let sample: TopSample | undefined;
  let priming = true;
  const view = () => {
    const now = Date.now();
    const status: StatusLine[] = sample ? topStatusLines(sample, now, clockTime) : [{ text: 'asking the cluster for its members…', tone: 'info' }];
    if (priming && sample) status.unshift({ text: 'measuring the first interval…', tone: 'info' });
    return createElement(WatchView, { table: sample ? topTable(sample, now, clockTime) : undefined, status, onQuit: quit });
  };
  const app = render(view(), { exitOnCtrlC: false, patchConsole: false });
  const ticker = setInterval(() => app.rerender(view()), 1000);
  return {
    priming(s) {
      sample = s;
      app.rerender(view());
    },
    show(s) {
      sample = s;
      priming = false;
      app.rerender(view());
    },
    close() {
      clearInterval(ticker);
      app.unmount();
    },
  };
}
