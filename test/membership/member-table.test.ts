import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import {
  isGone,
  KEYS_REFRESH_MS,
  keysWorthPublishing,
  LEFT_GRACE_MS,
  MAX_CLOCK_SKEW_MS,
  MAX_RING_WEIGHT,
  MAX_TABLE_MEMBERS,
  type MemberInfo,
  MemberTable,
  newMember,
  parseMembers,
  supersedes,
} from '../../src/membership/index.js';
import { MAX_DEGRADED_CHARS } from '../../src/membership/member-wire.js';

const detector = { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 };

function info(name: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { ...newMember({ name, addr: `${name}:7070`, incarnation: `inc-${name}`, generation: 1000, weight: 1 }), heartbeat: 1, ...over };
}

const tableAt = (now = 0) => new MemberTable(info('me'), detector, now);

t.test('merge keeps the higher (generation, heartbeat)', async (t) => {
  const table = tableAt();
  table.merge([info('a', { heartbeat: 5 })], 0);
  const cases: [string, Partial<MemberInfo>, number][] = [
    ['lower heartbeat loses', { heartbeat: 3 }, 5],
    ['equal heartbeat changes nothing', { heartbeat: 5, keys: 99 }, 5],
    ['higher heartbeat wins', { heartbeat: 7 }, 7],
    ['lower generation loses even with a higher heartbeat', { generation: 999, heartbeat: 100 }, 7],
  ];
  for (const [name, over, expected] of cases) {
    table.merge([info('a', over)], 0);
    t.equal(table.get('a')?.heartbeat, expected, name);
  }
  t.equal(table.get('a')?.keys, 0, 'the equal-heartbeat entry did not replace ours');
});

t.test('a restart (higher generation, lower heartbeat) wins, and the old life no longer counts', async (t) => {
  const table = tableAt();
  table.merge([info('a', { generation: 1000, heartbeat: 500 })], 0);
  table.merge([info('a', { generation: 2000, heartbeat: 0 })], 10);
  t.same([table.get('a')?.generation, table.get('a')?.heartbeat], [2000, 0]);
  table.merge([info('a', { generation: 1000, heartbeat: 501 })], 20);
  t.same([table.get('a')?.generation, table.get('a')?.heartbeat], [2000, 0], 'stale gossip from the previous life is ignored');
});

t.test('only a fresh heartbeat refreshes a member', async (t) => {
  const table = tableAt();
  table.merge([info('a', { heartbeat: 5 })], 0);
  t.same(table.merge([info('a', { heartbeat: 5 })], 2000).heard, [], 'hearing the same heartbeat again is not hearing from it');
  t.equal(table.view(2000).find((v) => v.name === 'a')?.heartbeatAgeMs, 2000);
  t.same(table.merge([info('a', { heartbeat: 6 })], 2000).heard, ['a']);
  t.equal(table.view(2000).find((v) => v.name === 'a')?.heartbeatAgeMs, 0);
});

t.test('entries about ourselves are ignored, and one newer than ours is refuted', async (t) => {
  const table = tableAt();
  const older = table.merge([info('me', { generation: 999, heartbeat: 9999, status: 'left', addr: 'elsewhere:1' })], 0);
  t.same(table.me, info('me'), 'an older entry about us changes nothing');
  t.same(older, { ringChanged: false, recovered: [], heard: [], refused: 0 });
  const newer = table.merge([info('me', { generation: 9999, heartbeat: 9999, status: 'left', addr: 'elsewhere:1', weight: 64 })], 0);
  t.same(newer, { ringChanged: false, recovered: [], heard: [], refused: 0 });
  t.same(table.me, info('me', { generation: 10_000, heartbeat: 0 }), 'a newer one: we go on under a generation above it, saying what we said');
  t.same(table.get('me'), table.me);
  t.ok(supersedes(table.tick(0), info('me', { generation: 9999, heartbeat: 9999 })), 'and our next entry wins over it everywhere');
  t.equal(table.health('me', 1_000_000), 'alive', 'we never suspect ourselves');
  const otherLife = tableAt();
  otherLife.merge([info('me', { incarnation: 'another', generation: 9999 })], 0);
  t.same(otherLife.me, info('me'), 'an entry of another incarnation (a wiped data dir) is not ours to refute');
  const implausibleNews = tableAt();
  implausibleNews.merge([info('me', { generation: 2 ** 53 - 1 })], 0);
  t.same(implausibleNews.me, info('me'), 'nor is one no node could have said');
});

