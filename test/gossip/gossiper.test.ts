import t from 'tap';
import { type ClusterSettings, defaultLimits, type MembershipSettings } from '../../src/config.js';
import { VirtualClock } from '../../src/env/clock.js';
import { nullLogger } from '../../src/env/logger.js';
import { SeededRandom } from '../../src/env/random.js';
import { KvError } from '../../src/errors.js';
import { FULL_SYNC_ROUNDS, fullSyncRounds, Gossiper, MAX_REPROBES, SEEDS_PER_ROUND } from '../../src/gossip/gossiper.js';
import { joinCluster } from '../../src/gossip/join.js';
import { ClusterState } from '../../src/membership/cluster-state.js';
import { detectorSettings, type MemberInfo, MemberTable, type MergeResult, newMember } from '../../src/membership/index.js';
import { decodePeerReply, decodePeerRequest, encodePeerReply, encodePeerRequest } from '../../src/net/peer-frames.js';
import { PeerClient } from '../../src/peer/peer-client.js';
import type { PeerReplies, PeerRequest, PeerRequestOf } from '../../src/protocol/peer.js';
import type { PeerTransport } from '../../src/protocol/transport.js';
import { frameFromJson } from '../helpers/peer-frames.js';

const settings: ClusterSettings = { n: 3, w: 2, r: 2, consistency: 'strict' };
const membership: MembershipSettings = { gossipIntervalMs: 200, fanout: 2, suspectAfterMs: 1500, downAfterMs: 3000 };

function info(name: string, over: Partial<MemberInfo> = {}): MemberInfo {
  return { ...newMember({ name, addr: `${name}:7070`, incarnation: `inc-${name}`, generation: 1000, weight: 1 }), heartbeat: 1, ...over };
}

interface Sent {
  addr: string;
  request: PeerRequest;
}

/** A transport that records requests and answers each gossip push with `members` (or throws). */
function recordingTransport(members: (addr: string) => MemberInfo[] = () => []) {
  const sent: Sent[] = [];
  const transport = {
    async request(addr: string, request: PeerRequest) {
      sent.push({ addr, request });
      return { cluster: undefined, members: members(addr) };
    },
    async close() {},
  } as PeerTransport;
  return { sent, transport };
}

/** A gossip push as a peer's frame carries it: validated by the real decoder, answered, the answer encoded and read back. */
function pushTo(gossiper: Gossiper, body: Record<string, unknown>): Record<string, unknown> {
  const request = decodePeerRequest('gossip.push', frameFromJson({ op: 'gossip.push', ...body }, 1), defaultLimits) as PeerRequestOf<'gossip.push'>;
  const reply: PeerReplies['gossip.push'] = decodePeerReply(request, encodePeerReply(request, gossiper.handlePush(request), 1), defaultLimits);
  const c = reply.cluster;
  return { cluster: c ? { id: c.id, ...c.settings, version: c.settingsVersion ?? 0 } : undefined, members: reply.members, suspects: reply.suspects };
}

