/**
 * The ink view of a --watch, asserted on rendered frames with colours on: fresh data keeps its state
 * colours, stale data is greyed under a red banner with no green "up" left, and the quit keys.
 */
import t from 'tap';

process.env.FORCE_COLOR = '1'; // before ink (and its colour library) load: frames keep their escape codes
const { renderToString } = await import('ink');
const { createElement } = await import('react');
const { isQuitKey, quitHint, WatchView } = await import('../../src/views/watch-view.js');

const GREEN_UP = '\u001b[32mup\u001b[39m';
const DIM_UP = '\u001b[2mup\u001b[22m';
const table = { title: 'cluster abc', columns: ['NODE', 'STATE'], rows: [['node1', 'up']], stateColumn: 1, warnings: ['N=3 but 1 node: 1 copy per key'] };
const frame = (props: Parameters<typeof WatchView>[0]) => renderToString(createElement(WatchView, props), { columns: 120 });
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the escape codes the frames carry
const plain = (s: string) => s.replace(/\u001b\[\d+m/g, '');

t.test('fresh data: state colours, the status line, a quit hint', async (t) => {
  const out = frame({ table, status: [{ text: 'last poll 12:03:04 (just now) from node1', tone: 'info' }], onQuit: () => {} });
  t.match(out, GREEN_UP);
  t.notMatch(plain(out), 'STALE');
  t.match(plain(out), /last poll 12:03:04 \(just now\) from node1\n/);
  t.match(out, '\u001b[33mN=3 but 1 node: 1 copy per key', 'the copies warning in yellow');
  t.match(plain(out), /Ctrl-C to quit$/, 'the hint is the last line');
});

t.test('stale data: a red banner, the table greyed, no state colour left', async (t) => {
  const out = frame({
    table,
    staleBanner: 'STALE: the table below is the last data, from 12:03:01, not current',
    status: [{ text: 'stale: 127.0.0.1:7070 unreachable since 12:03:04 (KV_UNREACHABLE)', tone: 'stale' }],
    onQuit: () => {},
  });
  t.notMatch(out, GREEN_UP);
  t.match(out, DIM_UP);
  t.match(out, '\u001b[31mSTALE: the table below');
  t.match(out, '\u001b[31mstale: 127.0.0.1:7070 unreachable since 12:03:04 (KV_UNREACHABLE)');
  t.ok(plain(out).indexOf('STALE') < plain(out).indexOf('cluster abc'), 'the banner comes before the old table');
});

t.test('before any data: only the status and the hint', async (t) => {
  const out = plain(frame({ status: [{ text: 'waiting for the first reply from 127.0.0.1:7070', tone: 'info' }], onQuit: () => {} }));
  t.equal(out, 'waiting for the first reply from 127.0.0.1:7070\nCtrl-C to quit', 'no raw-mode stdin here: Ctrl-C only');
});

t.test('quit keys', async (t) => {
  const cases: [string, boolean, boolean][] = [
    ['q', false, true],
    ['Q', false, true],
    ['c', true, true],
    ['c', false, false],
    ['x', false, false],
    ['q', true, true],
  ];
  for (const [input, ctrl, quits] of cases) t.equal(isQuitKey(input, { ctrl }), quits, `${ctrl ? 'Ctrl-' : ''}${input}`);
  t.equal(quitHint(true), 'q or Ctrl-C to quit');
  t.equal(quitHint(false), 'Ctrl-C to quit');
});
