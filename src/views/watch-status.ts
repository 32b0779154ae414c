/**
 * What a --watch view says about its own freshness: when its data was polled and from which node,
 * whether it is stale and why, and whether it moved to another node because the one it polled went
 * away. Pure: times come in as ms since the epoch, the transitions return new values, text comes out.
 * Invariant: data is only ever called current while the latest poll succeeded; once a poll fails
 * the view says "stale" until one succeeds again.
 */

export interface PollError {
  code: string;
  message: string;
}

export interface WatchStatus {
  /** The node whose view is shown (or, before any data, the one being asked). */
  addr: string;
  /** Its name, when a snapshot said. */
  node?: string;
  intervalMs: number;
  /** When the shown data was polled; undefined until a poll succeeds. */
  lastOkAt?: number;
  /** While polls fail: the node that stopped answering, since when, the latest error, the other nodes tried. */
  failing?: { addr: string; since: number; at: number; error: PollError; tried: string[] };
  /** After moving to another node: the node left behind (address, and name if known), when and why. */
  moved?: { from: string; fromNode?: string; at: number; error: PollError };
  /** When the poll in flight started, if one is. */
  pollingSince?: number;
}

export type TimeFormat = (ms: number) => string;

export interface StatusLine {
  text: string;
  /** stale: the data is not current; warn: current, but read this; info: when and where from. */
  tone: 'info' | 'warn' | 'stale';
}

export function initialStatus(addr: string, intervalMs: number): WatchStatus {
  return { addr, intervalMs };
}

export function pollStarted(s: WatchStatus, at: number): WatchStatus {
  return { ...s, pollingSince: at };
}

/**
 * A poll answered from `addr`. `movedFrom` says the node shown before failed during this poll and
 * another answered instead; the move keeps the time the old node first failed.
 */
export function pollSucceeded(
  s: WatchStatus,
  r: { at: number; addr: string; node?: string; movedFrom?: { addr: string; at: number; error: PollError } },
): WatchStatus {
  const { failing: _failing, pollingSince: _polling, node: _node, ...rest } = s;
  const fromNode = r.movedFrom?.addr === s.addr ? s.node : undefined;
  const moved = r.movedFrom
    ? { from: r.movedFrom.addr, ...(fromNode === undefined ? {} : { fromNode }), at: s.failing?.since ?? r.movedFrom.at, error: r.movedFrom.error }
    : s.moved;
  return { ...rest, addr: r.addr, ...(r.node === undefined ? {} : { node: r.node }), lastOkAt: r.at, ...(moved ? { moved } : {}) };
}

/** A poll failed at `addr` (and at every other node tried); the streak keeps its start time. */
export function pollFailed(s: WatchStatus, r: { at: number; addr: string; error: PollError; tried: string[] }): WatchStatus {
  const { pollingSince: _polling, ...rest } = s;
  return { ...rest, failing: { addr: r.addr, since: s.failing?.since ?? r.at, at: r.at, error: r.error, tried: r.tried } };
}

/** "just now", "4 s", "3 min", "2 h": how long ago, coarse on purpose. */
export function agoText(ms: number): string {
  if (ms < 1000) return 'just now';
  if (ms < 120_000) return `${Math.floor(ms / 1000)} s ago`;
  if (ms < 7_200_000) return `${Math.floor(ms / 60_000)} min ago`;
  return `${Math.floor(ms / 3_600_000)} h ago`;
}

/** Local wall-clock time, HH:MM:SS, for a person at a terminal. */
export const clockTime: TimeFormat = (ms) => {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
};

/** ISO 8601 in UTC, for logs and scripts. */
export const isoTime: TimeFormat = (ms) => new Date(ms).toISOString();

/** What happened to a node, in words: unreachable (refused, reset, closed), not replying (timeout), or failing. */
function failureWord(code: string): string {
  if (code === 'KV_UNREACHABLE') return 'unreachable';
  if (code === 'KV_TIMEOUT') return 'not replying';
  return 'failing';
}

function nodeText(s: { addr: string; node?: string }): string {
  return s.node ? `${s.node} at ${s.addr}` : s.addr;
}

/** The stale line: `stale: 127.0.0.1:7071 unreachable since 12:03:04 (KV_UNREACHABLE): <why>; ...`. */
export function staleLine(s: WatchStatus, time: TimeFormat, now?: number): string | undefined {
  const f = s.failing;
  if (!f) return undefined;
  const tried = f.tried.length > 0 ? `; no answer from ${f.tried.join(', ')} either` : '; no other node known to try';
  const last = s.lastOkAt === undefined ? 'no data yet' : `last data ${time(s.lastOkAt)}${now === undefined ? '' : ` (${agoText(now - s.lastOkAt)})`}`;
  return `stale: ${f.addr} ${failureWord(f.error.code)} since ${time(f.since)} (${f.error.code}): ${f.error.message}${tried}; ${last}; still trying`;
}

/** The move line: which node the view now shows, and why it left the one before. */
export function movedLine(s: WatchStatus, time: TimeFormat): string | undefined {
  const m = s.moved;
  if (!m) return undefined;
  return `now showing the view of ${nodeText(s)}: ${nodeText({ addr: m.from, node: m.fromNode })} ${failureWord(m.error.code)} since ${time(m.at)} (${m.error.code})`;
}

/**
 * The status lines under a view at `now`: when and where the data is from, a move, a poll that
 * takes longer than the interval, or the stale line. `now` also ages the times ("4 s ago").
 */
export function statusLines(s: WatchStatus, now: number, time: TimeFormat): StatusLine[] {
  const lines: StatusLine[] = [];
  const stale = staleLine(s, time, now);
  if (stale) lines.push({ text: stale, tone: 'stale' });
  else if (s.lastOkAt === undefined) lines.push({ text: `waiting for the first reply from ${s.addr}`, tone: 'info' });
  else lines.push({ text: `last poll ${time(s.lastOkAt)} (${agoText(now - s.lastOkAt)}) from ${nodeText(s)}, every ${s.intervalMs} ms`, tone: 'info' });
  if (!stale) {
    const moved = movedLine(s, time);
    if (moved) lines.push({ text: moved, tone: 'warn' });
  }
  if (s.pollingSince !== undefined && now - s.pollingSince > s.intervalMs) {
    lines.push({ text: `no reply from ${s.failing?.addr ?? s.addr} for ${Math.floor((now - s.pollingSince) / 1000)} s`, tone: 'warn' });
  }
  return lines;
}

/** The banner over old data while polls fail. */
export function staleBanner(s: WatchStatus, time: TimeFormat): string | undefined {
  if (!s.failing || s.lastOkAt === undefined) return undefined;
  return `STALE: the table below is the last data, from ${time(s.lastOkAt)}, not current`;
}
