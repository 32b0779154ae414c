import t from 'tap';
import { ARRIVAL_WINDOW, ArrivalWindow, expectedInterval, judge, MAX_INTERVAL_FACTOR, maxInterval, phi, phiThresholds } from '../../src/membership/index.js';

const settings = { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 };

/** A window that saw advances every `intervalMs`, `count` times, from time 0; returns it and the last arrival. */
function windowOf(intervals: number[]): ArrivalWindow {
  const w = new ArrivalWindow(0);
  let now = 0;
  for (const i of intervals) {
    now += i;
    w.arrive(now, maxInterval(settings));
  }
  return w;
}

t.test('phi grows with silence over the mean interval (exponential inter-arrivals)', async (t) => {
  t.equal(phi(0, 200), 0);
  t.ok(Math.abs(phi(200, 200) - Math.LOG10E) < 1e-12, 'one mean of silence: log10(e)');
  t.ok(Math.abs(phi(400, 200) - 2 * phi(200, 200)) < 1e-12, 'linear in the silence');
  t.ok(phi(1000, 400) < phi(1000, 200), 'a member heard less often is suspected less for the same silence');
  const { suspect, down } = phiThresholds(settings);
  t.ok(Math.abs(down - 15 * Math.LOG10E) < 1e-12, 'down at 3000 ms of silence at the 200 ms pace: phi 6.5');
  t.ok(Math.abs(suspect - down / 2) < 1e-12);
});

t.test('without observed intervals (or faster ones) the thresholds are the configured times', async (t) => {
  for (const window of [undefined, new ArrivalWindow(0), windowOf(Array(20).fill(50))]) {
    t.equal(judge(1499, window, settings), 'alive');
    t.equal(judge(1500, window, settings), 'suspect');
    t.equal(judge(2999, window, settings), 'suspect');
    t.equal(judge(3000, window, settings), 'down');
  }
  t.equal(expectedInterval(windowOf(Array(20).fill(50)), settings), 200, 'a mean below the gossip interval counts as the interval');
});

t.test('longer observed intervals stretch both thresholds in proportion', async (t) => {
  const slow = windowOf(Array(ARRIVAL_WINDOW).fill(400));
  t.equal(slow.mean(), 400);
  t.equal(judge(3000, slow, settings), 'suspect', 'news every 400 ms: 3 s of silence is only suspect');
  t.equal(judge(5999, slow, settings), 'suspect');
  t.equal(judge(6000, slow, settings), 'down', 'down at twice the configured time');
  t.equal(judge(2999, slow, settings), 'alive');
});

t.test('intervals above the max interval are not learned; the window keeps only the latest', async (t) => {
  const w = windowOf([300, 300, MAX_INTERVAL_FACTOR * 200 + 1, 300]);
  t.equal(w.mean(), 300, 'a gap beyond the max interval (a pause, a partition) is not the usual pace');
  t.equal(w.lastArrival, 300 * 3 + MAX_INTERVAL_FACTOR * 200 + 1, 'but it is an arrival');
  const shifted = windowOf([...Array(ARRIVAL_WINDOW).fill(700), ...Array(ARRIVAL_WINDOW).fill(250)]);
  t.equal(shifted.mean(), 250, `only the last ${ARRIVAL_WINDOW} intervals count`);
  const w2 = new ArrivalWindow(1000);
  w2.arrive(900, 10_000);
  t.equal(w2.mean(), undefined, 'an arrival out of order teaches nothing');
  t.equal(w2.lastArrival, 1000);
});