t.test('health by probes: alive until unanswered, suspected after 1500 ms unanswered, down 1500 ms later', async (t) => {
  const table = tableAt(0);
  table.merge([info('a'), info('b')], 0);
  t.equal(table.health('a', 60_000), 'alive', 'no news is no suspicion');
  table.probeUnanswered('a', 1000);
  t.equal(table.health('a', 1000), 'alive', 'one unanswered probe is no suspicion yet');
  t.equal(table.isUp('a', 1000), true);
  t.same(table.unanswered(), ['a'], 'to be probed again');
  t.same(table.suspectUnanswered(2499), [], 'not yet told');
  t.same(table.suspectUnanswered(2500), [['a', 1000, 0, 'me']], 'unanswered for 1500 ms: suspected to the cluster');
  t.same(table.suspectUnanswered(2600), [], 'once');
  t.equal(table.health('a', 3999), 'suspect');
  t.equal(table.health('a', 4000), 'down');
  t.equal(table.isUp('a', 4000), false);
  t.same(table.suspicions(), [['a', 1000, 0, 'me']]);
  t.equal(table.probeAnswered('a', 5000), true, 'an answer from a member down: recovered');
  t.equal(table.health('a', 5000), 'alive');
  t.same([table.unanswered(), table.suspicions()], [[], []]);
  table.probeUnanswered('b', 100);
  t.equal(table.probeAnswered('b', 200), false, 'an answer from a member not down is no recovery');
  t.same(table.unanswered(), [], 'and clears it');
  table.probeUnanswered('me', 0);
  table.probeUnanswered('nobody', 0);
  t.same(table.unanswered(), [], 'we never suspect ourselves, nor members we do not know');
  t.equal(table.health('nobody', 0), undefined, 'unknown members have no health');
  t.equal(table.isUp('nobody', 0), false);
  table.merge([info('gone')], 0);
  table.merge([info('gone', { heartbeat: 2, status: 'left' })], 0);
  t.equal(table.health('gone', 0), 'left', 'a member that left is left');
  t.equal(table.isUp('gone', 0), false);
});

t.test('suspicions from peers: taken for the life and refutation held, confirmed by others, cleared by a refutation; ours refuted', async (t) => {
  const table = tableAt(0);
  table.merge([info('a', { heartbeat: 5, version: 4, refuted: 4 }), info('b', { heartbeat: 5, version: 4, refuted: 4 })], 0);
  const { taken, refute } = table.mergeSuspicions(
    [
      ['a', 1000, 4, 'x'],
      ['b', 1000, 3, 'x'],
      ['b', 999, 9, 'x'],
      ['nobody', 1000, 0, 'x'],
    ],
    100,
  );
  t.same(taken, [['a', 1000, 4, 'x']], 'only a suspicion naming the refutation held or a later one, of the life held, of a member known');
  t.equal(refute, false);
  t.same(table.mergeSuspicions([['a', 1000, 4, 'x']], 200).taken, [], 'a suspicion held already is not news');
  t.equal(table.health('a', 100 + 1499), 'suspect');
  t.equal(table.health('a', 100 + 1500), 'down', 'unconfirmed, but in a cluster of 3 (too small to confirm): the shortest suspicion');
  t.same(table.merge([info('a', { heartbeat: 6, version: 6, keys: 9 })], 1600).recovered, [], 'a newer version without a refutation clears nothing');
  t.equal(table.health('a', 1600), 'down');
  const refuted = table.merge([info('a', { heartbeat: 7, version: 7, refuted: 7 })], 1800);
  t.same(refuted.recovered, ['a'], 'a refutation clears the suspicion: recovered');
  t.equal(table.health('a', 1800), 'alive');
  t.same(table.suspicions(), []);
  t.same(table.mergeSuspicions([['a', 1000, 4, 'x']], 1900).taken, [], 'a suspicion of before the refutation is stale');
  t.same(table.mergeSuspicions([['me', 1000, 0, 'x']], 0), { taken: [], refute: true }, 'a suspicion of us, this life: refute it');
  t.same(table.mergeSuspicions([['me', 999, 0, 'x']], 0).refute, false, 'not of an earlier life');
  const before = table.me;
  const after = table.refute();
  t.ok(
    (after.refuted ?? 0) > (before.refuted ?? 0) && after.heartbeat > before.heartbeat && after.version === after.refuted,
    'a new refutation, a new version',
  );
  t.same(table.mergeSuspicions([['me', 1000, before.refuted ?? 0, 'x']], 0).refute, false, 'a suspicion of before our refutation is stale');
  const restarted = tableAt(0);
  restarted.merge([info('a')], 0);
  restarted.mergeSuspicions([['a', 1000, 0, 'x']], 0);
  restarted.merge([info('a', { generation: 2000, heartbeat: 0 })], 5000);
  t.equal(restarted.health('a', 5000), 'alive', 'a new life clears what was held against the old one');
});