function build(options: { transport?: PeerTransport; seeds?: string[]; peers?: MemberInfo[]; selfUpdate?: () => Partial<MemberInfo> } = {}) {
  const clock = new VirtualClock(10_000);
  const table = new MemberTable(info('me'), detectorSettings(membership), clock.now());
  if (options.peers) table.merge(options.peers, clock.now());
  const merges: MergeResult[] = [];
  const cluster = { id: 'c1', settings };
  const state = new ClusterState(cluster, table);
  const peers = new PeerClient({
    self: 'me',
    transport: options.transport ?? recordingTransport().transport,
    clock,
    addrOf: (name) => table.get(name)?.addr,
    isUp: (name) => table.isUp(name, clock.now()),
    requestTimeoutMs: 500,
    maxLineBytes: 1 << 20,
  });
  const gossiper = new Gossiper({
    table,
    cluster,
    peers,
    clock,
    random: new SeededRandom(1),
    settings: membership,
    logger: nullLogger,
    selfUpdate: options.selfUpdate ?? (() => ({})),
    onMerge: (r) => merges.push(r),
    seeds: () => options.seeds ?? [],
    adoptSettings: (next, version) => state.adoptSettings(next, version),
  });
  return { clock, table, gossiper, merges, state };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('handlePush refuses another cluster', async (t) => {
  const { gossiper } = build();
  t.throws(() => pushTo(gossiper, { cluster: { id: 'c2', ...settings }, members: [info('x')] }), {
    code: 'KV_CLUSTER_MISMATCH',
    message: /c1.*c2|c2.*c1/,
  });
  t.throws(() => pushTo(gossiper, { join: true, cluster: { id: 'c2' }, members: [info('x')] }), { code: 'KV_BAD_REQUEST' }, 'a joiner names no cluster id');
  t.throws(() => pushTo(gossiper, { members: [info('x')] }), { code: 'KV_BAD_REQUEST' }, 'gossip must name its cluster');
});

t.test('handlePush refuses a join whose explicit settings conflict, naming the conflict', async (t) => {
  const { gossiper, table } = build();
  const cases: [Partial<ClusterSettings>, RegExp, string[]][] = [
    [{ n: 5 }, /N=5/, ['n']],
    [{ w: 3, r: 1 }, /W=3 R=1/, ['w', 'r']],
    [{ consistency: 'sloppy' }, /consistency=sloppy/, ['consistency']],
    [{ n: 3, w: 1 }, /W=1/, ['w']],
  ];
  for (const [explicit, message, conflicts] of cases) {
    let error: unknown;
    try {
      pushTo(gossiper, { join: true, cluster: explicit, members: [info('joiner')] });
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof KvError, JSON.stringify(explicit));
    t.equal((error as KvError).code, 'KV_CLUSTER_MISMATCH');
    t.match((error as KvError).message, message);
    t.match((error as KvError).message, /the cluster runs with N=3 W=2 R=2 consistency=strict/);
    t.same((error as KvError).details?.conflicts, conflicts);
  }
  t.equal(table.get('joiner'), undefined, 'a refused joiner is not merged');
});

t.test('handlePush accepts a join without settings (or with agreeing ones) and answers with cluster and members', async (t) => {
  const { gossiper, table, merges } = build({ peers: [info('a')] });
  const reply = pushTo(gossiper, { join: true, cluster: {}, members: [info('joiner')] });
  t.same(reply.cluster, { id: 'c1', ...settings, version: 0 });
  t.same((reply.members as MemberInfo[]).map((m) => m.name).sort(), ['a', 'joiner', 'me'], 'the answer holds the joiner too');
  t.ok(table.get('joiner'));
  t.same(merges.at(-1), { ringChanged: true, recovered: ['joiner'], heard: ['joiner'], refused: 0 });
  const agreeing = pushTo(gossiper, { join: true, cluster: { n: 3, consistency: 'strict' }, members: [info('j2')] });
  t.same(agreeing.cluster, { id: 'c1', ...settings, version: 0 });
  const noCluster = pushTo(gossiper, { join: true, members: [info('j3')] });
  t.same(noCluster.cluster, { id: 'c1', ...settings, version: 0 }, 'a join may omit the cluster field');
});

t.test('handlePush merges ordinary gossip and rejects malformed members', async (t) => {
  const { gossiper, table } = build({ peers: [info('a', { heartbeat: 1 })] });
  pushTo(gossiper, { cluster: { id: 'c1', ...settings, version: 0 }, members: [info('a', { heartbeat: 9 }), info('b')] });
  t.equal(table.get('a')?.heartbeat, 9);
  t.ok(table.get('b'));
  t.throws(() => pushTo(gossiper, { cluster: { id: 'c1', ...settings }, members: [{ name: 'x' }] }), { code: 'KV_BAD_REQUEST' });
  t.throws(() => pushTo(gossiper, { cluster: { id: 'c1', ...settings } }), { code: 'KV_BAD_REQUEST' }, 'members are required');
});

t.test('a push carries the cluster and our table, and no join flag', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper } = build({ transport, peers: [info('a')] });
  await gossiper.push('a:7070');
  const request = sent[0]?.request;
  t.equal(request?.op, 'gossip.push');
  if (request?.op !== 'gossip.push') return;
  t.same(request.cluster, { kind: 'member', cluster: { id: 'c1', settings } });
  t.equal(request.members.length, 2);
  // On the wire: the frame carries gossip's JSON text after its header and length.
  const text = JSON.parse(encodePeerRequest(request, 1).subarray(14).toString('utf8')) as Record<string, unknown>;
  t.same(text.cluster, { id: 'c1', ...settings, version: 0 }, 'on the wire: the cluster fields');
  t.notOk('join' in text);
});

