/**
 * CPU profiling for daemons, since Node 20 refuses `--cpu-prof` in NODE_OPTIONS: loaded with
 * `NODE_OPTIONS=--import=…/cpu-prof-preload.js`, it starts the V8 sampling profiler in a kvctl
 * daemon process (and does nothing in any other process) and writes
 * `$BENCH_CPU_PROF/daemon-PID.cpuprofile` when the daemon exits. The same-thread inspector
 * session answers synchronously, which is what makes writing from the 'exit' handler possible.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF;
const SAMPLING_INTERVAL_US = 500;

if (dir && /[/\\]daemon[/\\]main\.js$/.test(process.argv[1] ?? '')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `daemon-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