t.test('in a larger cluster, a suspicion nobody confirms lasts longest; each confirmation shortens it', async (t) => {
  const members = ['a', 'b', 'c', 'd', 'e'].map((name) => info(name));
  const alone = tableAt(0);
  alone.merge(members, 0);
  alone.mergeSuspicions([['a', 1000, 0, 'b']], 0);
  const confirmed = tableAt(0);
  confirmed.merge(members, 0);
  const taken = confirmed.mergeSuspicions(
    [
      ['a', 1000, 0, 'b'],
      ['a', 1000, 0, 'c'],
      ['a', 1000, 0, 'c'],
      ['a', 1000, 0, 'd'],
      ['a', 1000, 0, 'e'],
    ],
    0,
  ).taken;
  t.same(
    taken.map((s) => s[3]),
    ['b', 'c', 'd'],
    'confirmations from other nodes are news, each once, up to the number that counts',
  );
  t.equal(confirmed.health('a', 1500), 'down', 'two confirmations: the shortest suspicion');
  t.equal(alone.health('a', 1500), 'suspect');
  t.equal(alone.health('a', 6 * 1500 - 1), 'suspect', 'alone: six times as long');
  t.equal(alone.health('a', 6 * 1500), 'down');
});

t.test('merge results: new members, ring-relevant changes, recoveries', async (t) => {
  const table = tableAt();
  t.same(table.merge([info('a'), info('b')], 0), { ringChanged: true, recovered: ['a', 'b'], heard: ['a', 'b'], refused: 0 }, 'new members');
  t.same(table.merge([info('a', { heartbeat: 2, keys: 10 })], 0), { ringChanged: false, recovered: [], heard: ['a'], refused: 0 }, 'a heartbeat and counters');
  t.same(table.merge([info('a', { heartbeat: 3, status: 'leaving' })], 0), { ringChanged: true, recovered: [], heard: ['a'], refused: 0 }, 'status');
  t.same(table.merge([info('a', { heartbeat: 4, status: 'leaving', weight: 2 })], 0), { ringChanged: true, recovered: [], heard: ['a'], refused: 0 }, 'weight');
  t.same(
    table.merge([info('a', { generation: 1001, heartbeat: 0, status: 'leaving', weight: 2, addr: 'new:1' })], 0),
    { ringChanged: true, recovered: [], heard: ['a'], refused: 0 },
    'address (a restart)',
  );
  table.mergeSuspicions([['b', 1000, 0, 'x']], 0);
  t.same(
    table.merge([info('b', { heartbeat: 2, version: 2, refuted: 2 })], 5000),
    { ringChanged: false, recovered: ['b'], heard: ['b'], refused: 0 },
    'a refutation after being down',
  );
  t.equal(table.health('b', 5000), 'alive');
});

t.test('tick bumps our heartbeat and applies what we say of ourselves', async (t) => {
  const table = tableAt();
  const me = table.tick(10, { status: 'leaving', keys: 42 });
  t.same([me.heartbeat, me.status, me.keys], [2, 'leaving', 42]);
  t.equal(table.get('me'), me);
  t.equal(table.tick(20).heartbeat, 3);
  t.equal(table.me.status, 'leaving', 'an update sticks until changed');
});

t.test('ringMembers: status up, whatever the health; leaving and left excluded', async (t) => {
  const table = tableAt();
  table.merge([info('alive'), info('leaving', { status: 'leaving' }), info('left')], 0);
  table.merge([info('left', { heartbeat: 2, status: 'left' })], 0);
  table.merge([info('down'), info('suspect')], -10_000);
  table.mergeSuspicions([['down', 1000, 0, 'x']], -10_000);
  table.mergeSuspicions([['suspect', 1000, 0, 'x']], -1000);
  t.equal(table.health('down', 0), 'down');
  t.equal(table.health('suspect', 0), 'suspect');
  const ring = table
    .ringMembers()
    .map((m) => m.name)
    .sort();
  t.same(ring, ['alive', 'down', 'me', 'suspect']);
  t.same(
    table
      .gossipTargets()
      .map((m) => m.name)
      .sort(),
    ['alive', 'down', 'leaving', 'suspect'],
    'gossip goes to everyone but us and those who left',
  );
  t.same(
    table.view(0).map((v) => [v.name, v.health]),
    [
      ['alive', 'alive'],
      ['down', 'down'],
      ['leaving', 'alive'],
      ['left', 'left'],
      ['me', 'alive'],
      ['suspect', 'suspect'],
    ],
    'view is sorted by name',
  );
  t.same(
    table.view(0).map((v) => v.heartbeatAgeMs),
    [0, 10_000, 0, 0, 0, 10_000],
  );
  t.same(
    table.ringMembers().find((m) => m.name === 'me'),
    { name: 'me', weight: 1 },
    'ring members carry name and weight only',
  );
});

