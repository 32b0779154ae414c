/**
 * The scan merge, pure: a driver plays the nodes (each a sorted list of records, served a page at
 * a time, answers coming back in a seeded random order) and checks what the merge yields: every
 * key once, in order, merged as a read merges, tombstones hidden, R counted per key, failures and
 * down nodes as strict and sloppy reads treat them, cursors, and that it never reads ahead.
 */
import t from 'tap';
import { applyWrite, type CausalRecord, emptyRecord, emptyVector } from '../../src/clock/index.js';
import type { Consistency } from '../../src/config.js';
import type { KvError } from '../../src/errors.js';
import { type KeyRange, scanRange } from '../../src/protocol/scan.js';
import { mergeScanned, type PageAsk, ScanMerge } from '../../src/quorum/scan-merge.js';
import { seededRandom } from '../helpers/random.js';

type Rec = CausalRecord<string>;
const k = (text: string) => Buffer.from(text);
const write = (actor: string, value: string | null, base: Rec = emptyRecord<string>()) => applyWrite(base, base.clock, actor, value, 1);
/** The scan's clock: deadlines are compared with it (records written at time 1 never expire). */
const NOW = 1_800_000_000_000;

interface Script {
  /** Each node's records, any order (sorted by the driver). */
  data: Record<string, [string, Rec][]>;
  /** Each key's replicas; keys not listed have every node. */
  replicas?: Record<string, string[]>;
  /** Replica sets a key may have, for `covered` (default: every node). */
  arcs?: string[][];
  down?: string[];
  /** A node fails its n-th page request (0-based). */
  failAt?: Record<string, number>;
  r?: number;
  mode?: Consistency;
  after?: string;
  range?: KeyRange;
  pageKeys?: number;
  seed?: number;
}

interface Outcome {
  keys: { key: string; values: (string | null)[]; answered: string[]; maybeStale: boolean }[];
  /** Keys the merge yielded with no live value (hidden by the scan). */
  hidden: string[];
  error: KvError | undefined;
  asks: number;
  /** Asks made before the first key was yielded. */
  asksBeforeFirstKey: number | undefined;
  /** Asks made before each key (live or not) was yielded, by its index. */
  asksByKeysYielded: number[];
}

function run(script: Script): Outcome {
  const nodes = Object.keys(script.data);
  const rng = seededRandom(script.seed ?? 1);
  const sorted = Object.fromEntries(nodes.map((n) => [n, [...(script.data[n] ?? [])].sort(([a], [b]) => Buffer.compare(k(a), k(b)))]));
  const range = script.range ?? { start: Buffer.alloc(0), end: undefined };
  const r = script.r ?? 2;
  const arcs = script.arcs ?? [nodes];
  const merge = new ScanMerge<Rec>({
    nodes,
    down: new Set(script.down ?? []),
    range,
    after: script.after === undefined ? undefined : k(script.after),
    replicasOf: (key) => script.replicas?.[key.toString()] ?? nodes,
    covered: (answering) => arcs.every((arc) => arc.filter((n) => answering.has(n)).length >= r),
    r,
    mode: script.mode ?? 'strict',
  });
  const pageKeys = script.pageKeys ?? 2;
  const outstanding: PageAsk[] = [];
  const pagesAsked = new Map<string, number>();
  const out: Outcome = { keys: [], hidden: [], error: undefined, asks: 0, asksBeforeFirstKey: undefined, asksByKeysYielded: [] };
  const answer = (ask: PageAsk) => {
    const n = pagesAsked.get(ask.node) ?? 0;
    pagesAsked.set(ask.node, n + 1);
    if (script.failAt?.[ask.node] === n) {
      merge.failed(ask.node, 'KV_UNREACHABLE');
      return;
    }
    const rows = (sorted[ask.node] ?? []).filter(([key]) => {
      const c = Buffer.compare(k(key), ask.from);
      return (c > 0 || (c === 0 && ask.inclusive)) && (range.end === undefined || Buffer.compare(k(key), range.end) < 0);
    });
    merge.page(
      ask.node,
      rows.slice(0, pageKeys).map(([key, record]) => ({ key: k(key), record })),
      rows.length <= pageKeys,
    );
  };
  for (let steps = 0; steps < 100_000; steps++) {
    const step = merge.next();
    if (step.kind === 'fetch') {
      for (const ask of step.asks) {
        if (outstanding.some((o) => o.node === ask.node)) throw new Error(`${ask.node} asked twice at once`);
        outstanding.push(ask);
        out.asks++;
      }
      continue;
    }
    if (step.kind === 'wait') {
      const [ask] = outstanding.splice(Math.floor(rng() * outstanding.length), 1);
      if (!ask) throw new Error('waits with nothing in flight');
      answer(ask);
      continue;
    }
    if (step.kind === 'done') return out;
    if (step.kind === 'failed') {
      out.error = step.error;
      return out;
    }
    out.asksBeforeFirstKey ??= out.asks;
    out.asksByKeysYielded.push(out.asks);
    const merged = mergeScanned(step.records, NOW);
    if (!merged) out.hidden.push(step.key.toString());
    else out.keys.push({ key: step.key.toString(), values: merged.record.siblings.map((s) => s.value), answered: step.answered, maybeStale: step.maybeStale });
  }
  throw new Error('the merge did not finish');
}

