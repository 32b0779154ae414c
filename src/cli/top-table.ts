/**
 * `kvctl top`'s sample as a table (ink at a terminal, plain text in a pipe) and as an NDJSON line.
 * A stale node's row says "stale" with its last gauges and no rates; its stale line (watch-status)
 * says since when and why. Pure.
 */

import type { TableViewProps } from '../views/table-view.js';
import { agoText, isoTime, type StatusLine, staleLine, statusLines, type TimeFormat } from '../views/watch-status.js';
import type { TopNode, TopSample } from './top-source.js';

export const TOP_COLUMNS = ['NODE', 'STATE', 'GET/S', 'PUT/S', 'DEL/S', 'P50', 'P99', 'ERR/S', 'HINTS', 'HANDOFF', 'CACHE HIT', 'DISK', 'KEYS'];

function rate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, '') || '0';
}

function ms(n: number | null): string {
  if (n === null) return '-';
  return n < 1 ? `${Math.round(n * 1000)} µs` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function row(n: TopNode, now: number): string[] {
  const g = n.gauges;
  const r = n.stale ? undefined : n.rates;
  const since = n.status.lastOkAt === undefined ? '' : ` ${agoText(now - n.status.lastOkAt).replace(' ago', '')}`;
  return [
    n.name,
    n.stale ? `stale${since}` : n.state,
    r ? rate(r.opsPerSec.get) : '-',
    r ? rate(r.opsPerSec.put) : '-',
    r ? rate(r.opsPerSec.delete) : '-',
    r ? ms(r.p50Ms) : '-',
    r ? ms(r.p99Ms) : '-',
    r ? rate(r.errorsPerSec) : '-',
    g ? String(g.hintsHeld) : '-',
    g ? String(g.handoffPending) : '-',
    r ? `${(r.cacheHitRatio * 100).toFixed(1)}%` : '-',
    g ? bytesText(g.diskBytes) : '-',
    g ? String(g.keys) : '-',
  ];
}

export function topTable(s: TopSample, now: number, time: TimeFormat): TableViewProps {
  const stale = s.nodes.filter((n) => n.stale).length;
  return {
    title: `kvctl top  ${time(s.at)}  ${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'}${stale > 0 ? `, ${stale} stale` : ''}`,
    columns: TOP_COLUMNS,
    rows: s.nodes.map((n) => row(n, now)),
    stateColumn: 1,
    footer: ['rates over the last interval; P50/P99 of gets, puts and deletes coordinated by each node; DISK approximate'],
  };
}

/** The lines under the table: where the member list is from (or why it is stale), then each stale node's line. */
export function topStatusLines(s: TopSample, now: number, time: TimeFormat): StatusLine[] {
  const lines = statusLines(s.members, now, time);
  for (const n of s.nodes) {
    // A node's own stats are asked of it alone: no other node stands in, so the line does not say one was tried.
    const line = staleLine({ ...n.status, node: n.name }, time, now)?.replace('; no other node known to try', '');
    if (line) lines.push({ text: `${n.name}: ${line}`, tone: 'stale' });
  }
  return lines;
}

/** One NDJSON line: every node's figures, rates null when there are none (first sample of a node, or stale). */
export function topJson(s: TopSample): Record<string, unknown> {
  return {
    at: isoTime(s.at),
    membersFrom: s.members.addr,
    ...(s.members.failing ? { membersStale: true, membersError: s.members.failing.error } : {}),
    nodes: s.nodes.map((n) => {
      const r = n.stale ? undefined : n.rates;
      return {
        name: n.name,
        addr: n.addr,
        state: n.state,
        stale: n.stale,
        lastOkAt: n.status.lastOkAt === undefined ? null : isoTime(n.status.lastOkAt),
        ...(n.status.failing ? { error: n.status.failing.error, failingSince: isoTime(n.status.failing.since) } : {}),
        intervalSec: r?.intervalSec ?? null,
        opsPerSec: r?.opsPerSec ?? null,
        errorsPerSec: r?.errorsPerSec ?? null,
        p50Ms: r?.p50Ms ?? null,
        p99Ms: r?.p99Ms ?? null,
        cacheHitRatio: r?.cacheHitRatio ?? null,
        keys: n.gauges?.keys ?? null,
        hintsHeld: n.gauges?.hintsHeld ?? null,
        handoffPending: n.gauges?.handoffPending ?? null,
        diskBytes: n.gauges?.diskBytes ?? null,
      };
    }),
  };
}