t.test('supersedes: a removal is final for its incarnation; otherwise (generation, heartbeat) decide', async (t) => {
  const held = (over: Partial<MemberInfo>) => info('a', { generation: 1000, heartbeat: 50, ...over });
  const cases: [string, Partial<MemberInfo>, Partial<MemberInfo>, boolean][] = [
    ['higher heartbeat, same life', {}, { heartbeat: 51 }, true],
    ['lower heartbeat, same life', {}, { heartbeat: 49 }, false],
    ['restart (higher generation)', {}, { generation: 2000, heartbeat: 0 }, true],
    ['removal beats the last entry of its incarnation', {}, { status: 'removed' }, true],
    ['removal beats a newer entry of its incarnation', { generation: 2000, heartbeat: 900 }, { status: 'removed' }, true],
    ['removal beats even an older-looking copy of that life', {}, { status: 'removed', heartbeat: 1 }, true],
    ['nothing of a removed incarnation undoes it: more heartbeats', { status: 'removed' }, { heartbeat: 51 }, false],
    ['nothing of a removed incarnation undoes it: a restart', { status: 'removed' }, { generation: 3000, heartbeat: 0 }, false],
    ['nothing of a removed incarnation undoes it: leaving', { status: 'removed' }, { heartbeat: 99, status: 'leaving' }, false],
    ['a second removal changes nothing', { status: 'removed' }, { status: 'removed', heartbeat: 99 }, false],
    ['a new incarnation started later replaces a removed one', { status: 'removed' }, { incarnation: 'new', generation: 5000, heartbeat: 0 }, true],
    ['a removal of an old incarnation loses to a newer one', { incarnation: 'new', generation: 5000 }, { status: 'removed' }, false],
    ['left is not final: the same incarnation may come back', { status: 'left' }, { generation: 2000, heartbeat: 0 }, true],
  ];
  for (const [name, heldOver, incomingOver, expected] of cases) {
    t.equal(supersedes(info('a', { generation: 1000, heartbeat: 50, ...incomingOver }), held(heldOver)), expected, name);
  }
  t.same(
    (['up', 'leaving', 'left', 'removed'] as const).map((s) => isGone(s)),
    [false, false, true, true],
    'left and removed are gone',
  );
});

t.test('remove: the member leaves the ring and gossip, and the dead node cannot undo it', async (t) => {
  const table = tableAt();
  table.merge([info('a', { heartbeat: 5 }), info('dead', { heartbeat: 7 })], 0);
  t.throws(() => table.remove('me'), RangeError, 'never ourselves');
  t.equal(table.remove('nobody'), undefined, 'unknown names');
  const removed = table.remove('dead');
  t.same([removed?.status, removed?.generation, removed?.heartbeat], ['removed', 1000, 7], 'keeps the life it ends');
  t.equal(table.health('dead', 0), 'removed');
  t.equal(table.isUp('dead', 0), false);
  t.same(
    table
      .ringMembers()
      .map((m) => m.name)
      .sort(),
    ['a', 'me'],
  );
  t.same(
    table.gossipTargets().map((m) => m.name),
    ['a'],
  );
  t.same(
    table.merge([info('dead', { heartbeat: 8 })], 10),
    { ringChanged: false, recovered: [], heard: [], refused: 0 },
    'its last gossiped entry, still in flight',
  );
  t.same(
    table.merge([info('dead', { generation: 9000, heartbeat: 0 })], 20),
    { ringChanged: false, recovered: [], heard: [], refused: 0 },
    'its restarted process',
  );
  t.equal(table.get('dead')?.status, 'removed');
  t.equal(table.remove('dead')?.status, 'removed', 'removing twice is harmless');
});

t.test('a removal spreads: it wins over the dead node entry on every other member', async (t) => {
  const remover = tableAt();
  const other = new MemberTable(info('other'), detector, 0);
  remover.merge([info('dead', { heartbeat: 7 })], 0);
  other.merge([info('me'), info('dead', { heartbeat: 9 })], 0); // heard a later heartbeat than the remover did
  remover.remove('dead');
  const result = other.merge(remover.infos(), 100);
  t.same(result, { ringChanged: true, recovered: [], heard: [], refused: 0 }, 'the ring changes; a removal is no sign of life');
  t.equal(other.get('dead')?.status, 'removed');
  t.same(
    other
      .ringMembers()
      .map((m) => m.name)
      .sort(),
    ['me', 'other'],
  );
  const late = new MemberTable(info('late'), detector, 0);
  t.same(late.merge(remover.infos(), 0).recovered, ['me'], 'a member first known as removed is not reported as recovered');
  t.equal(late.health('dead', 0), 'removed');
});

t.test('a node that hears it was removed takes it on and stays removed', async (t) => {
  const dead = new MemberTable(info('dead'), detector, 0);
  const remover = tableAt();
  remover.merge([info('dead')], 0);
  remover.remove('dead');
  t.same(dead.merge(remover.infos(), 10), { ringChanged: true, recovered: ['me'], heard: ['me'], refused: 0, removedSelf: true });
  t.equal(dead.me.status, 'removed');
  t.notOk(
    dead.ringMembers().some((m) => m.name === 'dead'),
    'off its own ring',
  );
  t.equal(dead.tick(20, { status: 'up', keys: 3 }).status, 'removed', 'a tick cannot bring it back');
  t.equal(dead.me.keys, 3, 'counters still update');
  t.same(dead.merge(remover.infos(), 30), { ringChanged: false, recovered: [], heard: [], refused: 0 }, 'reported once');
  const reborn = new MemberTable(info('dead', { incarnation: 'wiped', generation: 5000 }), detector, 0);
  t.same(reborn.merge(remover.infos(), 0).removedSelf, undefined, 'the removal of an old incarnation is not about a new one');
  t.equal(reborn.me.status, 'up');
  remover.merge([reborn.me], 0);
  t.same([remover.get('dead')?.status, remover.get('dead')?.incarnation], ['up', 'wiped'], 'the new incarnation joins as a new node');
});

