/**
 * Request metrics on an injected clock: counts by op and outcome, latency buckets per op and
 * quorum, the quorum label, and the quantiles `kvctl top` derives from bucket counts.
 */
import t from 'tap';
import {
  bucketIndex,
  errorCount,
  LATENCY_BOUNDS_MS,
  mergedBuckets,
  parseRequestMetricsSnapshot,
  quantileMs,
  quorumLabel,
  RequestMetrics,
  requestCount,
} from '../../src/metrics/request-metrics.js';

/** A clock that moves only when told to. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let at = 1000;
  return { now: () => at, advance: (ms) => (at += ms) };
}

t.test('counts requests by op and outcome, and times them into the right bucket', async (t) => {
  const clock = manualClock();
  const m = new RequestMetrics(clock.now);
  for (const [op, quorum, ms, outcome] of [
    ['put', 'w2', 0.3, 'ok'],
    ['put', 'w2', 3, 'ok'],
    ['put', 'w1', 0.02, 'ok'],
    ['put', 'w2', 2000, 'KV_QUORUM_NOT_MET'],
    ['get', 'r2', 0.07, 'ok'],
    ['get', 'r2', 0.07, 'KV_BAD_REQUEST'],
  ] as const) {
    const started = m.start();
    clock.advance(ms);
    m.record(op, quorum, started, outcome);
  }
  const s = m.snapshot();
  t.same(s.boundsMs, LATENCY_BOUNDS_MS);
  t.equal(s.ops.put?.ok, 3);
  t.same(s.ops.put?.errors, { KV_QUORUM_NOT_MET: 1 });
  t.equal(requestCount(s.ops.put), 4);
  t.equal(errorCount(s.ops.put), 1);
  t.equal(requestCount(s.ops.delete), 0, 'an op never seen counts nothing');
  const w2 = s.ops.put?.latency.w2;
  t.equal(w2?.count, 3);
  t.ok(Math.abs((w2?.sumMs ?? 0) - 2003.3) < 1e-6, `sum of the latencies: ${w2?.sumMs}`);
  t.equal(w2?.buckets[bucketIndex(0.3)], 1);
  t.equal(w2?.buckets[bucketIndex(3)], 1);
  t.equal(w2?.buckets[bucketIndex(2000)], 1);
  t.equal(s.ops.put?.latency.w1?.buckets[0], 1, '0.02 ms is in the first bucket');
  t.equal(s.ops.get?.latency.r2?.buckets[bucketIndex(0.07)], 2, 'errors are timed too');
  t.equal(
    w2?.buckets.reduce((a, b) => a + b, 0),
    w2?.count,
    'buckets add up to the count',
  );
});

t.test('a snapshot is a copy: later requests do not change it', async (t) => {
  const clock = manualClock();
  const m = new RequestMetrics(clock.now);
  m.record('get', 'r1', m.start(), 'ok');
  const before = m.snapshot();
  m.record('get', 'r1', m.start(), 'ok');
  t.equal(before.ops.get?.ok, 1);
  t.equal(before.ops.get?.latency.r1?.count, 1);
  t.equal(m.snapshot().ops.get?.ok, 2);
});

t.test('a clock that steps back never records a negative latency', async (t) => {
  let at = 10;
  const m = new RequestMetrics(() => at);
  const started = m.start();
  at = 5;
  m.record('put', 'w1', started, 'ok');
  t.equal(m.snapshot().ops.put?.latency.w1?.sumMs, 0);
});

t.test('bucket index: a latency on a bound falls in that bound; slower than the last in the overflow bucket', async (t) => {
  t.equal(bucketIndex(0), 0);
  t.equal(bucketIndex(LATENCY_BOUNDS_MS[0] as number), 0);
  t.equal(bucketIndex(1), LATENCY_BOUNDS_MS.indexOf(1));
  t.equal(bucketIndex(1.0001), LATENCY_BOUNDS_MS.indexOf(1) + 1);
  t.equal(bucketIndex(1e9), LATENCY_BOUNDS_MS.length);
});

t.test('quorum label: requested or default, capped at the copies a key has; bad values share one label', async (t) => {
  t.equal(quorumLabel('w', undefined, 2, 3), 'w2');
  t.equal(quorumLabel('w', 3, 2, 3), 'w3');
  t.equal(quorumLabel('r', 3, 2, 1), 'r1', 'a lone node answers with one copy');
  t.equal(quorumLabel('w', 0, 2, 3), 'w-invalid');
  t.equal(quorumLabel('r', 99, 2, 3), 'r-invalid');
  t.equal(quorumLabel('r', 1.5, 2, 3), 'r-invalid');
});

t.test('quantiles from buckets interpolate inside the bucket', async (t) => {
  const bounds = [1, 2, 4];
  t.equal(quantileMs([0, 0, 0, 0], bounds, 0.5), undefined, 'nothing measured');
  t.equal(quantileMs([10, 0, 0, 0], bounds, 0.5), 0.5, 'half way through [0, 1]');
  t.equal(quantileMs([0, 10, 0, 0], bounds, 0.99), 1 + 0.99, 'in (1, 2]');
  t.equal(quantileMs([50, 0, 50, 0], bounds, 0.5), 1, 'the median at the top of the first bucket');
  t.equal(quantileMs([50, 0, 50, 0], bounds, 0.75), 3, 'half way through (2, 4]');
  t.equal(quantileMs([0, 0, 0, 5], bounds, 0.99), 4, 'the overflow bucket answers the last bound');
});

t.test('merged buckets add the quorums of the chosen ops', async (t) => {
  const clock = manualClock();
  const m = new RequestMetrics(clock.now, [1, 10]);
  const time = (op: string, quorum: string, ms: number) => {
    const s = m.start();
    clock.advance(ms);
    m.record(op, quorum, s, 'ok');
  };
  time('put', 'w1', 0.5);
  time('put', 'w2', 5);
  time('get', 'r1', 50);
  time('stats', 'none', 0.1);
  const s = m.snapshot();
  t.same(mergedBuckets(s, ['put']), [1, 1, 0]);
  t.same(mergedBuckets(s, ['put', 'get', 'delete']), [1, 1, 1]);
});

t.test('a snapshot from another node is read field by field: what has not its shape is left out', async (t) => {
  const clock = manualClock();
  const m = new RequestMetrics(clock.now);
  const started = m.start();
  clock.advance(3);
  m.record('put', 'w2', started, 'ok');
  m.record('get', 'r2', m.start(), 'KV_TIMEOUT');
  const snapshot = m.snapshot();
  t.same(parseRequestMetricsSnapshot(JSON.parse(JSON.stringify(snapshot))), snapshot, 'a real snapshot, through JSON, reads back whole');
  for (const bad of [undefined, null, 7, 'x', [], { boundsMs: 'x', ops: {} }, { boundsMs: [1, -2], ops: {} }, { boundsMs: [1], ops: [] }]) {
    t.equal(parseRequestMetricsSnapshot(bad), undefined, JSON.stringify(bad) ?? 'undefined');
  }
  const hostile = JSON.parse(JSON.stringify(snapshot));
  hostile.ops.put.latency.w2.buckets.push(5); // one bucket too many
  hostile.ops.get.ok = '1'; // not a count
  hostile.ops.delete = { ok: 1, errors: { KV_X: 'many', KV_Y: 2 }, latency: {} };
  const read = parseRequestMetricsSnapshot(hostile);
  t.same(Object.keys(read?.ops ?? {}).sort(), ['delete', 'put'], 'an op with a bad count is left out');
  t.same(read?.ops.put?.latency, {}, 'a series with the wrong number of buckets is left out');
  t.same(read?.ops.delete?.errors, { KV_Y: 2 }, 'an error count that is not a number is left out');
});
