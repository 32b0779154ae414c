/**
 * The seed sweep catches deliberate bugs planted from the simulator's side (src/sim/planted-bugs.ts)
 * within a few seeds, names the invariant they break, and the seed it reports replays the failure
 * exactly; without the plant, the same seed passes.
 */
import t from 'tap';
import { chaosRun, PLANTED_BUGS, parseSeeds, sweep } from '../../src/sim/index.js';

const OPS = 300;

for (const plant of PLANTED_BUGS) {
  t.test(`the sweep finds a planted ${plant} within 50 seeds, and its seed replays`, async (t) => {
    const options = { ops: OPS, plant };
    const report = await sweep(parseSeeds('1..50'), options, { stopAtFirst: true });
    t.equal(report.failures.length, 1, 'a failing seed is found');
    const failure = report.failures[0];
    if (!failure) return;
    const first = failure.outcome.violations[0];
    t.comment(`seed ${failure.seed} (after ${report.seeds} seeds): ${first?.invariant}: ${first?.detail}`);
    t.equal(first?.invariant, 'acked-on-disk', 'an acknowledged write went missing from every disk');
    t.equal(failure.replay, `npm run sim -- --seeds ${failure.seed} --ops ${OPS} --plant ${plant}`, 'the report says how to replay it');
    const replayed = await chaosRun({ ...options, seed: failure.seed });
    t.same(replayed.violations, failure.outcome.violations, 'replaying the seed breaks the same invariant, at the same virtual time');
    const clean = await chaosRun({ ops: OPS, seed: failure.seed });
    t.same(clean.violations, [], 'without the plant, the same seed passes');
  });
}

t.test('seed lists', async (t) => {
  t.same(parseSeeds('1..3,7,10..11'), [1, 2, 3, 7, 10, 11]);
  t.throws(() => parseSeeds('5..1'), RangeError);
  t.throws(() => parseSeeds('x'), RangeError);
});
