import t from 'tap';
import { parseDurationMs } from '../../src/cli/duration.js';

t.test('durations with units, composites and bare seconds', async (t) => {
  const cases: [string, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1m1s1ms', 61_001],
    ['45', 45_000],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDurationMs(text, 'ttl'), ms, text);
});

t.test('anything else is a usage error naming the flag', async (t) => {
  for (const text of ['', '0', '0s', 's', '10x', '1.5s', '-5s', '10 s', 'ms', '1h 30m', '9'.repeat(30)]) {
    t.throws(() => parseDurationMs(text, 'ttl'), { code: 'KV_USAGE', message: /^--ttl / }, JSON.stringify(text));
  }
});
