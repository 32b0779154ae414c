/**
 * Section "ring" (`npm run bench -- --only ring`): what membership changes and preference lists
 * cost as the cluster grows, in this process (no daemons).
 *
 *   - a ring built from scratch, and made from the previous ring on one join, one leave and one
 *     weight change (withMembers: only the changed member is hashed, the token arrays merged), at
 *     100 / 1,000 / 2,000 nodes × 64 vnodes; p50 over repetitions, the build from scratch (and the
 *     tuple sort the ring was built with before) as the baseline in the same run
 *   - a cold start as the seed sees it: 999 joins, each applied alone, against the ring changes
 *     RingRefresh applies when the joins arrive over a few gossip rounds
 *   - a key's replicas: the primaries alone, and the replica plan a sloppy request makes with k
 *     nodes down (a lazy walk: fallbacks only until each down primary has a stand-in), against
 *     the whole preference list the coordinator walked before
 *   - the memo of arcs: its entry cap and the heap it holds when full (measured first)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { VirtualClock } from '../src/env/clock.js';
import { SeededRandom } from '../src/env/random.js';
import { ClusterState } from '../src/membership/cluster-state.js';
import { MemberTable, newMember } from '../src/membership/member-table.js';
import { RingRefresh } from '../src/node/ring-refresh.js';
import { planReplicas } from '../src/quorum/plan.js';
import { hashString, Ring, type RingMember, WALK_MEMO_ENTRIES } from '../src/ring/index.js';
import type { BenchContext } from './bench-context.js';
import { fmt, mib } from './report.js';

const VNODES = 64;
const N = 3;

const membersOf = (count: number): RingMember[] => Array.from({ length: count }, (_, i) => ({ name: `node-${String(i).padStart(4, '0')}`, weight: 1 }));

/** Milliseconds of `fn`, p50 over `reps` runs (after one unmeasured run). */
function p50Ms(reps: number, fn: () => unknown): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const started = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** The build the ring used before incremental changes: every token hashed, [token, name] tuples sorted. */
function tupleSortBuild(members: readonly RingMember[]): { tokens: Uint32Array; owners: string[] } {
  const entries: [number, string][] = [];
  for (const m of [...members].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const count = Math.max(1, Math.round(VNODES * m.weight));
    for (let i = 0; i < count; i++) entries.push([hashString(`${m.name}#${i}`), m.name]);
  }
  entries.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  return { tokens: Uint32Array.from(entries.map((e) => e[0])), owners: entries.map((e) => e[1]) };
}

/** Nanoseconds per call of `fn(i)`, over `calls` calls (after a warm-up pass). */
function nsPerCall(calls: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(calls, 20_000); i++) fn(i);
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / calls;
}

function randomKeys(count: number, seed: number): Uint8Array[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => Uint8Array.from({ length: 16 }, () => random.int(256)));
}