t.test('a round bumps our heartbeat and probes one member; news waiting adds `fanout - 1` more', async (t) => {
  let replies = 0;
  const { sent, transport } = recordingTransport(() => (replies++ === 1 ? [info('learned')] : []));
  const { gossiper, table, merges } = build({ transport, peers: [info('a'), info('b'), info('c'), info('d')], seeds: ['seed:1'] });
  gossiper.round();
  await flush();
  t.equal(table.me.heartbeat, 2);
  t.equal(sent.length, 1, 'one probe');
  t.equal((sent[0]?.request as PeerRequestOf<'gossip.push'> | undefined)?.digests?.length, 5, 'the first is a full sync: a node that starts knows least');
  t.equal(gossiper.pendingNews, 0, 'nothing learned, nothing to tell');
  sent.length = 0;
  gossiper.round();
  await flush();
  t.equal(sent.length, 1, 'nothing to tell: one probe');
  const probe = sent[0]?.request as PeerRequestOf<'gossip.push'>;
  t.equal(probe.probe, true);
  t.equal(probe.digests, undefined, 'a plain probe from then on');
  t.same(
    probe.members.map((m) => m.name),
    ['me'],
    'a probe carries our entry',
  );
  t.ok(table.get('learned'), 'the reply is merged');
  t.equal(merges.length, 2);
  t.equal(gossiper.pendingNews, 1, 'a member new to us is news to pass on');
  sent.length = 0;
  gossiper.round();
  await flush();
  t.equal(sent.length, membership.fanout, 'news: `fanout` exchanges');
  t.equal(new Set(sent.map((s) => s.addr)).size, membership.fanout, 'distinct peers');
  t.notOk(
    sent.some((s) => s.addr === 'seed:1' || s.addr === 'me:7070'),
    'no seeds while peers are up, never ourselves',
  );
  t.ok(
    sent.some((s) => (s.request as PeerRequestOf<'gossip.push'>).members.some((m) => m.name === 'learned')),
    'the news rides on them',
  );
});

t.test('what a whole table teaches is not news; what a full sync teaches is', async (t) => {
  const whole = recordingTransport(() => [info('x'), info('y')]);
  const a = build({ transport: whole.transport, peers: [info('a')] });
  await a.gossiper.push('a:7070');
  t.ok(a.table.get('x'));
  t.equal(a.gossiper.pendingNews, 0, 'a whole table comes to a node that knows nobody yet: the cluster knows it all');
  const b = build({ transport: recordingTransport(() => [info('x')]).transport, peers: [info('a')] });
  await b.gossiper.exchange('a:7070', 'digests');
  t.equal(b.gossiper.pendingNews, 1, 'a member a full sync brings is passed on (we may be the only one that missed it)');
});

