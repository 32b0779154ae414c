/**
 * `npm run sim`: with `--nodes`, the scale run (bench/sim-scale.ts); otherwise the seed sweep.
 *
 * The seed sweep: `npm run sim -- --seeds 1..500 [options]` runs the simulated chaos workload for
 * each seed and reports the seeds that broke an invariant, with the command that replays each one.
 * Exits 1 when any seed failed, 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { PLANTED_BUGS } from '../src/sim/planted-bugs.js';
import { isPlantedBug, parseSeeds, replayCommand, type SweepOptions, sweep } from '../src/sim/seed-sweep.js';

const DEFAULT_OPS = 400;

const HELP = `Usage: npm run sim -- --seeds <seeds> [options]
       npm run sim -- --nodes <n> [options]   (the scale run: --nodes <n> --help)

Runs the chaos workload of the simulator (five real nodes, N=3 W=2 R=2, a lossy network, crashes,
pauses, partitions) once per seed and checks its invariants after every step: siblings pairwise
concurrent, one value per dot, every acknowledged value on some disk, rings converged at quiet
points; at the end, replicas agree after repair and every acknowledged value is read at R=3.

Options:
  --seeds <list>         seeds: 7, 1..500, or 1,5,9..12 (required)
  --ops <n>              client operations per seed (default ${DEFAULT_OPS}; the test runs 2000)
  --keys <n>             keys per key space (default 60)
  --value-bytes <n>      pad values to n bytes; 512 or more exercises compression
  --sync                 disks fsync every write (the daemon's --sync)
  --power-loss           power losses among the faults (without --sync, spaced 30 s apart)
  --plant <bug>          plant a deliberate bug to see the sweep catch it: ${PLANTED_BUGS.join(', ')}
                         (e.g. --plant ack-before-write)
  --stop-at-first        stop at the first failing seed
  --verbose              one line per seed
  --help                 this text

A failing seed is printed with its violated invariant and the command that replays it exactly.`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse().values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.seeds) {
    console.error(`--seeds is required\n\n${HELP}`);
    return 2;
  }
  let seeds: number[];
  const options: SweepOptions = { ops: DEFAULT_OPS };
  try {
    seeds = parseSeeds(values.seeds);
    if (values.ops !== undefined) options.ops = positive('--ops', values.ops);
    if (values.keys !== undefined) options.keys = positive('--keys', values.keys);
    if (values['value-bytes'] !== undefined) options.valueBytes = positive('--value-bytes', values['value-bytes']);
    if (values.sync) options.sync = true;
    if (values['power-loss']) options.powerLoss = true;
    if (values.plant !== undefined) {
      if (!isPlantedBug(values.plant)) throw new RangeError(`--plant must be one of ${PLANTED_BUGS.join(', ')}`);
      options.plant = values.plant;
    }
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }

  const described = replayCommand(seeds[0] as number, options).replace(/--seeds \d+ ?/, '');
  console.log(`sweeping ${seeds.length} seeds: ${described}`);
  const report = await sweep(seeds, options, {
    stopAtFirst: values['stop-at-first'],
    onSeed: (o) => {
      const verdict = o.violations.length > 0 ? `FAIL ${o.violations[0]?.invariant}` : 'ok';
      if (values.verbose || o.violations.length > 0) {
        const { crashes, pauses, partitions, powerLosses } = o.chaos;
        console.log(
          `seed ${o.seed}: ${verdict} (${o.acked} acked, ${o.failed} failed; ${crashes} crashes, ${pauses} pauses, ${partitions} partitions, ${powerLosses} power losses; ${o.virtualMs} virtual ms)`,
        );
      }
    },
  });
  const perMinute = report.seeds / (report.elapsedMs / 60_000);
  console.log(`\n${report.seeds} seeds in ${(report.elapsedMs / 1000).toFixed(1)} s (${perMinute.toFixed(0)} seeds/min); ${report.failures.length} failed`);
  for (const f of report.failures) {
    const first = f.outcome.violations[0];
    console.log(`\nseed ${f.seed}: ${first?.invariant} at virtual ${first?.at} ms: ${first?.detail}`);
    for (const more of f.outcome.violations.slice(1, 4)) console.log(`  also ${more.invariant}: ${more.detail}`);
    console.log(`  replay: ${f.replay}`);
  }
  return report.failures.length > 0 ? 1 : 0;
}

function parse() {
  return parseArgs({
    options: {
      seeds: { type: 'string' },
      ops: { type: 'string' },
      keys: { type: 'string' },
      'value-bytes': { type: 'string' },
      sync: { type: 'boolean' },
      'power-loss': { type: 'boolean' },
      plant: { type: 'string' },
      'stop-at-first': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

const args = process.argv.slice(2);
if (args.some((arg) => arg === '--nodes' || arg.startsWith('--nodes='))) {
  const { scaleMain } = await import('./sim-scale.js');
  process.exitCode = await scaleMain(args);
} else {
  process.exitCode = await main();
}
