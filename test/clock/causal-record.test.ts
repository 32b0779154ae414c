import t from 'tap';
import {
  applyWrite,
  type CausalRecord,
  coversDot,
  emptyRecord,
  emptyVector,
  isTombstone,
  liveSiblings,
  mergeRecords,
  type Sibling,
  type VersionVector,
  vectorEntries,
} from '../../src/clock/index.js';
import { seededRandom } from '../helpers/random.js';

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

type Rec = CausalRecord<string>;

const dotKey = (s: Sibling<unknown>): string => `${s.dot[1]}@${s.dot[0]}`;
const values = (r: Rec): (string | null)[] => r.siblings.map((s) => s.value);
const liveValues = (r: Rec): string[] => liveSiblings(r).map((s) => s.value as string);
/** Canonical, order-preserving form of a record for exact comparison. */
const norm = (r: Rec) => ({ clock: vectorEntries(r.clock), siblings: r.siblings.map((s) => [dotKey(s), s.ts, s.value]) });
/** Canonical form ignoring sibling order (siblings form a set). */
const normSet = (r: Rec) => ({ clock: vectorEntries(r.clock), siblings: r.siblings.map((s) => [dotKey(s), s.ts, s.value]).sort() });

t.test('a write with the read context supersedes exactly what was read', async (t) => {
  const r1 = applyWrite(emptyRecord<string>(), new Map(), 'a', 'v1', 1);
  const r2 = applyWrite(r1, r1.clock, 'a', 'v2', 2);
  t.same(
    liveSiblings(r2).map((s) => s.value),
    ['v2'],
  );
});

t.test('a context supersedes only the versions it covers, not later ones', async (t) => {
  const a1 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'x', 1);
  const ctx = a1.clock; // a client reads here: it has seen x only
  const b1 = applyWrite(emptyRecord<string>(), emptyVector, 'b', 'y', 2);
  const both = mergeRecords(a1, b1);
  t.same(values(both).sort(), ['x', 'y'], 'merged replica holds both');
  const after = applyWrite(both, ctx, 'a', 'z', 3);
  t.same(values(after).sort(), ['y', 'z'], 'x (seen) is gone, y (unseen) survives');
  t.same(vectorEntries(after.clock), [
    ['a', 2],
    ['b', 1],
  ]);
  // The writer coordinated by an actor the context already knows gets a fresh, larger counter.
  const ctxAhead = new Map([['a', 7]]);
  const r = applyWrite(a1, ctxAhead, 'a', 'w', 4);
  t.same(r.siblings.map(dotKey), ['8@a'], 'counter exceeds the context too');
  t.same(values(r), ['w'], 'the context covered x');
});

t.test('two writers with the same context both survive', async (t) => {
  t.test('through the same actor', async (t) => {
    const r0 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'v0', 1);
    const ctx = r0.clock;
    const r1 = applyWrite(r0, ctx, 'a', 'x', 2);
    const r2 = applyWrite(r1, ctx, 'a', 'y', 3);
    t.same(values(r2), ['x', 'y'], 'v0 superseded, x and y are siblings');
    t.not(dotKey(r2.siblings[0]!), dotKey(r2.siblings[1]!), 'distinct dots');
    t.same(vectorEntries(r2.clock), [['a', 3]]);
    // A third client with the context after x still only supersedes x.
    const r3 = applyWrite(r2, r1.clock, 'a', 'z', 4);
    t.same(values(r3), ['y', 'z']);
  });
  t.test('through different actors', async (t) => {
    const base = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'v0', 1);
    const atB = mergeRecords(emptyRecord<string>(), base);
    const ctx = base.clock;
    const onA = applyWrite(base, ctx, 'a', 'x', 2);
    const onB = applyWrite(atB, ctx, 'b', 'y', 2);
    const ab = mergeRecords(onA, onB);
    const ba = mergeRecords(onB, onA);
    t.same(values(ab).sort(), ['x', 'y']);
    t.same(norm(ab), norm(ba), 'same result whichever side merges');
    t.same(vectorEntries(ab.clock), [
      ['a', 2],
      ['b', 1],
    ]);
    // A client that read both and writes with that context resolves the conflict.
    const resolved = applyWrite(ab, ab.clock, 'b', 'xy', 3);
    t.same(values(resolved), ['xy']);
    t.same(values(mergeRecords(onA, resolved)), ['xy'], 'stale replica adopts the resolution');
  });
});

t.test('a write without context becomes a sibling', async (t) => {
  let r = emptyRecord<string>();
  for (const v of ['a', 'b', 'c']) r = applyWrite(r, emptyVector, 'n1', v, 1);
  t.same(values(r), ['a', 'b', 'c']);
  t.same(r.siblings.map(dotKey), ['1@n1', '2@n1', '3@n1']);
  for (const s of r.siblings) t.ok(coversDot(r.clock, s.dot), `clock covers ${dotKey(s)}`);
});