t.test('members are probed in turn: each once per pass over the table', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper } = build({ transport, peers: [info('a'), info('b'), info('c'), info('d')] });
  const passes: string[][] = [];
  for (let pass = 0; pass < 3; pass++) {
    sent.length = 0;
    for (let i = 0; i < 4; i++) gossiper.round();
    await flush();
    passes.push(sent.map((s) => s.addr).sort());
  }
  for (const probed of passes) t.same(probed, ['a:7070', 'b:7070', 'c:7070', 'd:7070']);
});

t.test('an unanswered probe makes the member suspect here, probed again each round, then suspected to the cluster', async (t) => {
  const sent: Sent[] = [];
  let silent = true;
  const transport = {
    async request(addr: string, request: PeerRequest) {
      sent.push({ addr, request });
      if (addr === 'a:7070' && silent) throw new KvError('KV_TIMEOUT', 'no answer');
      return { cluster: undefined, members: [] };
    },
    async close() {},
  } as PeerTransport;
  const { gossiper, table, clock } = build({ transport, peers: [info('a'), info('b'), info('c'), info('d')] });
  for (let i = 0; i < 4; i++) gossiper.round();
  await flush();
  t.equal(table.health('a', clock.now()), 'alive', 'one unanswered probe: still alive');
  t.same(table.unanswered(), ['a']);
  sent.length = 0;
  gossiper.round();
  await flush();
  t.ok(
    sent.some((s) => s.addr === 'a:7070'),
    `probed again in the next round (up to ${MAX_REPROBES} such a round)`,
  );
  t.same(table.suspicions(), [], 'not yet told');
  const rounds = Math.ceil(membership.suspectAfterMs / membership.gossipIntervalMs);
  for (let i = 0; i < rounds; i++) {
    clock.advance(membership.gossipIntervalMs);
    gossiper.round();
    await flush();
  }
  t.same(table.suspicions(), [['a', 1000, 0, 'me']], 'unanswered for suspectAfterMs: suspected');
  sent.length = 0;
  gossiper.round();
  await flush();
  const told = sent.filter((s) => s.addr !== 'a:7070').flatMap((s) => (s.request as PeerRequestOf<'gossip.push'>).suspects ?? []);
  t.same(told[0], ['a', 1000, 0, 'me'], 'the suspicion is news: it rides on the next messages');
  clock.advance(6 * (membership.downAfterMs - membership.suspectAfterMs));
  t.equal(table.health('a', clock.now()), 'down', 'unconfirmed: down after the longest suspicion');
  silent = false;
  gossiper.round();
  await flush();
  t.equal(table.health('a', clock.now()), 'alive', 'an answer clears it');
});

t.test('a probe telling us we are suspected is answered with a refutation: our entry at a new version', async (t) => {
  const { gossiper, table } = build({ peers: [info('a')] });
  const version = table.me.version ?? 0;
  const reply = pushTo(gossiper, {
    cluster: { id: 'c1', ...settings, version: 0 },
    members: [info('a', { heartbeat: 2 })],
    suspects: [['me', 1000, version, 'x']],
    probe: true,
  });
  const ours = (reply.members as MemberInfo[])[0];
  t.equal(ours?.name, 'me', 'a probe is answered with our entry first');
  t.ok((ours?.version ?? 0) > version, 'at a new version, which clears the suspicion wherever it arrives');
  t.ok((reply.members as MemberInfo[]).filter((m) => m.name === 'me').length === 1, 'once');
  const other = build({ peers: [info('a')] });
  const plain = pushTo(other.gossiper, { cluster: { id: 'c1', ...settings, version: 0 }, members: [info('a', { heartbeat: 2 })], probe: true });
  t.same(
    (plain.members as MemberInfo[]).map((m) => [m.name, m.version ?? 0]),
    [['me', 0]],
    'an ordinary probe: our entry as it is',
  );
});