t.test('parseMembers accepts well-formed entries', async (t) => {
  const wire = JSON.parse(JSON.stringify([info('a'), info('b', { handoffRing: '0a1b2c3d', status: 'leaving', weight: 0.5 })])) as unknown;
  const parsed = parseMembers(wire);
  t.same(parsed, [info('a'), info('b', { handoffRing: '0a1b2c3d', status: 'leaving', weight: 0.5 })]);
  t.not(Object.keys(parsed[0] ?? {}).length, 0);
  t.same(parseMembers([]), []);
  const extra = parseMembers([{ ...info('a'), evil: true, __proto__: { polluted: 1 } }])[0] as unknown as Record<string, unknown>;
  t.notOk('evil' in extra, 'unknown fields are dropped');
  t.equal(extra.polluted, undefined);
});

t.test('parseMembers rejects malformed entries', async (t) => {
  const bad: [string, unknown][] = [
    ['not an array', { a: 1 }],
    ['a string', 'members'],
    ['null', null],
    ['too many entries', Array.from({ length: 10_001 }, (_, i) => info(`n${i}`))],
    ['a null entry', [null]],
    ['a number entry', [7]],
    ['missing name', [{ ...info('a'), name: undefined }]],
    ['numeric name', [{ ...info('a'), name: 5 }]],
    ['an empty name', [{ ...info('a'), name: '' }]],
    ['a name of 257 characters', [{ ...info('a'), name: 'n'.repeat(257) }]],
    ['an address of 263 characters', [{ ...info('a'), addr: `${'h'.repeat(258)}:7070` }]],
    ['an incarnation of 65 characters', [{ ...info('a'), incarnation: 'i'.repeat(65) }]],
    ['a handoff ring id of 65 characters', [{ ...info('a'), handoffRing: 'r'.repeat(65) }]],
    ['missing addr', [{ ...info('a'), addr: undefined }]],
    ['numeric incarnation', [{ ...info('a'), incarnation: 1 }]],
    ['fractional generation', [{ ...info('a'), generation: 1.5 }]],
    ['string heartbeat', [{ ...info('a'), heartbeat: '3' }]],
    ['unsafe heartbeat', [{ ...info('a'), heartbeat: 2 ** 60 }]],
    ['weight 0', [{ ...info('a'), weight: 0 }]],
    ['negative weight', [{ ...info('a'), weight: -1 }]],
    ['string weight', [{ ...info('a'), weight: '1' }]],
    ['health as status', [{ ...info('a'), status: 'down' }]],
    ['unknown status', [{ ...info('a'), status: 'gone' }]],
    ['missing status', [{ ...info('a'), status: undefined }]],
    ['keys NaN', [{ ...info('a'), keys: Number.NaN }]],
    ['handoffPending missing', [{ ...info('a'), handoffPending: undefined }]],
    ['hintBacklog float', [{ ...info('a'), hintBacklog: 0.5 }]],
    ['numeric handoffRing', [{ ...info('a'), handoffRing: 12 }]],
    [`a degraded cause of ${MAX_DEGRADED_CHARS + 1} characters`, [{ ...info('a'), degraded: 'd'.repeat(MAX_DEGRADED_CHARS + 1) }]],
    ['an empty degraded cause', [{ ...info('a'), degraded: '' }]],
    ['a degraded cause with a newline', [{ ...info('a'), degraded: 'disk\nfull' }]],
    ['a degraded cause beyond ASCII (more bytes than characters)', [{ ...info('a'), degraded: '\u2028'.repeat(10) }]],
    ['a numeric degraded cause', [{ ...info('a'), degraded: 28 }]],
    ['one bad among good', [info('a'), { ...info('b'), status: 'gone' }]],
  ];
  for (const [name, raw] of bad) {
    t.throws(() => parseMembers(raw), { code: 'KV_BAD_REQUEST' }, name);
  }
});

