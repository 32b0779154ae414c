/**
 * Runs the chaos workload (chaos-workload.ts) for many seeds, one after another, and reports the
 * seeds that broke an invariant, each with the command that replays it. The CLI entry is
 * bench/sim-sweep.ts (`npm run sim -- --seeds 1..500`).
 */
import { type ChaosOptions, type ChaosOutcome, chaosRun } from './chaos-workload.js';
import { PLANTED_BUGS, type PlantedBug } from './planted-bugs.js';

/** Sweep settings: the workload options but the seed. */
export type SweepOptions = Omit<ChaosOptions, 'seed' | 'trace'>;

export interface SeedFailure {
  seed: number;
  outcome: ChaosOutcome;
  /** The shell command that replays this seed with the same options. */
  replay: string;
}

export interface SweepReport {
  seeds: number;
  failures: SeedFailure[];
  elapsedMs: number;
}

/** Parses `1..500`, `7`, or `1,5,9..12` into seeds. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d+)\.\.(\d+)$/.exec(part.trim());
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from) throw new RangeError(`empty seed range ${part}`);
      for (let s = from; s <= to; s++) seeds.push(s);
    } else if (/^\d+$/.test(part.trim())) {
      seeds.push(Number(part.trim()));
    } else {
      throw new RangeError(`not a seed or a range of seeds: ${JSON.stringify(part)}`);
    }
  }
  return seeds;
}

export function isPlantedBug(name: string): name is PlantedBug {
  return (PLANTED_BUGS as readonly string[]).includes(name);
}

/** The command line that runs `seed` again with `options`. */
export function replayCommand(seed: number, options: SweepOptions): string {
  const flags = [`--seeds ${seed}`];
  if (options.ops !== undefined) flags.push(`--ops ${options.ops}`);
  if (options.keys !== undefined) flags.push(`--keys ${options.keys}`);
  if (options.valueBytes !== undefined) flags.push(`--value-bytes ${options.valueBytes}`);
  if (options.sync) flags.push('--sync');
  if (options.powerLoss) flags.push('--power-loss');
  if (options.plant) flags.push(`--plant ${options.plant}`);
  return `npm run sim -- ${flags.join(' ')}`;
}

/**
 * Runs every seed; `onSeed` hears of each outcome as it comes. With `stopAtFirst`, stops at the
 * first failing seed.
 */
export async function sweep(
  seeds: readonly number[],
  options: SweepOptions,
  hooks: { onSeed?: (outcome: ChaosOutcome) => void; stopAtFirst?: boolean; now?: () => number } = {},
): Promise<SweepReport> {
  const now = hooks.now ?? (() => performance.now());
  const started = now();
  const failures: SeedFailure[] = [];
  let ran = 0;
  for (const seed of seeds) {
    const outcome = await chaosRun({ ...options, seed });
    ran++;
    hooks.onSeed?.(outcome);
    if (outcome.violations.length > 0) {
      failures.push({ seed, outcome, replay: replayCommand(seed, options) });
      if (hooks.stopAtFirst) break;
    }
  }
  return { seeds: ran, failures, elapsedMs: now() - started };
}