t.test('a member we suspect is told so when we exchange with it, either way, so it refutes at once', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper, table, clock } = build({ transport, peers: [info('a')] });
  gossiper.round();
  await flush();
  table.mergeSuspicions([['a', 1000, 0, 'x']], clock.now());
  sent.length = 0;
  gossiper.round();
  await flush();
  t.same((sent[0]?.request as PeerRequestOf<'gossip.push'> | undefined)?.suspects, [['a', 1000, 0, 'x']], 'our probe of it carries our suspicion');
  const other = build({ peers: [info('a'), info('b')] });
  other.table.mergeSuspicions([['a', 1000, 0, 'x']], other.clock.now());
  const cluster = { id: 'c1', ...settings, version: 0 };
  const reply = pushTo(other.gossiper, { cluster, members: [info('a', { heartbeat: 2 })], probe: true });
  t.same(reply.suspects, [['a', 1000, 0, 'x']], 'our answer to its probe carries it');
  const quiet = pushTo(other.gossiper, { cluster, members: [info('b', { heartbeat: 2 })], probe: true });
  t.same(quiet.suspects, undefined, 'a member we do not suspect is told nothing');
});

t.test('a probe from a member we hold removed is answered with its removal', async (t) => {
  const { gossiper, table } = build({ peers: [info('a')] });
  table.remove('a');
  const reply = pushTo(gossiper, { cluster: { id: 'c1', ...settings, version: 0 }, members: [info('a', { heartbeat: 9 })], probe: true });
  t.same(
    (reply.members as MemberInfo[]).map((m) => [m.name, m.status]),
    [
      ['me', 'up'],
      ['a', 'removed'],
    ],
  );
});

t.test('a round falls back to the seeds when no peer is up (not to our own address)', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper, clock, table } = build({ transport, seeds: ['seed:1', 'me:7070'] });
  gossiper.round();
  t.same(
    sent.map((s) => s.addr),
    ['seed:1'],
  );
  table.restore([info('a')], clock.now());
  t.equal(table.health('a', clock.now()), 'down');
  sent.length = 0;
  gossiper.round();
  t.same(sent.map((s) => s.addr).sort(), ['a:7070', 'seed:1'], 'a down peer is probed, and the seeds tried too');
});

t.test('a failed push is swallowed; the round goes on', async (t) => {
  const transport = {
    request: async () => {
      throw new KvError('KV_TIMEOUT', 'lost');
    },
    close: async () => {},
  } as PeerTransport;
  const { gossiper, table } = build({ transport, peers: [info('a')] });
  gossiper.round();
  await flush();
  t.equal(table.me.heartbeat, 2);
  await t.rejects(gossiper.push('a:7070'), { code: 'KV_TIMEOUT' }, 'push itself reports the failure');
});

t.test('start/stop drive rounds from the injected clock', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper, clock, table } = build({ transport, peers: [info('a')], selfUpdate: () => ({ keys: 7 }) });
  gossiper.start();
  gossiper.start();
  clock.advance(membership.gossipIntervalMs - 1);
  t.equal(gossiper.rounds, 0, 'nothing before the first interval');
  clock.advance(1);
  t.equal(gossiper.rounds, 1);
  t.equal(table.me.keys, 7, 'selfUpdate is applied each round');
  clock.advance(membership.gossipIntervalMs * 4);
  t.equal(gossiper.rounds, 5, 'one round per interval, even when started twice');
  gossiper.stop();
  clock.advance(membership.gossipIntervalMs * 10);
  t.equal(gossiper.rounds, 5, 'stop() stops');
  t.equal(sent.length, 5);
});

