/**
 * Clock pruning may create false siblings but never drops a true one: two runs of the same seeded
 * history, one pruning retired actors' entries down to a bound, one unbounded; every value live in
 * the unbounded run must be live in the pruned run, and no clock exceeds the bound where it can be met.
 */
import t from 'tap';
import { applyWrite, type CausalRecord, emptyRecord, liveSiblings, mergeRecords, pruneClock } from '../../src/clock/index.js';
import { SeededRandom } from '../../src/env/random.js';

const seeds = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : [1, 2, 3, 4, 5, 6, 7, 8];

t.test('pruning keeps every true sibling (seeded histories)', async (t) => {
  for (const seed of seeds) {
    const random = new SeededRandom(seed);
    const actors = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const retired = new Set<string>();
    const isRetired = (actor: string) => retired.has(actor);
    const replicas = 3;
    let pruned: CausalRecord<string>[] = Array.from({ length: replicas }, () => emptyRecord<string>());
    let full: CausalRecord<string>[] = Array.from({ length: replicas }, () => emptyRecord<string>());
    let problems = 0;
    for (let step = 0; step < 400; step++) {
      if (step === 150) for (const a of ['d', 'e', 'f', 'g']) retired.add(a);
      const live = actors.filter((a) => !retired.has(a));
      const actor = live[random.int(live.length)] as string;
      const i = random.int(replicas);
      const op = random.next();
      if (op < 0.6) {
        const value = `${actor}${step}`;
        const withContext = random.next() < 0.7;
        const p = pruned[i] as CausalRecord<string>;
        const f = full[i] as CausalRecord<string>;
        pruned[i] = pruneClock(applyWrite(p, withContext ? p.clock : new Map(), actor, value, step), 3, isRetired);
        full[i] = applyWrite(f, withContext ? f.clock : new Map(), actor, value, step);
      } else {
        const j = random.int(replicas);
        pruned = pruned.map((r, k) => (k === i || k === j ? mergeRecords(pruned[i] as CausalRecord<string>, pruned[j] as CausalRecord<string>) : r));
        full = full.map((r, k) => (k === i || k === j ? mergeRecords(full[i] as CausalRecord<string>, full[j] as CausalRecord<string>) : r));
      }
      for (let k = 0; k < replicas; k++) {
        const kept = new Set(liveSiblings(pruned[k] as CausalRecord<string>).map((s) => s.value));
        for (const s of liveSiblings(full[k] as CausalRecord<string>)) if (!kept.has(s.value)) problems++;
      }
    }
    t.equal(problems, 0, `seed=${seed}: no true sibling dropped by pruning`);
    const sizes = pruned.map((r) => r.clock.size);
    t.ok(
      pruned.every((r) => r.clock.size <= Math.max(3, new Set(r.siblings.map((s) => s.dot[0])).size + 3)),
      `seed=${seed}: clocks stay bounded (${sizes.join(', ')})`,
    );
  }
});

t.test('pruning never removes live actors or actors named by a sibling', async (t) => {
  const record: CausalRecord<string> = {
    clock: new Map([
      ['old1', 4],
      ['old2', 2],
      ['live', 7],
      ['named', 1],
    ]),
    siblings: [{ dot: ['named', 1], ts: 0, value: 'x' }],
  };
  const out = pruneClock(record, 1, (a) => a !== 'live');
  t.same([...out.clock.keys()].sort(), ['live', 'named']);
  t.equal(
    pruneClock(record, 10, () => true),
    record,
    'under the bound: untouched',
  );
});
