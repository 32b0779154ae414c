/**
 * VirtualClock micro-bench: timers fired per second of wall time with `--pending` timers waiting
 * (default 100,000), each fired timer setting a new one (the pending count stays level) and half the
 * new ones being request timeouts cancelled at once, as replies cancel them in the simulator.
 * `node dist/bench/clock-bench.js [--pending n] [--fires n]`
 */
import { parseArgs } from 'node:util';
import { VirtualClock } from '../src/env/clock.js';
import { SeededRandom } from '../src/env/random.js';

const { values } = parseArgs({ options: { pending: { type: 'string' }, fires: { type: 'string' } } });
const pending = Number(values.pending ?? 100_000);
const fires = Number(values.fires ?? 200_000);

const clock = new VirtualClock(0);
const random = new SeededRandom(1);
let fired = 0;
const tick = () => {
  fired++;
  clock.setTimer(1 + random.int(1000), tick);
  clock.setTimer(500, () => {}).cancel();
};
for (let i = 0; i < pending; i++) clock.setTimer(1 + random.int(1000), tick);
const started = process.hrtime.bigint();
while (fired < fires) clock.advance(1);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`${pending} pending timers: ${fired} fired in ${seconds.toFixed(2)} s = ${Math.round(fired / seconds).toLocaleString('en')} timers/s`);