t.test('gossip spreads the settings with the highest version; malformed or older ones are ignored', async (t) => {
  const { gossiper, state } = build({ peers: [info('a')] });
  const push = (cluster: Record<string, unknown>) => pushTo(gossiper, { cluster: { id: 'c1', ...cluster }, members: [info('a')] });
  const refused = (cluster: Record<string, unknown>, why: string) => t.throws(() => push(cluster), { code: 'KV_BAD_REQUEST' }, why);
  push({ n: 5, w: 3, r: 3, consistency: 'strict', version: 2 });
  t.same(state.settings, { n: 5, w: 3, r: 3, consistency: 'strict' }, 'a newer version is adopted');
  t.equal(state.cluster.settingsVersion, 2);
  t.equal(state.previousN, 3, 'a changed N keeps the old placement until transfers settle');
  push({ n: 1, w: 1, r: 1, consistency: 'strict', version: 1 });
  t.equal(state.settings.n, 5, 'an older version is ignored');
  refused({ n: 2, w: 3, r: 1, consistency: 'strict', version: 9 }, 'W above N is malformed: the push is refused');
  refused({ n: 99, w: 1, r: 1, consistency: 'strict', version: 9 }, 'N above the maximum');
  refused({ n: 3, w: 2, r: 2, consistency: 'eventual', version: 9 }, 'an unknown consistency');
  t.equal(state.settings.n, 5, 'refused pushes change nothing');
  const reply = push({ n: 5, w: 3, r: 3, consistency: 'sloppy', version: 2 });
  t.equal(state.settings.consistency, 'strict', 'at an equal version every node keeps the same one of two settings');
  t.same(reply.cluster, { id: 'c1', n: 5, w: 3, r: 3, consistency: 'strict', version: 2 }, 'the answer carries the adopted settings');
});

t.test('an exchange: digests and our own entry out, what changed back, what the peer wants out last', async (t) => {
  const sent: Sent[] = [];
  const transport = {
    async request(addr: string, request: PeerRequest) {
      sent.push({ addr, request });
      if (sent.length > 1) return { cluster: undefined, members: [] };
      // The peer knows a newer heartbeat of b, a new member, and wants our c.
      return { cluster: undefined, members: [info('new')], beats: [['b', 1000, 9, 0]], want: [['c', -1, -1]] };
    },
    async close() {},
  } as PeerTransport;
  const { gossiper, table } = build({ transport, peers: [info('b'), info('c', { keys: 3 })] });
  await gossiper.exchange('b:7070', 'digests');
  await flush();
  const [syn, ack2] = sent.map((s) => s.request as PeerRequestOf<'gossip.push'>);
  t.same(
    syn?.members.map((m) => [m.name, m.heartbeat]),
    [['me', 1]],
    'the opening carries one whole entry, ours (a peer whose answers are lost still learns our fields)',
  );
  t.same(syn?.digests?.map((d) => d[0]).sort(), ['b', 'c', 'me'], 'and a digest of every member');
  t.equal(syn?.beats, undefined, 'no heartbeat deltas: ours is in our entry');
  t.equal(table.get('b')?.heartbeat, 9, 'the heartbeat delta is merged');
  t.ok(table.get('new'), 'and the new member');
  t.same(
    ack2?.members.map((m) => m.name),
    ['c'],
    'the wanted member goes whole to the peer that lacks it',
  );
  t.notOk(ack2?.digests, 'the last message carries no digests: it is not answered with more');
  t.equal(sent.length, 2);
});

t.test('handlePush answers digests with deltas and wants, a last message with nothing, a full sync with the table', async (t) => {
  const { gossiper, table } = build({ peers: [info('a', { heartbeat: 5 }), info('b', { heartbeat: 1 })] });
  const cluster = { kind: 'member' as const, cluster: { id: 'c1', settings } };
  const answer = gossiper.handlePush({
    cluster,
    members: [],
    beats: [['a', 1000, 6, 0]],
    digests: [
      ['a', 1000, 6],
      ['b', 1000, 7],
      ['me', 1000, 0],
    ],
  });
  t.equal(table.get('a')?.heartbeat, 6, 'the opening heartbeat is merged first');
  t.same(answer.members, []);
  t.same(answer.beats, [['me', 1000, 1, 0]], 'ours is newer there: a heartbeat alone');
  t.same(answer.want, [['b', 1000, 1]], 'b is newer at the peer: asked for');
  const last = gossiper.handlePush({ cluster, members: [info('b', { heartbeat: 7 })] });
  t.same([last.members, last.beats, last.want], [[], undefined, undefined], 'the last message is not answered with more');
  t.equal(table.get('b')?.heartbeat, 7);
  const full = gossiper.handlePush({ cluster, members: [], full: true });
  t.same(full.members.map((m) => m.name).sort(), ['a', 'b', 'me'], 'a full sync gets the whole table');
});