const everywhere = (rows: [string, Rec][]) => ({ a: rows, b: rows, c: rows });

t.test('each key once, in order, whatever the page size and the order answers come in', async (t) => {
  const rows: [string, Rec][] = ['k05', 'k01', 'k03', 'k02', 'k04', 'k10'].map((key) => [key, write('a', `v-${key}`)]);
  for (const pageKeys of [1, 2, 3, 100]) {
    for (const seed of [1, 2, 3]) {
      const out = run({ data: everywhere(rows), pageKeys, seed });
      t.same(
        out.keys.map((x) => x.key),
        ['k01', 'k02', 'k03', 'k04', 'k05', 'k10'],
        `page ${pageKeys}, seed ${seed}`,
      );
      t.ok(
        out.keys.every((x) => x.answered.length === 3 && !x.maybeStale),
        'every replica answered every key',
      );
    }
  }
  // Keys held by some nodes only are yielded once too, answered by the replicas whose streams passed them.
  const out = run({ data: { a: [['x', write('a', '1')]], b: [['y', write('b', '2')]], c: [] }, r: 1 });
  t.same(
    out.keys.map((x) => [x.key, x.answered]),
    [
      ['x', ['a', 'b', 'c']],
      ['y', ['a', 'b', 'c']],
    ],
  );
});

t.test('records merge as a read merges them: a newer version wins, concurrent ones stay siblings, tombstones hide a key', async (t) => {
  const v1 = write('a', 'one');
  const v2 = write('b', 'two', v1);
  const concurrent = write('c', 'three', v1);
  const deleted = write('b', null, v1);
  const deletedConcurrently = write('c', null, v1);
  const out = run({
    data: {
      a: [
        ['newer', v1],
        ['siblings', v2],
        ['gone', v1],
        ['half', v2],
      ],
      b: [
        ['newer', v2],
        ['siblings', concurrent],
        ['gone', deleted],
        ['half', v2],
      ],
      c: [['half', deletedConcurrently]],
    },
  });
  t.same(
    out.keys.map((x) => [x.key, x.values]),
    [
      ['half', ['two', null]],
      ['newer', ['two']],
      ['siblings', ['two', 'three']],
    ],
    'the merged records; a live value concurrent with a delete stays',
  );
  t.same(out.hidden, ['gone'], 'a key deleted on every replica is hidden');
  t.equal(mergeScanned<string>([], NOW), undefined, 'no record: nothing to show');
  t.equal(mergeScanned([deleted], NOW), undefined, 'only a tombstone: nothing to show');
});