t.test('a degraded member: its cause travels in gossip, bounded; it is up, but not for writes', async (t) => {
  const cause = 'IO error: /data/db/000005.ldb: No space left on device';
  const wire = JSON.parse(JSON.stringify([info('a', { degraded: cause }), info('b')])) as unknown;
  const parsed = parseMembers(wire);
  t.equal(parsed[0]?.degraded, cause, 'carried as said');
  t.notOk('degraded' in (parsed[1] ?? {}), 'absent while the member is up');
  t.equal(parseMembers([info('a', { degraded: 'd'.repeat(MAX_DEGRADED_CHARS) })])[0]?.degraded?.length, MAX_DEGRADED_CHARS, 'the bound itself is taken');

  // With every other field at its bound, a full table of degraded members still fits a line.
  const widest = {
    ...info('n'.repeat(256), { addr: `${'h'.repeat(256)}:65535`, incarnation: 'i'.repeat(64), handoffRing: 'r'.repeat(64), status: 'removed' }),
    generation: -(2 ** 53 - 1),
    heartbeat: -(2 ** 53 - 1),
    keys: -(2 ** 53 - 1),
    handoffPending: -(2 ** 53 - 1),
    hintBacklog: -(2 ** 53 - 1),
    weight: 63.99999999999999,
    degraded: 'd'.repeat(MAX_DEGRADED_CHARS),
  };
  const tableBytes = (JSON.stringify(widest).length + 1) * MAX_TABLE_MEMBERS;
  t.ok(tableBytes < defaultLimits.maxLineBytes - 16 * 1024, `${tableBytes} bytes for a full table, under the line limit with room for the message`);

  const now = 10_000;
  const table = new MemberTable(info('me', { generation: 1 }), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, now);
  table.merge([info('a', { generation: 1, heartbeat: 1, degraded: cause }), info('b', { generation: 1, heartbeat: 1 })], now);
  t.ok(table.isUp('a', now), 'a degraded member is up: it answers reads');
  t.notOk(table.acceptsWrites('a', now), 'but does not take writes');
  t.ok(table.acceptsWrites('b', now));
  t.equal(table.view(now).find((m) => m.name === 'a')?.degraded, cause, 'the view shows why');
  const merged = table.merge([info('a', { generation: 1, heartbeat: 2 })], now + 100);
  t.equal(merged.ringChanged, false, 'recovering does not move the ring');
  t.ok(table.acceptsWrites('a', now + 100), 'once it says it is up again, it takes writes');
  table.mergeSuspicions([['a', 1, 0, 'x']], now + 200);
  t.notOk(table.acceptsWrites('a', now + 200 + 1500), 'a member down takes none');
  table.tick(now, { degraded: cause });
  t.equal(table.me.degraded, cause, 'a node says it is degraded on its next tick');
  table.tick(now, { degraded: undefined });
  t.equal(table.me.degraded, undefined, 'and stops saying it');
});

// BUG (src/membership/member-wire.ts): parseMembers accepts any positive weight from a peer. The
// ring gives each member round(64 × weight) vnodes, so one gossiped entry with weight 1e9 makes
// every node that merges it try to build 6.4e10 tokens (ClusterState.refreshRing -> new Ring):
// the cluster hangs or runs out of memory. `kvctl start --weight` is limited to 1..64; the wire
// should be bounded too, as MAX_MEMBERS bounds the table. (Ring itself also loops forever on
// weight Infinity, which only a programmer can pass: JSON cannot carry it.)
t.test('parseMembers refuses a weight no node can have', async (t) => {
  for (const weight of [1e9, 1e300]) {
    t.throws(() => parseMembers([info('a', { weight })]), { code: 'KV_BAD_REQUEST' }, `weight ${weight}`);
  }
});

t.test('gossip is taken only if a real node could have said it', async (t) => {
  const now = 10_000_000;
  const table = new MemberTable(info('me', { generation: now }), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, now);
  table.merge([info('a', { generation: now - 5000, heartbeat: 10 })], now);
  const refusedOf = (entry: MemberInfo) => table.merge([entry], now).refused;
  t.equal(refusedOf(info('b', { generation: now + MAX_CLOCK_SKEW_MS + 1 })), 1, 'a generation further ahead than clocks disagree');
  t.equal(table.get('b'), undefined);
  t.equal(refusedOf(info('a', { generation: 2 ** 53 - 1 })), 1, "a real node's generation pushed to 2^53-1 (it would stay down everywhere)");
  t.equal(refusedOf(info('a', { generation: now - 5000, heartbeat: 2 ** 40 })), 1, 'more heartbeats than milliseconds since the generation');
  t.equal(refusedOf(info('a', { generation: now - 5000, heartbeat: 11, addr: 'elsewhere:1' })), 1, 'a new address without a restart');
  t.equal(table.get('a')?.addr, 'a:7070', 'the real entry stands');
  t.equal(refusedOf(info('a', { generation: now - 1000, heartbeat: 1, addr: 'moved:7070' })), 0, 'a restart (new generation) may move');
  t.equal(table.get('a')?.addr, 'moved:7070');
  t.equal(refusedOf(info('c', { generation: now + MAX_CLOCK_SKEW_MS - 1, heartbeat: 0 })), 0, 'a clock a little ahead is fine');
});