t.test('tombstones behave like values', async (t) => {
  t.equal(isTombstone(emptyRecord()), false, 'an empty record is not a tombstone');
  const r1 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'v', 1);
  t.equal(isTombstone(r1), false);
  const del = applyWrite(r1, r1.clock, 'a', null, 2);
  t.equal(isTombstone(del), true, 'delete with context leaves only a tombstone');
  t.same(liveSiblings(del), []);
  t.equal(del.siblings.length, 1, 'the tombstone is kept as a sibling so it replicates');

  const concurrentDel = applyWrite(r1, emptyVector, 'b', null, 2);
  t.equal(isTombstone(concurrentDel), false, 'a concurrent delete does not hide a value');
  t.same(liveValues(concurrentDel), ['v']);
  t.equal(concurrentDel.siblings.length, 2);

  const revived = applyWrite(del, del.clock, 'a', 'back', 3);
  t.equal(isTombstone(revived), false);
  t.same(values(revived), ['back'], 'a write that saw the delete supersedes the tombstone');

  // The tombstone wins over a stale replica on merge, and a concurrent value survives it.
  t.same(values(mergeRecords(r1, del)), [null], 'tombstone replaces the value it saw');
  const other = applyWrite(emptyRecord<string>(), emptyVector, 'c', 'w', 5);
  const mixed = mergeRecords(del, other);
  t.equal(isTombstone(mixed), false);
  t.same(liveValues(mixed), ['w']);
  t.same(values(mixed), [null, 'w'], 'ordered by timestamp');
});

t.test('mergeRecords keeps what the other side has not seen, drops what it superseded', async (t) => {
  const a1 = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'x', 1);
  const b = mergeRecords(emptyRecord<string>(), a1);
  const b2 = applyWrite(b, b.clock, 'b', 'y', 2); // supersedes x
  t.same(values(mergeRecords(a1, b2)), ['y'], 'x dropped: b saw and superseded it');
  const a2 = applyWrite(a1, emptyVector, 'a', 'x2', 3); // b never saw 2@a
  t.same(values(mergeRecords(a2, b2)), ['y', 'x2'], 'x2 kept: b never saw its dot');
  t.same(norm(mergeRecords(a2, emptyRecord())), norm(mergeRecords(emptyRecord(), a2)), 'empty is the identity');
  t.same(normSet(mergeRecords(a2, emptyRecord())), normSet(a2));
});

t.test('replicas list the same siblings in the same order', async (t) => {
  // Replica b's clock runs ahead of replica a's: its sibling carries the larger timestamp.
  const fromB = applyWrite(emptyRecord<string>(), emptyVector, 'b', 'from-b', 2000);
  const atA = mergeRecords(emptyRecord<string>(), fromB);
  const onA = applyWrite(atA, emptyVector, 'a', 'from-a', 1000); // concurrent write, earlier wall clock
  const copy = mergeRecords(emptyRecord<string>(), onA); // what any other replica holds after replication
  t.same(values(copy), ['from-a', 'from-b'], 'a replica that merged lists oldest first');
  t.same(values(onA), values(copy), 'the coordinating replica lists them alike (liveSiblings promises oldest write first; applyWrite appends unsorted)');
  t.same(liveValues(onA), ['from-a', 'from-b'], 'liveSiblings is oldest write first');
});

/** One random history over 3 replicas; returns every record any replica held, in order. */
interface Client {
  vv: VersionVector;
  hist: ReadonlySet<string>;
}

function simulate(
  seed: number,
  steps: number,
  check?: (step: number, replica: number, rec: Rec, expectedLive: Set<string>, expectedClock: [string, number][], idOfDot: ReadonlyMap<string, string>) => void,
) {
  const rand = seededRandom(seed);
  const actors = ['a', 'b', 'c'];
  const skew = actors.map(() => Math.floor(rand() * 50));
  const recs: Rec[] = actors.map(() => emptyRecord<string>());
  const hists: Set<string>[] = actors.map(() => new Set<string>());
  const seen = new Map<string, ReadonlySet<string>>(); // write id -> ids it had seen
  const dotOf = new Map<string, string>(); // write id -> its dot
  const idOfDot = new Map<string, string>();
  const clients: Client[] = [];
  const pool: Rec[] = [];
  let nextId = 0;
  for (let step = 0; step < steps; step++) {
    const i = Math.floor(rand() * actors.length);
    const roll = rand();
    if (roll < 0.2) {
      // A client reads replica i and keeps the context for a later write.
      clients.push({ vv: recs[i]!.clock, hist: new Set(hists[i]) });
    } else if (roll < 0.65) {
      const id = `w${nextId++}`;
      const r2 = rand();
      const client: Client =
        r2 < 0.25 || clients.length === 0
          ? { vv: emptyVector, hist: new Set() }
          : r2 < 0.5
            ? { vv: recs[i]!.clock, hist: new Set(hists[i]) }
            : pick(rand, clients);
      const value = rand() < 0.2 ? null : id;
      const ts = step + skew[i]!;
      const next = applyWrite(recs[i]!, client.vv, actors[i]!, value, ts);
      // The new version is the sibling with this actor's newest dot (siblings are kept sorted).
      const created = next.siblings.find((s) => s.dot[0] === actors[i] && s.dot[1] === next.clock.get(actors[i]!))!;
      const dk = dotKey(created);
      if (idOfDot.has(dk)) throw new Error(`seed=${seed}: dot ${dk} reused by ${id} and ${idOfDot.get(dk)}`);
      idOfDot.set(dk, id);
      dotOf.set(id, dk);
      seen.set(id, client.hist);
      recs[i] = next;
      hists[i] = new Set([...hists[i]!, ...client.hist, id]);
    } else {
      const j = (i + 1 + Math.floor(rand() * (actors.length - 1))) % actors.length;
      recs[i] = mergeRecords(recs[i]!, recs[j]!);
      hists[i] = new Set([...hists[i]!, ...hists[j]!]);
    }
    pool.push(recs[i]!);
    if (check) {
      const h = hists[i]!;
      const expectedLive = new Set([...h].filter((x) => ![...h].some((y) => seen.get(y)!.has(x))));
      const clock = new Map<string, number>();
      for (const x of h) {
        const [n, actor] = dotOf.get(x)!.split('@') as [string, string];
        clock.set(actor, Math.max(clock.get(actor) ?? 0, Number(n)));
      }
      check(step, i, recs[i]!, expectedLive, vectorEntries(clock), idOfDot);
    }
  }
  return { recs, pool, idOfDot };
}

