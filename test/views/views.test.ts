/**
 * The members and ring views: plain text is stable and aligned; the ink view renders the same
 * rows (asserted on the rendered frame); --json data feeds both.
 */
import { renderToString } from 'ink';
import { createElement } from 'react';
import t from 'tap';
import { TableView } from '../../src/views/table-view.js';
import {
  answers,
  copiesWarning,
  type MembersSnapshot,
  memberColumns,
  memberRows,
  memberState,
  membersTitle,
  membersWarnings,
  plainTable,
  type RingSnapshot,
  ringColumns,
  ringRows,
  ringTitle,
  ringWarnings,
} from '../../src/views/tables.js';

const members: MembersSnapshot = {
  self: 'node1',
  cluster: { id: 'abc', n: 3, w: 2, r: 2, consistency: 'strict' },
  members: [
    {
      name: 'node1',
      addr: '127.0.0.1:7070',
      status: 'up',
      health: 'alive',
      heartbeatAgeMs: 0,
      incarnation: 'aa',
      generation: 1,
      keys: 10,
      handoffPending: 0,
      hintBacklog: 0,
      weight: 1,
    },
    {
      name: 'node2',
      addr: '127.0.0.1:7071',
      status: 'up',
      health: 'down',
      heartbeatAgeMs: 4200,
      incarnation: 'bb',
      generation: 1,
      keys: 9,
      handoffPending: 0,
      hintBacklog: 3,
      weight: 2,
    },
    {
      name: 'node3',
      addr: '127.0.0.1:7072',
      status: 'leaving',
      health: 'alive',
      heartbeatAgeMs: 120,
      incarnation: 'cc',
      generation: 1,
      keys: 4,
      handoffPending: 4,
      hintBacklog: 0,
      weight: 1,
    },
  ],
};

const ring: RingSnapshot = {
  n: 3,
  vnodesPerWeight: 64,
  transferring: true,
  nodes: [
    { name: 'node1', addr: 'a', status: 'up', weight: 1, vnodes: 64, ownership: 1, previousOwnership: 0.75, handoffPending: 0 },
    { name: 'node2', addr: 'b', status: 'up', weight: 1, vnodes: 64, ownership: 1, previousOwnership: 0.75, handoffPending: 2 },
  ],
  preferenceList: [
    { name: 'node2', role: 'primary' },
    { name: 'node1', role: 'primary' },
  ],
};

t.test('members rows: one state word per node, the viewer marked', async (t) => {
  const rows = memberRows(members);
  t.same(
    rows.map((r) => [r[0], r[1], r[3], r[8]]),
    [
      ['node1*', 'up', '-', '0'],
      ['node2', 'down', '4.2 s', '3'],
      ['node3', 'leaving', '120 ms', '0'],
    ],
  );
  const text = plainTable(memberColumns, rows);
  const lines = text.split('\n');
  t.match(lines[0], /^NODE\s+STATE\s+ADDRESS\s+HEARTBEAT AGE\s+INCARNATION\s+WEIGHT\s+KEYS\s+HANDOFF\s+HINTS$/);
  t.equal(lines[2]?.indexOf('127.0.0.1:7071'), lines[0]?.indexOf('ADDRESS'), 'columns aligned');
  t.match(membersTitle(members), 'N=3 W=2 R=2 strict');
});

t.test('ring rows show ownership now and after handoff', async (t) => {
  t.same(ringRows(ring)[1], ['node2', 'up', '1', '64', '75.0%', '100.0%', '2']);
  t.match(ringTitle(ring), 'handoff in progress');
  t.equal(ringColumns.length, ringRows(ring)[0]?.length);
});

t.test('the ink view renders the same table', async (t) => {
  const frame = renderToString(createElement(TableView, { title: membersTitle(members), columns: memberColumns, rows: memberRows(members), stateColumn: 1 }), {
    columns: 200,
  });
  t.match(frame, 'cluster abc');
  t.match(frame, /node2\s+down\s+127\.0\.0\.1:7071/);
  t.match(frame, /node3\s+leaving/);
});

t.test('fewer nodes than N: the copies each key really gets, said plainly', async (t) => {
  const cases: [number, number, number | undefined, string | undefined][] = [
    [3, 1, undefined, 'N=3 but 1 node: 1 copy per key'],
    [3, 2, undefined, 'N=3 but 2 nodes: 2 copies per key'],
    [3, 3, undefined, undefined],
    [1, 1, undefined, undefined],
    [2, 5, undefined, undefined],
    [3, 2, 1, 'N=3 but 2 nodes: 1 copy per key'],
    [3, 1, 3, undefined],
  ];
  for (const [n, nodes, copies, text] of cases) t.equal(copiesWarning(n, nodes, copies), text, `N=${n}, ${nodes} nodes, copiesPerKey ${copies}`);
});

t.test("members warnings count the nodes not left, or take the daemon's copiesPerKey", async (t) => {
  // node3 is leaving (still in the ring): three nodes for N=3, no warning.
  t.same(membersWarnings(members), []);
  const oneLeft = { ...members, members: members.members.map((m) => (m.name === 'node3' ? { ...m, status: 'left' as const } : m)) };
  t.same(membersWarnings(oneLeft), ['N=3 but 2 nodes: 2 copies per key']);
  t.same(membersWarnings({ ...oneLeft, cluster: { ...oneLeft.cluster, copiesPerKey: 1 } }), ['N=3 but 2 nodes: 1 copy per key'], 'the daemon knows best');
  t.same(membersWarnings({ ...members, members: [members.members[0]!] }), ['N=3 but 1 node: 1 copy per key']);
});

t.test('a degraded member: its own state word, a warning with the cause, still one that answers', async (t) => {
  const cause = 'IO error: /data/db/000005.ldb: No space left on device';
  const degraded = { ...members, members: members.members.map((m) => (m.name === 'node1' ? { ...m, degraded: cause } : m)) };
  t.equal(memberRows(degraded)[0]?.[1], 'degraded', 'STATE says degraded');
  t.same(membersWarnings(degraded), [`node1 is degraded (${cause}): it refuses writes until its storage recovers, and still serves reads`]);
  t.ok(answers(degraded.members[0]!), 'a --watch may still poll it');
  const base = degraded.members[0]!;
  t.equal(memberState({ ...base, health: 'down' }), 'down', 'down wins: what it last said is stale');
  t.notOk(answers({ ...base, health: 'down' }));
  t.equal(memberState({ ...base, status: 'leaving' }), 'leaving');
  t.equal(memberState({ ...base, degraded: undefined }), 'up');
  const frame = renderToString(
    createElement(TableView, { title: membersTitle(degraded), columns: memberColumns, rows: memberRows(degraded), stateColumn: 1 }),
    {
      columns: 200,
    },
  );
  t.match(frame, /node1\*\s+degraded/);
});

t.test('ring warnings count the nodes holding vnodes', async (t) => {
  t.same(ringWarnings(ring), ['N=3 but 2 nodes: 2 copies per key']);
  t.same(ringWarnings({ ...ring, n: 2 }), []);
  t.match(ringTitle({ ...ring, nodes: [ring.nodes[0]!] }), /^ring: 1 node, N=3/);
});
