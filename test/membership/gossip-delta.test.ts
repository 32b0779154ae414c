import t from 'tap';
import {
  answerDigests,
  beatFor,
  compareDigest,
  DIGEST_LEFT,
  DIGEST_REMOVED,
  digestOf,
  type MemberInfo,
  MemberTable,
  newMember,
  parseBeats,
  parseDigests,
  parseMembers,
} from '../../src/membership/index.js';

function info(name: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { ...newMember({ name, addr: `${name}:7070`, incarnation: `inc-${name}`, generation: 1000, weight: 1 }), heartbeat: 10, ...over };
}

t.test('digests name generation and heartbeat, and flag removals and departures', async (t) => {
  t.same(digestOf(info('a')), ['a', 1000, 10]);
  t.same(digestOf(info('a', { status: 'removed' })), ['a', 1000, 10, DIGEST_REMOVED]);
  t.same(digestOf(info('a', { status: 'left' })), ['a', 1000, 10, DIGEST_LEFT]);
  t.same(digestOf(info('a', { status: 'leaving' })), ['a', 1000, 10]);
});

t.test('compareDigest: (generation, heartbeat) order, and a removal on one side only goes both ways', async (t) => {
  const held = info('a');
  t.equal(compareDigest(held, ['a', 1000, 9]), 'ours');
  t.equal(compareDigest(held, ['a', 1000, 11]), 'theirs');
  t.equal(compareDigest(held, ['a', 999, 50]), 'ours');
  t.equal(compareDigest(held, ['a', 1001, 0]), 'theirs');
  t.equal(compareDigest(held, ['a', 1000, 10]), 'same');
  t.equal(compareDigest(held, ['a', -1, -1]), 'ours', 'a member the peer lacks');
  t.equal(compareDigest(held, ['a', 1000, 10, DIGEST_REMOVED]), 'both');
  t.equal(compareDigest(info('a', { status: 'removed' }), ['a', 1000, 99]), 'both');
});

t.test('a heartbeat alone goes to a peer holding our fields as of their version; anything else whole', async (t) => {
  const held = info('a', { heartbeat: 20, version: 15 });
  t.same(beatFor(held, ['a', 1000, 15]), ['a', 1000, 20, 15], 'their copy is at the version: the fields are the same');
  t.same(beatFor(held, ['a', 1000, 18]), ['a', 1000, 20, 15]);
  t.equal(beatFor(held, ['a', 1000, 14]), undefined, 'their copy predates the change');
  t.equal(beatFor(held, ['a', 999, 30]), undefined, 'another generation');
  t.equal(beatFor(held, undefined), undefined, 'a peer that lacks the member');
  t.equal(beatFor(held, ['a', 1000, 18, DIGEST_REMOVED]), undefined, 'a removal on their side');
  t.equal(beatFor(info('a', { status: 'removed' }), ['a', 1000, 5]), undefined, 'a removal on ours');
  t.same(beatFor(info('a'), ['a', 1000, 3]), ['a', 1000, 10, 0], 'no version: 0');
});

t.test('answerDigests sends what the peer lacks or holds older, and asks for what we lack or hold older', async (t) => {
  const held = [
    info('newer', { heartbeat: 20 }),
    info('older', { heartbeat: 5 }),
    info('same'),
    info('unknown-to-them'),
    info('left-unknown-to-them', { status: 'left' }),
    info('changed', { heartbeat: 30, version: 25, keys: 7 }),
  ];
  const answer = answerDigests(held, [
    ['newer', 1000, 10],
    ['older', 1000, 9],
    ['same', 1000, 10],
    ['changed', 1000, 20],
    ['only-theirs', 1000, 3],
    ['only-theirs-left', 1000, 3, DIGEST_LEFT],
  ]);
  t.same(answer.beats, [['newer', 1000, 20, 0]], 'a heartbeat alone where their fields are current');
  t.same(
    answer.members.map((m) => m.name),
    ['unknown-to-them', 'changed'],
    'whole entries: those they lack (not ones that left), those whose fields changed since their copy',
  );
  t.same(
    answer.want,
    [
      ['older', 1000, 5],
      ['only-theirs', -1, -1],
    ],
    'we ask for what is newer there, and what we lack (not departures)',
  );
  const listed = answerDigests(held, [['older', 1000, 1]], { listedOnly: true });
  t.same([listed.members, listed.beats, listed.want], [[], [['older', 1000, 5, 0]], []], 'listedOnly: only the members asked for');
  const budget = answerDigests(held, [], { maxEntryBytes: 300 });
  t.equal(budget.members.length, 1, 'whole entries stop at the byte budget (the rest comes in later rounds)');
});