t.test('property: matches a causal-history model over 3 replicas', async (t) => {
  const SEEDS = 300;
  let checks = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const problems: string[] = [];
    const { recs } = simulate(seed, 80, (step, replica, rec, expectedLive, expectedClock, idOfDot) => {
      checks++;
      if (problems.length > 0) return;
      const actual = rec.siblings.map((s) => idOfDot.get(dotKey(s)) ?? `?${dotKey(s)}`).sort();
      const expected = [...expectedLive].sort();
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        problems.push(`step ${step} replica ${replica}: siblings ${JSON.stringify(actual)}, model says ${JSON.stringify(expected)}`);
      }
      if (JSON.stringify(vectorEntries(rec.clock)) !== JSON.stringify(expectedClock)) {
        problems.push(`step ${step} replica ${replica}: clock ${JSON.stringify(vectorEntries(rec.clock))}, model says ${JSON.stringify(expectedClock)}`);
      }
      if (new Set(rec.siblings.map(dotKey)).size !== rec.siblings.length) problems.push(`step ${step}: duplicate dot`);
      for (const s of rec.siblings) if (!coversDot(rec.clock, s.dot)) problems.push(`step ${step}: clock misses ${dotKey(s)}`);
    });
    // Full anti-entropy: every replica converges to the same set of siblings.
    const all = recs.reduce((x, y) => mergeRecords(x, y));
    const converged = recs.map((r) => normSet(mergeRecords(r, all)));
    if (!converged.every((c) => JSON.stringify(c) === JSON.stringify(converged[0]))) problems.push('replicas did not converge');
    t.same(problems, [], `seed=${seed}`);
  }
  t.ok(checks >= SEEDS * 80, `checked ${checks} states`);
});

t.test('property: mergeRecords is commutative, associative and idempotent', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const { pool } = simulate(seed, 60);
    const rand = seededRandom(seed ^ 0x9e3779b9);
    const problems: string[] = [];
    for (let k = 0; k < 40 && problems.length === 0; k++) {
      const a = pick(rand, pool);
      const b = pick(rand, pool);
      const c = pick(rand, pool);
      const ab = mergeRecords(a, b);
      if (JSON.stringify(norm(ab)) !== JSON.stringify(norm(mergeRecords(b, a)))) problems.push(`k=${k}: merge(a,b) != merge(b,a)`);
      const left = mergeRecords(ab, c);
      const right = mergeRecords(a, mergeRecords(b, c));
      if (JSON.stringify(norm(left)) !== JSON.stringify(norm(right))) problems.push(`k=${k}: not associative`);
      if (JSON.stringify(normSet(mergeRecords(a, a))) !== JSON.stringify(normSet(a))) problems.push(`k=${k}: merge(a,a) != a`);
      if (JSON.stringify(norm(mergeRecords(ab, ab))) !== JSON.stringify(norm(ab))) problems.push(`k=${k}: merge(m,m) != m`);
      if (JSON.stringify(norm(mergeRecords(ab, a))) !== JSON.stringify(norm(ab))) problems.push(`k=${k}: merge(merge(a,b),a) != merge(a,b)`);
      // A sibling is dropped only when the other side's clock covers its dot.
      const kept = new Set(ab.siblings.map(dotKey));
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const s of x.siblings) {
          if (!kept.has(dotKey(s)) && !coversDot(y.clock, s.dot)) problems.push(`k=${k}: dropped ${dotKey(s)} the other side never saw`);
        }
      }
      for (const s of ab.siblings) {
        const inA = a.siblings.some((x) => dotKey(x) === dotKey(s));
        const inB = b.siblings.some((x) => dotKey(x) === dotKey(s));
        if (!inA && !inB) problems.push(`k=${k}: invented ${dotKey(s)}`);
      }
    }
    t.same(problems, [], `seed=${seed}`);
  }
});