t.test('every FULL_SYNC_ROUNDS rounds (in a small cluster) the probe carries digests of every member, and the suspicions held', async (t) => {
  const { sent, transport } = recordingTransport();
  const { gossiper, table, clock } = build({ transport, peers: [info('a'), info('b'), info('c')] });
  for (let i = 0; i <= FULL_SYNC_ROUNDS; i++) {
    if (i === FULL_SYNC_ROUNDS) table.mergeSuspicions([['c', 1000, 0, 'x']], clock.now());
    gossiper.round();
    await flush();
  }
  const full = sent.filter((s) => (s.request as PeerRequestOf<'gossip.push'>).digests);
  t.equal(full.length, 2, 'the first round (a node that starts), and FULL_SYNC_ROUNDS later');
  const syn = full[1]?.request as PeerRequestOf<'gossip.push'> | undefined;
  t.equal(syn?.digests?.length, 4);
  t.same(syn?.suspects, [['c', 1000, 0, 'x']]);
  t.equal(sent.length, FULL_SYNC_ROUNDS + 1, 'one exchange a round: the full sync is the probe');
});

t.test('full syncs come further apart in larger clusters, as memberlist spaces its push-pull', async (t) => {
  t.equal(fullSyncRounds(3), FULL_SYNC_ROUNDS);
  t.equal(fullSyncRounds(32), FULL_SYNC_ROUNDS);
  t.equal(fullSyncRounds(64), 2 * FULL_SYNC_ROUNDS);
  t.equal(fullSyncRounds(1000), 6 * FULL_SYNC_ROUNDS, 'at 1,000 members, every 3 minutes');
});

t.test('with no live peer, a round tries a few seeds at random, not all', async (t) => {
  const seeds = Array.from({ length: 10 }, (_, i) => `seed${i}:1`);
  const picked = new Set<string>();
  for (let round = 0; round < 20; round++) {
    const { sent, transport } = recordingTransport();
    const { gossiper } = build({ transport, seeds });
    for (let i = 0; i < round % 5; i++) gossiper.round();
    sent.length = 0;
    gossiper.round();
    t.equal(sent.length, SEEDS_PER_ROUND, `round ${round}: ${SEEDS_PER_ROUND} seeds`);
    for (const s of sent) picked.add(s.addr);
  }
  t.ok(picked.size > SEEDS_PER_ROUND, `different rounds pick different seeds (${picked.size} of 10)`);
});

t.test('a join tries the seeds in a random order and goes on past those that fail', async (t) => {
  const firsts = new Set<string>();
  for (let seed = 1; seed <= 10; seed++) {
    const asked: string[] = [];
    const transport = {
      async request(addr: string) {
        asked.push(addr);
        if (addr !== 's3:1') throw new KvError('KV_UNREACHABLE', 'down');
        return { cluster: { id: 'c1', settings }, members: [info('s3')] };
      },
      async close() {},
    } as PeerTransport;
    const joined = await joinCluster(transport, ['s1:1', 's2:1', 's3:1', 's4:1'], info('me'), {}, 100, new SeededRandom(seed));
    t.equal(joined.cluster.id, 'c1');
    t.equal(asked.at(-1), 's3:1', 'until one answers');
    firsts.add(asked[0] as string);
  }
  t.ok(firsts.size > 1, `joiners with the same seeds start with different ones (${[...firsts].join(', ')})`);
});