t.test('two tables reach the same view through syn, ack and ack2, and heartbeats travel without the fields', async (t) => {
  const settings = { suspectAfterMs: 1500, downAfterMs: 3000, intervalMs: 200 };
  const a = new MemberTable(info('a', { heartbeat: 0 }), settings, 0);
  const b = new MemberTable(info('b', { heartbeat: 0 }), settings, 0);
  a.merge([info('x', { heartbeat: 3 })], 0);
  b.merge([info('x', { heartbeat: 5 }), info('y')], 0);
  /** One exchange opened by `from`, as the Gossiper does it; returns the messages' parts. */
  const exchange = (from: MemberTable, to: MemberTable, now: number) => {
    const syn = { digests: from.digests(), beats: [] };
    const ack = to.answer(syn.digests);
    from.mergeDelta(ack, now);
    const ack2 = from.answer(ack.want, { listedOnly: true });
    to.mergeDelta(ack2, now);
    return { ack, ack2 };
  };
  a.tick(10);
  b.tick(10);
  exchange(a, b, 10);
  const names = (m: MemberTable) =>
    m
      .infos()
      .map((i) => `${i.name}@${i.heartbeat}`)
      .sort();
  t.same(names(a), names(b), 'one exchange: the same entries on both sides');
  t.same(names(a), ['a@1', 'b@1', 'x@5', 'y@10']);
  a.tick(20);
  b.tick(20, { keys: 100 });
  const { ack, ack2 } = exchange(a, b, 20);
  t.same(
    ack.members.map((m) => m.name),
    ['b'],
    'b changed a field: its entry goes whole',
  );
  t.same(ack.beats, [], 'nothing else is newer at b');
  t.same(ack2.beats, [['a', 1000, 2, 0]], "a's heartbeat goes alone");
  t.equal(a.get('b')?.keys, 100);
  a.tick(30);
  b.tick(30);
  const third = exchange(a, b, 30);
  t.same(third.ack.members, [], 'with no field changed, only heartbeats travel');
  t.same(third.ack.beats, [['b', 1000, 3, 2]]);
  t.same(a.get('b')?.heartbeat, 3);
  t.equal(a.get('b')?.keys, 100, 'and the fields stay');
});

t.test('digests and heartbeat deltas from peers are validated', async (t) => {
  t.same(
    parseDigests([
      ['a', 1, 2],
      ['b', -1, -1],
      ['c', 1, 2, DIGEST_REMOVED],
    ]),
    [
      ['a', 1, 2],
      ['b', -1, -1],
      ['c', 1, 2, DIGEST_REMOVED],
    ],
  );
  for (const bad of [
    'x',
    [['a', 1]],
    [['', 1, 2]],
    [['a', 1.5, 2]],
    [['a', -2, 0]],
    [['a', 1, 2, 3]],
    [['a', 1, 2, 1, 1]],
    [['x'.repeat(257), 1, 2]],
    Array(2049).fill(['a', 1, 2]),
  ]) {
    t.throws(() => parseDigests(bad), { code: 'KV_BAD_REQUEST' }, `digests ${JSON.stringify(bad).slice(0, 40)}`);
  }
  t.same(parseBeats([['a', 1, 5, 5]]), [['a', 1, 5, 5]]);
  for (const bad of [[['a', 1, 5, 6]], [['a', 1, 5]], [['a', -1, 5, 0]], [[1, 1, 5, 0]], [['a', 1, 2 ** 53, 0]], {}]) {
    t.throws(() => parseBeats(bad), { code: 'KV_BAD_REQUEST' }, `beats ${JSON.stringify(bad)}`);
  }
  t.equal(parseMembers([info('a', { version: 10 })])[0]?.version, 10);
  t.throws(() => parseMembers([info('a', { version: 11 })]), { code: 'KV_BAD_REQUEST' }, 'a version above the heartbeat');
  t.throws(() => parseMembers([{ ...info('a'), version: -1 }]), { code: 'KV_BAD_REQUEST' });
  t.equal(parseMembers([info('a')])[0]?.version, undefined, 'absent (saved by an older version): 0');
});