/** The garbage collector, exposed at run time (the bench runs without --expose-gc). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export async function ringSection({ report, config }: BenchContext): Promise<void> {
  const quick = config.quick;
  report.heading(`Ring: changes and preference lists at 100 / 1,000 / 2,000 nodes × ${VNODES} vnodes (in process)`);

  // The memo's bound first, on a heap with no garbage of the other measurements yet.
  const gc = collector();
  const big = new Ring(membersOf(2_000), VNODES);
  // Keys made one at a time: an array of them would be garbage by the second reading, and its
  // collection would hide what the memo holds.
  const key = new Uint8Array(8);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 4 * WALK_MEMO_ENTRIES; i++) {
    key[0] = i;
    key[1] = i >>> 8;
    key[2] = i >>> 16;
    big.primaries(key, N);
  }
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const held = big.walkMemo().entries;
  report.note(
    `memo of arcs: at most ${fmt(WALK_MEMO_ENTRIES)} entries per ring (WALK_MEMO_ENTRIES); full at 2,000 nodes (${fmt(2_000 * VNODES)} arcs) after ${fmt(4 * WALK_MEMO_ENTRIES)} keys: ` +
      `${fmt(held)} entries, ${mib(after - before)} of heap (${fmt((after - before) / held, 0)} B an entry), whatever the ring's size`,
  );
  report.record({ section: 'ring', phase: 'memo', capEntries: WALK_MEMO_ENTRIES, entries: held, heapBytes: after - before });

  // Ring changes.
  const rows: (string | number)[][] = [];
  let joinRatioAt1000 = Number.NaN;
  for (const size of [100, 1_000, 2_000]) {
    const members = membersOf(size);
    const ring = new Ring(members, VNODES);
    const scratchReps = quick ? 3 : size >= 1_000 ? 9 : 31;
    const changeReps = quick ? 11 : 101;
    const tuple = p50Ms(scratchReps, () => tupleSortBuild(members));
    const scratch = p50Ms(scratchReps, () => new Ring(members, VNODES));
    const joined = [...members, { name: 'newcomer', weight: 1 }];
    const join = p50Ms(changeReps, () => ring.withMembers(joined));
    const left = members.slice(1);
    const leave = p50Ms(changeReps, () => ring.withMembers(left));
    const heavier = members.map((m, i) => (i === 0 ? { ...m, weight: 2 } : m));
    const reweigh = p50Ms(changeReps, () => ring.withMembers(heavier));
    const same = [...members].reverse();
    const unchanged = p50Ms(changeReps, () => ring.withMembers(same));
    if (size === 1_000) joinRatioAt1000 = join / scratch;
    rows.push([
      fmt(size),
      fmt(size * VNODES),
      fmt(tuple, 2),
      fmt(scratch, 2),
      fmt(join, 3),
      fmt(leave, 3),
      fmt(reweigh, 3),
      fmt(unchanged, 3),
      `${fmt(scratch / join, 0)}x`,
    ]);
    report.record({
      section: 'ring',
      phase: `changes ${size}`,
      nodes: size,
      tokens: size * VNODES,
      tupleSortMs: tuple,
      scratchMs: scratch,
      joinMs: join,
      leaveMs: leave,
      weightMs: reweigh,
      unchangedMs: unchanged,
    });
  }
  report.table(['nodes', 'tokens', 'before: tuple sort ms', 'from scratch ms', 'join ms', 'leave ms', 'weight 1→2 ms', 'no change ms', 'scratch/join'], rows);
  report.note('p50 over repetitions; join, leave and weight change = ring.withMembers(the new membership) from the previous ring (same ring, token for token)');
  report.note(
    '"before": the build every ring change ran until now (hash every token, sort [token, name] tuples); "no change" = the members listed in another order',
  );
  report.target('ring at 1,000 nodes: build from scratch / a join made from the previous ring', 1 / joinRatioAt1000, '≥', 10);

  // A cold start as the seed sees it.
  const cold = membersOf(1_000);
  let oneByOne = new Ring([cold[0] as RingMember], VNODES);
  const started = process.hrtime.bigint();
  for (let i = 2; i <= cold.length; i++) oneByOne = oneByOne.withMembers(cold.slice(0, i));
  const oneByOneMs = Number(process.hrtime.bigint() - started) / 1e6;
  const refreshes = coldStartRefreshes(1_000);
  report.note(
    `cold start of 1,000 nodes at the seed: 999 joins applied one at a time from the previous ring take ${fmt(oneByOneMs, 0)} ms in all ` +
      `(each from scratch: about 999 × the builds above); with joins arriving over ${refreshes.seconds} s of gossip, RingRefresh ` +
      `recomputes the ring ${refreshes.refreshes} times (${refreshes.changes} changes) instead of 999`,
  );
  report.record({ section: 'ring', phase: 'cold start', nodes: 1_000, oneByOneMs, refreshes: refreshes.refreshes, changes: refreshes.changes });

  // Preference lists.
  const keys = randomKeys(quick ? 20_000 : 100_000, 7);
  const lookups: (string | number)[][] = [];
  for (const size of [100, 1_000, 2_000]) {
    const members = membersOf(size);
    const ring = new Ring(members, VNODES);
    const at = (i: number) => keys[i % keys.length] as Uint8Array;
    const primaries = nsPerCall(keys.length * 2, (i) => ring.primaries(at(i), N));
    const memo = ring.walkMemo();
    const hitRatio = memo.hits / Math.max(1, memo.hits + memo.misses);
    const plans: string[] = [];
    for (const down of [0, 1, 10, Math.round(size / 10)]) {
      const random = new SeededRandom(size + down);
      const downSet = new Set<string>();
      while (downSet.size < down) downSet.add((members[random.int(size)] as RingMember).name);
      const isUp = (name: string) => !downSet.has(name);
      plans.push(
        fmt(
          nsPerCall(keys.length, (i) => planReplicas(ring.preferences(at(i), N), 'coordinator', isUp, 'sloppy', 2, 'w')),
          0,
        ),
      );
    }
    // Every primary down: each needs a stand-in, the walk goes furthest.
    const allDown = (key: Uint8Array) => new Set(ring.primaries(key, N));
    const worst = nsPerCall(Math.min(keys.length, 20_000), (i) => {
      const down = allDown(at(i));
      return planReplicas(ring.preferences(at(i), N), 'coordinator', (name) => !down.has(name), 'sloppy', 2, 'w');
    });
    const wholeCalls = size >= 1_000 ? 300 : 3_000;
    const whole = nsPerCall(wholeCalls, (i) => ring.preferenceList(at(i), N));
    lookups.push([fmt(size), fmt(primaries, 0), `${fmt(hitRatio * 100, 0)} %`, ...plans, fmt(worst, 0), fmt(whole / 1000, 1)]);
    report.record({
      section: 'ring',
      phase: `lookups ${size}`,
      nodes: size,
      primariesNs: primaries,
      memoHitRatio: hitRatio,
      planNs: plans,
      allPrimariesDownNs: worst,
      wholeListUs: whole / 1000,
    });
  }
  report.table(
    [
      'nodes',
      'primaries ns (replica)',
      'memo hits',
      'plan ns (coordinator), 0 down',
      '1 down',
      '10 down',
      '10 % down',
      'all 3 primaries down',
      'whole list µs (before)',
    ],
    lookups,
  );
  report.note(
    `${fmt(keys.length)} random keys (uniform over every arc: the memo's worst case), N=${N}, sloppy W=2; "primaries" = ring.primaries(key), which fills the memo; ` +
      `"plan" = planReplicas over ring.preferences(key), the coordinator's path, which only reads it; "whole list" = every node in ring order, as the coordinator walked it before`,
  );
}

/** Ring recomputations at a seed that hears of `nodes - 1` joins spread over five seconds of gossip. */
function coldStartRefreshes(nodes: number): { seconds: number; refreshes: number; changes: number } {
  const seconds = 5;
  const clock = new VirtualClock(0);
  const member = (i: number) => newMember({ name: `node-${i}`, addr: `10.0.0.1:${i}`, incarnation: 'x', generation: 1, weight: 1 });
  const table = new MemberTable(member(0), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, clock.now());
  const state = new ClusterState({ id: 'bench', settings: { n: 3, w: 2, r: 2, consistency: 'sloppy' } }, table);
  const refresh = new RingRefresh({ state, clock, intervalMs: 200, onChanged: () => {} });
  const step = (seconds * 1000) / (nodes - 1);
  for (let i = 1; i < nodes; i++) {
    if (table.merge([member(i)], clock.now()).ringChanged) refresh.request();
    clock.advance(step);
  }
  clock.advance(1000);
  if (state.ring.size !== nodes) throw new Error(`the seed's ring has ${state.ring.size} members, not ${nodes}`);
  return { seconds, refreshes: refresh.refreshes, changes: refresh.changes };
}
