/**
 * What a --watch view says about its freshness: the transitions (poll started, answered, failed,
 * moved) and the lines they produce, with fixed times so every word is checked.
 */
import t from 'tap';
import {
  agoText,
  clockTime,
  initialStatus,
  isoTime,
  movedLine,
  pollFailed,
  pollStarted,
  pollSucceeded,
  staleBanner,
  staleLine,
  statusLines,
} from '../../src/views/watch-status.js';

const T0 = Date.UTC(2026, 10, 29, 12, 3, 4);
const A = '127.0.0.1:7070';
const B = '127.0.0.1:7071';
const C = '127.0.0.1:7072';
const refused = { code: 'KV_UNREACHABLE', message: `no daemon at ${A} (ECONNREFUSED)` };

t.test('before any reply the view says it is waiting, not what it shows', async (t) => {
  const s = initialStatus(A, 1000);
  t.same(statusLines(s, T0, isoTime), [{ text: `waiting for the first reply from ${A}`, tone: 'info' }]);
  t.equal(staleBanner(s, isoTime), undefined, 'no banner without data');
});

t.test('an answered poll says when, from which node, and how long ago', async (t) => {
  const s = pollSucceeded(pollStarted(initialStatus(A, 1000), T0 - 5), { at: T0, addr: A, node: 'node1' });
  t.equal(s.pollingSince, undefined, 'no poll in flight any more');
  t.same(statusLines(s, T0 + 4200, isoTime), [{ text: `last poll ${isoTime(T0)} (4 s ago) from node1 at ${A}, every 1000 ms`, tone: 'info' }]);
  t.equal(staleLine(s, isoTime), undefined);
});

t.test('failed polls make the view stale, keep the start of the streak, and name what was tried', async (t) => {
  let s = pollSucceeded(initialStatus(A, 1000), { at: T0, addr: A, node: 'node1' });
  s = pollFailed(s, { at: T0 + 1000, addr: A, error: refused, tried: [B] });
  s = pollFailed(s, { at: T0 + 2000, addr: A, error: refused, tried: [B, C] });
  t.equal(s.failing?.since, T0 + 1000, 'since the first failure');
  t.equal(
    staleLine(s, isoTime, T0 + 3000),
    `stale: ${A} unreachable since ${isoTime(T0 + 1000)} (KV_UNREACHABLE): ${refused.message}; no answer from ${B}, ${C} either; last data ${isoTime(T0)} (3 s ago); still trying`,
  );
  const lines = statusLines(s, T0 + 3000, isoTime);
  t.equal(lines.length, 1);
  t.equal(lines[0]?.tone, 'stale');
  t.notMatch(lines[0]?.text ?? '', /last poll/, 'never calls the old data the last poll');
  t.equal(staleBanner(s, isoTime), `STALE: the table below is the last data, from ${isoTime(T0)}, not current`);
});

t.test('the stale line words the failure by its code', async (t) => {
  const cases: [string, string][] = [
    ['KV_UNREACHABLE', 'unreachable'],
    ['KV_TIMEOUT', 'not replying'],
    ['KV_SHUTTING_DOWN', 'failing'],
  ];
  for (const [code, word] of cases) {
    const s = pollFailed(initialStatus(A, 1000), { at: T0, addr: A, error: { code, message: 'x' }, tried: [] });
    t.match(staleLine(s, isoTime), `${A} ${word} since ${isoTime(T0)} (${code})`, code);
    t.match(staleLine(s, isoTime), 'no other node known to try; no data yet', `${code}: nothing to fall back on`);
  }
});

t.test('a move clears the stale state and says whose view is shown now and why', async (t) => {
  let s = pollSucceeded(initialStatus(A, 1000), { at: T0, addr: A, node: 'node1' });
  s = pollSucceeded(s, { at: T0 + 1100, addr: B, node: 'node2', movedFrom: { addr: A, at: T0 + 1050, error: refused } });
  t.equal(s.failing, undefined);
  t.equal(movedLine(s, isoTime), `now showing the view of node2 at ${B}: node1 at ${A} unreachable since ${isoTime(T0 + 1050)} (KV_UNREACHABLE)`);
  t.same(
    statusLines(s, T0 + 1100, isoTime).map((l) => l.tone),
    ['info', 'warn'],
  );
  t.match(statusLines(s, T0 + 1100, isoTime)[0]?.text, `from node2 at ${B}`);

  // After a stale streak, the move dates from the streak's start.
  let streak = pollSucceeded(initialStatus(A, 1000), { at: T0, addr: A, node: 'node1' });
  streak = pollFailed(streak, { at: T0 + 1000, addr: A, error: refused, tried: [B] });
  streak = pollSucceeded(streak, { at: T0 + 5000, addr: B, node: 'node2', movedFrom: { addr: A, at: T0 + 4900, error: refused } });
  t.equal(streak.moved?.at, T0 + 1000);
  t.equal(staleBanner(streak, isoTime), undefined, 'fresh data again');
});

t.test('a poll slower than the interval is shown while it hangs', async (t) => {
  const s = pollStarted(pollSucceeded(initialStatus(A, 1000), { at: T0, addr: A }), T0 + 1000);
  t.same(statusLines(s, T0 + 1500, isoTime).length, 1, 'within the interval: nothing to say');
  t.same(statusLines(s, T0 + 4000, isoTime)[1], { text: `no reply from ${A} for 3 s`, tone: 'warn' });
});

t.test('ago and time formats', async (t) => {
  const cases: [number, string][] = [
    [0, 'just now'],
    [999, 'just now'],
    [1000, '1 s ago'],
    [119_999, '119 s ago'],
    [120_000, '2 min ago'],
    [7_200_000, '2 h ago'],
  ];
  for (const [ms, text] of cases) t.equal(agoText(ms), text, `${ms} ms`);
  t.equal(isoTime(T0), '2026-11-29T12:03:04.000Z');
  t.match(clockTime(T0), /^\d\d:\d\d:04$/, 'local HH:MM:SS (hours and minutes depend on the time zone)');
});
