/**
 * The chaos workload (src/sim/chaos-workload.ts): five real KvNodes on a simulated network, seeded,
 * with crashes, pauses, partitions (and, with fsync on, power losses) during 2000 client operations.
 * Invariants are checked after every step; after healing and a full repair every pair of replicas
 * agrees and no acknowledged write is lost except to a causal successor.
 * A failing run prints its seed; replay it with SIM_SEED=<seed> (or `npm run sim -- --seeds <seed> --ops 2000`).
 */
import t from 'tap';
import { type ChaosOptions, chaosRun } from '../../src/sim/index.js';

const OPS = 2000;
/** Seeds and what each runs: the daemon's defaults, and fsync on with power losses and compressed values. */
const fixed: ChaosOptions[] = [{ seed: 11 }, { seed: 22 }, { seed: 35, sync: true, powerLoss: true, valueBytes: 600 }];
/** SIM_SEED=<n> runs one seed: as listed above if it is, else with the defaults (SIM_SYNC=1: fsync on, power losses). */
const chosen = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : undefined;
const runs: ChaosOptions[] =
  chosen === undefined
    ? fixed
    : [fixed.find((o) => o.seed === chosen) ?? { seed: chosen, ...(process.env.SIM_SYNC === '1' ? { sync: true, powerLoss: true } : {}) }];

for (const options of runs) {
  const { seed } = options;
  const mode = options.sync ? 'fsync on, power losses' : 'no fsync';
  const replay = `SIM_SEED=${seed}${options.sync && !fixed.includes(options) ? ' SIM_SYNC=1' : ''}`;
  t.test(`chaos run, seed ${seed} (${mode})`, async (t) => {
    const outcome = await chaosRun({ ...options, ops: OPS });
    const { crashes, pauses, partitions, powerLosses } = outcome.chaos;
    t.comment(
      `seed ${seed}: ${outcome.acked} acknowledged, ${outcome.failed} refused or failed; ${crashes} crashes, ${pauses} pauses, ${partitions} partitions, ${powerLosses} power losses in ${outcome.virtualMs} virtual ms`,
    );
    t.ok(crashes + pauses + partitions + powerLosses >= 3, `seed=${seed}: faults were injected`);
    if (options.powerLoss) t.ok(powerLosses >= 1, `seed=${seed}: a power loss was injected`);
    t.ok(outcome.acked > OPS / 4, `seed=${seed}: the cluster stayed mostly available (${outcome.acked} of ${OPS} writes acknowledged)`);
    t.same(outcome.violations, [], `seed=${seed}: every invariant held at every step and after repair (replay: ${replay})`);
  });
}
