/**
 * `kvctl top`'s figures from two stats readings: rates from counter deltas, quantiles from bucket
 * deltas (only the interval's requests), the interval's cache hit ratio, and no rates across a restart.
 */
import t from 'tap';
import { RequestMetrics } from '../../src/metrics/request-metrics.js';
import { topGauges, topRates } from '../../src/metrics/top-sample.js';

function harness() {
  let at = 0;
  const metrics = new RequestMetrics(() => at);
  const run = (op: string, ms: number, outcome = 'ok') => {
    const s = metrics.start();
    at += ms;
    metrics.record(op, op === 'get' ? 'r2' : 'w2', s, outcome);
  };
  const stats = (uptimeMs: number, cache = { hits: 0, misses: 0, hitRatio: 0 }) => ({
    uptimeMs,
    keys: 7,
    hints: { held: 3 },
    handoff: { pending: 2 },
    store: { diskBytes: 4096 },
    health: 'up',
    cache,
    requests: metrics.snapshot(),
  });
  return { run, stats };
}

t.test('rates and quantiles cover only the interval between the readings', async (t) => {
  const h = harness();
  for (let i = 0; i < 100; i++) h.run('put', 50); // slow puts before the interval
  const prev = { at: 10_000, stats: h.stats(10_000, { hits: 10, misses: 10, hitRatio: 0.5 }) };
  for (let i = 0; i < 20; i++) h.run('put', 0.2);
  for (let i = 0; i < 10; i++) h.run('get', 0.2);
  h.run('get', 0.2, 'KV_QUORUM_NOT_MET');
  h.run('stats', 0.2); // not a read or write: no rate column, no latency
  const cur = { at: 12_000, stats: h.stats(12_000, { hits: 19, misses: 11, hitRatio: 0.6 }) };
  const r = topRates(prev, cur);
  t.ok(r);
  t.equal(r?.intervalSec, 2);
  t.same(r?.opsPerSec, { get: 5.5, put: 10, delete: 0 }, 'failed requests count as requests');
  t.equal(r?.errorsPerSec, 0.5);
  t.ok((r?.p99Ms ?? 99) <= 0.25, `p99 ${r?.p99Ms} ms: the slow puts before the interval are not in it`);
  t.ok((r?.p50Ms ?? 0) > 0.1, `p50 ${r?.p50Ms} ms is in the (0.1, 0.25] bucket`);
  t.equal(r?.cacheHitRatio, 0.9, '9 hits of 10 lookups in the interval, not the lifetime 0.6');
});

t.test('an idle interval: zero rates, no quantiles, the lifetime hit ratio', async (t) => {
  const h = harness();
  h.run('put', 1);
  const prev = { at: 0, stats: h.stats(5000, { hits: 3, misses: 1, hitRatio: 0.75 }) };
  const r = topRates(prev, { at: 1000, stats: h.stats(6000, { hits: 3, misses: 1, hitRatio: 0.75 }) });
  t.same(r?.opsPerSec, { get: 0, put: 0, delete: 0 });
  t.equal(r?.p50Ms, null);
  t.equal(r?.p99Ms, null);
  t.equal(r?.cacheHitRatio, 0.75);
});

t.test('no rates across a restart (uptime went back) or without time between readings', async (t) => {
  const h = harness();
  const a = h.stats(9000);
  t.equal(topRates({ at: 0, stats: a }, { at: 1000, stats: h.stats(100) }), undefined);
  t.equal(topRates({ at: 1000, stats: a }, { at: 1000, stats: a }), undefined);
});

t.test('gauges, and zeros for what an older daemon does not report', async (t) => {
  const h = harness();
  t.same(topGauges(h.stats(1)), { keys: 7, hintsHeld: 3, handoffPending: 2, diskBytes: 4096, health: 'up' });
  t.same(topGauges({}), { keys: 0, hintsHeld: 0, handoffPending: 0, diskBytes: 0, health: 'up' });
  const r = topRates({ at: 0, stats: { uptimeMs: 1 } }, { at: 1000, stats: { uptimeMs: 2 } });
  t.same(r?.opsPerSec, { get: 0, put: 0, delete: 0 }, 'a daemon without request metrics shows zero rates');
});