t.test('the table is capped, and members that left are forgotten after a grace period and never learned anew', async (t) => {
  const now = 10_000_000;
  const table = new MemberTable(info('me', { generation: now }), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, now);
  const many = Array.from({ length: MAX_TABLE_MEMBERS + 10 }, (_, i) => info(`n${i}`, { generation: now - 1000 }));
  const result = table.merge(many, now);
  t.equal(table.infos().length, MAX_TABLE_MEMBERS, 'no more entries than the cap');
  t.equal(result.refused, 11, 'the rest refused (our own entry counts)');
  const ghosts = Array.from({ length: 50 }, (_, i) => info(`ghost${i}`, { generation: now - 1000, status: 'left' }));
  const small = new MemberTable(info('me', { generation: now }), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, now);
  small.merge(ghosts, now);
  t.equal(small.infos().length, 1, 'members we never knew that left are not learned');
  small.merge([info('x', { generation: now - 1000 })], now);
  small.merge([info('x', { generation: now - 1000, heartbeat: 2, status: 'left' })], now);
  t.equal(small.get('x')?.status, 'left', 'a member we knew is seen leaving');
  small.merge([], now + LEFT_GRACE_MS - 1);
  t.ok(small.get('x'), 'kept during the grace period');
  small.merge([info('x', { generation: now - 1000, heartbeat: 2, status: 'left' })], now + LEFT_GRACE_MS + 1000);
  t.equal(small.get('x'), undefined, 'forgotten after it (looked for once a second), and a peer that still gossips it does not bring it back');
});

t.test('gossip refuses a real node generation far enough ahead to keep it down; its own gossip refutes one within the skew', async (t) => {
  const now = 10_000_000;
  const detector = { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 };
  const a = new MemberTable(info('a', { generation: now }), detector, now);
  const b = new MemberTable(info('b', { generation: now }), detector, now);
  const c = new MemberTable(info('c', { generation: now }), detector, now);
  const gossip = (from: MemberTable, to: MemberTable, at: number) => to.merge(from.infos(), at);
  for (const [x, y] of [
    [a, b],
    [b, c],
    [c, a],
    [a, c],
  ] as const)
    gossip(x, y, now);
  // A peer tells a: "b restarted, nine minutes from now".
  a.merge([{ ...info('b'), generation: now + 9 * 60_000, heartbeat: 0 }], now);
  gossip(a, c, now);
  b.tick(now + 100);
  gossip(b, c, now + 100);
  t.equal(c.get('b')?.generation, now + 9 * 60_000, "b's own entry cannot win over it");
  // b hears the lie about itself (gossip is push-pull: c answers b) and refutes it.
  gossip(c, b, now + 200);
  b.tick(now + 300);
  gossip(b, c, now + 300);
  gossip(c, a, now + 300);
  for (const [name, table] of [
    ['a', a],
    ['c', c],
  ] as const) {
    t.equal(table.get('b')?.generation, now + 9 * 60_000 + 1, `${name} takes b's refutation`);
    t.equal(table.view(now + 300).find((v) => v.name === 'b')?.heartbeatAgeMs, 0, `${name} hears from b again (no longer stuck at the lie)`);
  }
});

t.test('the weight of members up is capped, so no gossip makes every node build a ring of millions of tokens', async (t) => {
  const now = 10_000_000;
  const table = new MemberTable(info('me', { generation: now }), { intervalMs: 200, suspectAfterMs: 1500, downAfterMs: 3000 }, now);
  const heavy = Array.from({ length: 100 }, (_, i) => info(`heavy${i}`, { generation: now - 1000, weight: 64 }));
  const result = table.merge(heavy, now);
  const upWeight = () => table.ringMembers().reduce((sum, m) => sum + m.weight, 0);
  t.ok(upWeight() <= MAX_RING_WEIGHT, `the ring holds at most ${MAX_RING_WEIGHT} units of weight (holds ${upWeight()})`);
  t.equal(result.refused, 100 - Math.floor((MAX_RING_WEIGHT - 1) / 64), 'the entries beyond the cap are refused');
  const room = MAX_RING_WEIGHT - upWeight();
  t.ok(room < 64, 'no room for one more heavy member');
  table.merge(
    Array.from({ length: room }, (_, i) => info(`filler${i}`, { generation: now - 1000, weight: 1 })),
    now,
  );
  t.equal(upWeight(), MAX_RING_WEIGHT);
  t.equal(table.merge([info('light', { generation: now - 1000, weight: 1 })], now).refused, 1, 'a full ring takes no more weight');
  t.equal(table.merge([info('heavy0', { generation: now - 1000, heartbeat: 2, weight: 64 })], now).refused, 0, 'members already in it go on');
  t.equal(table.merge([info('heavy0', { generation: now - 1000, heartbeat: 3, status: 'leaving' })], now).refused, 0, 'a member leaving frees its weight');
  t.equal(table.merge([info('light', { generation: now - 1000, weight: 1 })], now).refused, 0, 'for others');
});