t.test('expired values are hidden as a get hides them, from their deadline on', async (t) => {
  const expiring = applyWrite(emptyRecord<string>(), emptyVector, 'a', 'soon', NOW - 10, NOW + 5);
  const both = applyWrite(expiring, emptyVector, 'b', 'stays', NOW - 5);
  t.same(
    mergeScanned([expiring], NOW + 4)?.visible.map((s) => s.value),
    ['soon'],
    'before its deadline',
  );
  t.equal(mergeScanned([expiring], NOW + 5), undefined, 'from its deadline: hidden');
  const shown = mergeScanned([both, expiring], NOW + 5);
  t.same(
    shown?.visible.map((s) => s.value),
    ['stays'],
    'a live sibling stays; the expired one is not shown',
  );
  t.equal(shown?.record.siblings.length, 2, 'the merged record (and so its context) still covers the expired version');
});

t.test('records from nodes that are not among the key’s replicas are not used', async (t) => {
  const old = write('a', 'old');
  const out = run({ data: { a: [['k', write('b', 'new')]], b: [['k', write('b', 'new')]], c: [['k', old]] }, replicas: { k: ['a', 'b'] } });
  t.same(
    out.keys.map((x) => [x.key, x.values, x.answered]),
    [['k', ['new'], ['a', 'b']]],
  );
  const stale = run({ data: { a: [], b: [], c: [['leftover', old]] }, replicas: { leftover: ['a', 'b'] } });
  t.same(stale.keys, [], 'a key only a former owner holds is not shown');
});

t.test('strict: a node failing mid-scan stops the scan where fewer than R replicas would remain', async (t) => {
  const rows: [string, Rec][] = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((key) => [key, write('a', key)]);
  const failing = run({ data: everywhere(rows), failAt: { c: 1 }, r: 3, pageKeys: 2 });
  t.same(
    failing.keys.map((x) => x.key),
    ['k1', 'k2'],
    'the keys its first page covered are yielded',
  );
  t.equal(failing.error?.code, 'KV_QUORUM_NOT_MET');
  t.match(failing.error?.details, { needed: 3, missing: ['c'], failures: { c: 'KV_UNREACHABLE' } });
  const enough = run({ data: everywhere(rows), failAt: { c: 1 }, r: 2, pageKeys: 2 });
  t.equal(enough.error, undefined, 'R=2 of 3: the scan goes on');
  t.same(
    enough.keys.map((x) => [x.key, x.answered.length]),
    rows.map(([key], i) => [key, i < 2 ? 3 : 2]),
    'keys past its last page are answered by the two others',
  );
  // Two nodes down of five, adjacent on the ring: some keys keep one replica of three.
  const five = { a: rows, b: rows, c: rows, d: rows, e: rows };
  const arcs = [
    ['a', 'b', 'c'],
    ['b', 'c', 'd'],
    ['c', 'd', 'e'],
    ['d', 'e', 'a'],
    ['e', 'a', 'b'],
  ];
  const replicas = Object.fromEntries(rows.map(([key], i) => [key, arcs[i % arcs.length] as string[]]));
  const unseen = run({ data: five, replicas, arcs, failAt: { c: 0, d: 0 }, r: 2 });
  t.equal(unseen.error?.code, 'KV_QUORUM_NOT_MET', 'keys only c and d might hold could be missing: the scan fails before yielding anything past them');
  t.same(unseen.keys, []);
});

