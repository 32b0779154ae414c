/**
 * Whole-cluster runs replay from their seed: the chaos workload with crashes and partitions, and
 * values large enough to be compressed, gives the same trace (every message delivered, with its
 * virtual time, ends and body, and every client reply) twice; another seed gives another trace.
 */
import t from 'tap';
import { chaosRun } from '../../src/sim/index.js';

const SEED = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : 5;

t.test(`a whole-cluster run replays exactly from its seed (seed ${SEED})`, async (t) => {
  const options = { ops: 400, valueBytes: 600, trace: true };
  const first = await chaosRun({ ...options, seed: SEED });
  const again = await chaosRun({ ...options, seed: SEED });
  const other = await chaosRun({ ...options, seed: SEED + 1 });
  const { crashes, partitions } = first.chaos;
  t.comment(`seed ${SEED}: ${crashes} crashes, ${partitions} partitions, ${first.compressed} values compressed; trace ${first.traceHash}`);
  t.ok(crashes > 0 && partitions > 0, 'the run had crashes and partitions');
  t.ok(first.compressed > first.acked / 2, 'most values were stored compressed');
  t.same(first.violations, [], 'and broke no invariant');
  t.equal(again.traceHash, first.traceHash, 'the same seed gives the same trace');
  t.same(again, first, 'and the same outcome');
  t.not(other.traceHash, first.traceHash, 'another seed gives another trace');
});

t.test(`a run with 4 KiB values replays exactly from its seed (seed ${SEED})`, async (t) => {
  // Values this size go through brotli on every write and every read: the codec must settle
  // inline, as no worker thread may decide when a reply comes.
  const options = { ops: 200, valueBytes: 4096, trace: true };
  const first = await chaosRun({ ...options, seed: SEED });
  const again = await chaosRun({ ...options, seed: SEED });
  const other = await chaosRun({ ...options, seed: SEED + 1 });
  t.comment(`${first.compressed} values compressed; trace ${first.traceHash}`);
  t.ok(first.compressed > first.acked / 2, 'most values were stored compressed');
  t.same(first.violations, [], 'and broke no invariant');
  t.equal(again.traceHash, first.traceHash, 'the same seed gives the same trace');
  t.same(again, first, 'and the same outcome');
  t.not(other.traceHash, first.traceHash, 'another seed gives another trace');
});