t.test('tick stamps a change of our fields with the new heartbeat; heartbeats alone leave the version', async (t) => {
  const table = tableAt();
  t.equal(table.tick(10).version, undefined, 'nothing changed');
  t.equal(table.tick(20, { hintBacklog: 3 }).version, 3, 'a backlog change is stamped');
  t.equal(table.tick(30, { hintBacklog: 3 }).version, 3, 'the same value again is no change');
  t.equal(table.tick(40, { status: 'leaving' }).version, 5);
  t.equal(table.tick(50, { degraded: 'disk full' }).version, 6);
  t.equal(table.tick(60, { degraded: undefined }).version, 7, 'clearing a field is a change');
  t.equal(table.tick(70).heartbeat, 8);
  t.equal(table.me.version, 7);
});

t.test('the number of keys is republished on a 10% change, crossing zero, or every 30 s', async (t) => {
  t.notOk(keysWorthPublishing(100, 100, 60_000), 'unchanged');
  t.ok(keysWorthPublishing(0, 1, 0), 'from zero');
  t.ok(keysWorthPublishing(5, 0, 0), 'to zero');
  t.ok(keysWorthPublishing(1000, 1100, 0), '10 % more');
  t.ok(keysWorthPublishing(1000, 900, 0), '10 % less');
  t.notOk(keysWorthPublishing(1000, 1099, KEYS_REFRESH_MS - 1), 'less, and recently published');
  t.ok(keysWorthPublishing(1000, 1001, KEYS_REFRESH_MS), 'any change once the refresh time has passed');
  const table = tableAt();
  table.tick(0, { keys: 1000 });
  table.tick(100, { keys: 1050 });
  t.equal(table.me.keys, 1000, 'a small change is not gossiped');
  t.equal(table.view(100).find((v) => v.name === 'me')?.keys, 1050, 'but our own view shows what we hold');
  table.tick(KEYS_REFRESH_MS + 1, { keys: 1060 });
  t.equal(table.me.keys, 1060, 'after the refresh time it is');
});

t.test('heartbeat deltas: applied on an entry holding the fields as of their version, else reported missing', async (t) => {
  const table = new MemberTable(info('me'), { ...detector, intervalMs: 200 }, 0);
  table.merge([info('a', { heartbeat: 10, version: 8, keys: 5 }), info('gone', { status: 'removed' })], 0);
  const applied = table.mergeBeats([['a', 1000, 12, 8]], 100);
  t.same(applied, { ringChanged: false, recovered: [], heard: ['a'], refused: 0 });
  t.same([table.get('a')?.heartbeat, table.get('a')?.keys, table.get('a')?.version], [12, 5, 8], 'the heartbeat moves, the fields stay');
  t.same(
    table.mergeBeats(
      [
        ['a', 1000, 12, 8],
        ['a', 1000, 11, 8],
      ],
      200,
    ).heard,
    [],
    'an old or equal heartbeat is no news',
  );
  const missing = table.mergeBeats(
    [
      ['a', 1000, 20, 15],
      ['a', 1001, 1, 0],
      ['new', 1000, 1, 0],
      ['gone', 1000, 99, 0],
      ['me', 1000, 999, 0],
    ],
    300,
  );
  t.same(missing.missing, ['a', 'a', 'new'], 'fields newer than ours, another generation, a member we lack: ask for them whole');
  t.equal(table.get('a')?.heartbeat, 12);
  t.equal(table.get('gone')?.status, 'removed', 'a removal stays');
  t.equal(table.me.heartbeat, 1, 'deltas about us are ignored');
  t.equal(table.mergeBeats([['a', 1000, 2 ** 50, 8]], 300).refused, 1, 'a heartbeat no node could have reached is refused');
  table.mergeSuspicions([['a', 1000, 8, 'x']], 300);
  t.equal(table.health('a', 300 + 1500), 'down');
  t.same(table.mergeBeats([['a', 1000, 13, 8]], 3100).recovered, [], 'a delta of the version suspected is no refutation');
  t.equal(table.get('a')?.heartbeat, 13);
});

t.test('restored members are down until heard from; views report when each was last heard', async (t) => {
  const table = new MemberTable(info('me'), detector, 0);
  table.restore([info('a', { heartbeat: 10 }), info('me', { heartbeat: 99 })], 1000);
  t.equal(table.health('a', 1000), 'down', 'down until its gossip arrives');
  t.equal(table.me.heartbeat, 1, 'our own persisted entry is not restored over us');
  t.same(table.merge([info('a', { heartbeat: 11 })], 2000).recovered, ['a'], 'any news of it: recovered');
  t.equal(table.health('a', 2000), 'alive');
  t.equal(table.view(2500).find((v) => v.name === 'a')?.heartbeatAgeMs, 500, 'views report the time since it was last heard of');
  table.restore([info('b')], 3000);
  t.equal(table.probeAnswered('b', 3100), true, 'an answer to a probe: recovered');
});