t.test('nodes down at the start: strict fails at once as a read would, sloppy marks keys maybeStale', async (t) => {
  const rows: [string, Rec][] = [
    ['k1', write('a', '1')],
    ['k2', write('a', '2')],
  ];
  const strict = run({ data: everywhere(rows), down: ['c'], r: 3 });
  t.equal(strict.error?.code, 'KV_QUORUM_UNAVAILABLE');
  t.same(strict.keys, []);
  t.equal(strict.asksBeforeFirstKey, undefined);
  const strictR2 = run({ data: everywhere(rows), down: ['c'], r: 2 });
  t.same(
    strictR2.keys.map((x) => [x.key, x.answered, x.maybeStale]),
    [
      ['k1', ['a', 'b'], false],
      ['k2', ['a', 'b'], false],
    ],
    'R=2 with one of three down',
  );
  const sloppy = run({ data: everywhere(rows), down: ['b', 'c'], r: 2, mode: 'sloppy' });
  t.equal(sloppy.error, undefined);
  t.same(
    sloppy.keys.map((x) => [x.key, x.answered, x.maybeStale]),
    [
      ['k1', ['a'], true],
      ['k2', ['a'], true],
    ],
  );
  const allDown = run({ data: everywhere(rows), down: ['a', 'b', 'c'], r: 1, mode: 'sloppy' });
  t.same([allDown.keys, allDown.error, allDown.asks], [[], undefined, 0], 'sloppy with every node down: nothing, and nothing asked');
});

t.test('a cursor resumes strictly after its key; a range bounds the keys', async (t) => {
  const rows: [string, Rec][] = ['a1', 'b1', 'b2', 'b3', 'c1'].map((key) => [key, write('a', key)]);
  t.same(
    run({ data: everywhere(rows), after: 'b1' }).keys.map((x) => x.key),
    ['b2', 'b3', 'c1'],
  );
  const prefix = scanRange(k('b'), undefined, undefined);
  t.same(
    run({ data: everywhere(rows), range: prefix }).keys.map((x) => x.key),
    ['b1', 'b2', 'b3'],
  );
  t.same(
    run({ data: everywhere(rows), range: prefix, after: 'b2' }).keys.map((x) => x.key),
    ['b3'],
  );
  t.same(run({ data: everywhere(rows), after: 'c1' }).keys, [], 'after the last key: nothing');
});

t.test('at most one page ahead: the first key needs one page from each node, and the next is asked once half of one is left', async (t) => {
  const rows: [string, Rec][] = Array.from({ length: 50 }, (_, i) => [`k${String(i).padStart(2, '0')}`, write('a', String(i))]);
  const out = run({ data: everywhere(rows), pageKeys: 10 });
  t.equal(out.asksBeforeFirstKey, 3, 'one page from each of the three nodes before the first key');
  t.equal(out.asks, 3 * 5, 'then a page per node each ten keys (the fifth page of each ends the range)');
  t.equal(out.keys.length, 50);
  t.same(out.asksByKeysYielded.slice(0, 3), [3, 3, 3], 'no page asked ahead while more than half of each is left');
  t.same(out.asksByKeysYielded.slice(5, 7), [3, 6], 'once less than half of the first pages is left, the next ones are asked for');
  t.ok(
    out.asksByKeysYielded.every((asks, yielded) => asks <= 3 * (Math.floor(yielded / 10) + 2)),
    'never more than two pages ahead of what was yielded, per node',
  );
});

t.test('scanRange: prefix and bounds narrow each other; an empty range is KV_BAD_RANGE', async (t) => {
  t.same(scanRange(k('user:'), undefined, undefined), { start: k('user:'), end: k('user;') });
  t.same(scanRange(k('b'), k('a'), k('bm')), { start: k('b'), end: k('bm') });
  t.same(scanRange(Buffer.from([0x61, 0xff]), undefined, undefined), { start: Buffer.from([0x61, 0xff]), end: k('b') });
  t.same(scanRange(Buffer.from([0xff, 0xff]), undefined, undefined), { start: Buffer.from([0xff, 0xff]), end: undefined });
  t.throws(() => scanRange(undefined, k('b'), k('a')), { code: 'KV_BAD_RANGE' });
  t.throws(() => scanRange(undefined, k('a'), k('a')), { code: 'KV_BAD_RANGE' });
  t.throws(() => scanRange(k('x'), undefined, k('m')), { code: 'KV_BAD_RANGE' });
});
