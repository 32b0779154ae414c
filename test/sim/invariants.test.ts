/**
 * The simulator's invariant checks (src/sim/invariants.ts) and the client's ledger of owed values
 * (src/sim/ack-ledger.ts), each fed by hand: a check that could not fail would prove nothing.
 */
import t from 'tap';
import type { VersionVector } from '../../src/clock/index.js';
import { VirtualClock } from '../../src/env/clock.js';
import { AckLedger, InvariantChecker, SimCluster, type SimNode } from '../../src/sim/index.js';
import { CODEC_RAW } from '../../src/storage/codec.js';
import { encodeRecord } from '../../src/storage/record-format.js';

/** A stored record: clock entries and siblings as [actor, counter, value]. */
function record(clock: [string, number][], siblings: [string, number, string][]): Buffer {
  return encodeRecord({
    clock: new Map(clock) as VersionVector,
    siblings: siblings.map(([actor, counter, value]) => ({
      dot: [actor, counter] as const,
      ts: counter,
      value: { codec: CODEC_RAW, stored: Buffer.from(value), raw: Buffer.from(value) },
    })),
  });
}

t.test('the ledger: what accounts for an acknowledged value', async (t) => {
  const ledger = new AckLedger();
  const a = ledger.issue('k', 'a', [], 0);
  ledger.settle(a, true, 1);
  t.same(ledger.lost('k', new Set(['a'])), [], 'present');
  t.same(
    ledger.lost('k', new Set()).map((w) => w.value),
    ['a'],
    'absent, nothing replaced it: lost',
  );
  const b = ledger.issue('k', 'b', ['a'], 2);
  ledger.settle(b, false, 3);
  t.same(
    ledger.lost('k', new Set()).map((w) => w.value),
    ['a'],
    'a failed write that saw it does not account for it while absent',
  );
  t.same(ledger.lost('k', new Set(['b'])), [], 'but does once present: it landed and replaced it');
  const c = ledger.issue('k', 'c', ['b'], 4);
  ledger.settle(c, true, 5);
  t.same(ledger.lost('k', new Set(['c'])), [], 'an acknowledged successor accounts for it, through the failed one');
  t.same(ledger.takeAcked(), new Set(['k']), 'keys with new acknowledgements');
  t.same(ledger.takeAcked(), new Set(), 'taken once');

  const p1 = ledger.issue('p', 'p1', 'plain', 10);
  ledger.settle(p1, true, 11);
  const p2 = ledger.issue('p', 'p2', 'plain', 20);
  ledger.settle(p2, true, 21);
  t.same(ledger.lost('p', new Set(['p2'])), [], 'a later plain write replaces an earlier one');
  t.same(
    ledger.lost('p', new Set(['p1'])).map((w) => w.value),
    ['p2'],
    'an earlier acknowledged one cannot replace a later one',
  );
  const p3 = ledger.issue('p', 'p3', 'plain', 5);
  ledger.settle(p3, false, 6);
  t.same(ledger.lost('p', new Set(['p3'])), [], 'a failed one may land at any time after it was issued');
});

t.test('siblings-concurrent: a record holding a version and its successor', async (t) => {
  const checker = new InvariantChecker(new VirtualClock(0), undefined);
  const disk = checker.listen('node1');
  checker.listen('node2');
  disk('dk', record([['node1~x', 1]], [['node1~x', 1, 'v1']]));
  disk('dk', record([['node1~x', 2]], [['node1~x', 2, 'v2']]));
  t.same(checker.violations, [], 'a write replacing the one before');
  disk(
    'dk',
    record(
      [['node1~x', 2]],
      [
        ['node1~x', 1, 'v1'],
        ['node1~x', 2, 'v2'],
      ],
    ),
  );
  t.match(checker.violations, [{ invariant: 'siblings-concurrent', detail: /holds node1~x:2 and node1~x:1, which node1~x:2 replaced/ }]);
  checker.violations.length = 0;
  disk(
    'dk',
    record(
      [['node1~x', 3]],
      [
        ['node1~x', 2, 'v2'],
        ['node1~x', 3, 'v3'],
      ],
    ),
  );
  t.same(checker.violations, [], 'a sibling written beside what was there (keepSiblings) is concurrent with it');
});

t.test('dot-unique: a dot minted again after a power loss', async (t) => {
  const checker = new InvariantChecker(new VirtualClock(0), undefined);
  const node1 = checker.listen('node1');
  const node2 = checker.listen('node2');
  node1('dk', record([['node1~x', 1]], [['node1~x', 1, 'lost before it left']]));
  node1('dk', undefined);
  node1('dk', record([['node1~x', 1]], [['node1~x', 1, 'again']]));
  t.same(checker.violations, [], 'harmless when no other disk had seen the first');
  node2('dk', record([['node1~x', 1]], [['node1~x', 1, 'again']]));
  node1('dk', undefined);
  node1('dk', record([['node1~x', 1]], [['node1~x', 1, 'a third value']]));
  t.match(checker.violations, [{ invariant: 'dot-unique', detail: /dot node1~x:1 of "k" names two values: again and, at node1, a third value/ }]);
});

t.test('ring-converged: checked at quiet points, and a node with another placement is reported', async (t) => {
  const sim = new SimCluster({ seed: 1, nodes: 3, settings: { n: 3, w: 2, r: 2, consistency: 'strict' }, checkEveryStep: true });
  await sim.start();
  await sim.run(7000, 20);
  t.same(sim.violations, [], 'three nodes agree once quiet');
  const [, node2] = sim.nodes as [SimNode, SimNode, SimNode];
  node2.built.state.adoptSettings({ ...node2.built.state.settings, n: 2 }, 1); // as if gossip had not reached the others
  sim.checkStep();
  t.match(sim.violations, [{ invariant: 'ring-converged', detail: /node1=(\w+) node2=(?!\1)\w+ node3=\1/ }]);
  sim.stop();
});
