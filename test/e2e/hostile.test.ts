/**
 * Hostile input with real daemons. Each attack below once destroyed or blocked something; each runs
 * here as a peer that proved the cluster secret (a buggy, half-upgraded or stolen-secret node: it
 * may send what a node may send, and must still not corrupt data), and from a plain connection
 * where that makes sense (KV_FORBIDDEN). After each group, every key written before the attacks
 * reads back and every node sees the same members up.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { KvClient } from '../../src/client/client.js';
import { decodeContext, encodeContext } from '../../src/clock/index.js';
import { MAX_RING_WEIGHT, MAX_TABLE_MEMBERS } from '../../src/membership/index.js';
import { newSecret } from '../../src/net/credentials.js';
import { type Daemon, isAlive, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';
import { startCluster, waitForHandoff } from '../helpers/cluster.js';
import {
  ackEverything,
  attackerPeer,
  b64,
  codeOf,
  copiesMissing,
  entryOf,
  fakeMember,
  gossipCluster,
  keyName,
  keysLost,
  membersOf,
  pingWatch,
  plainClient,
  rssBytes,
  upMembers,
  type WireMember,
  wireRecord,
  writeKeys,
} from '../helpers/hostile.js';
import { recordingProxy, writeSecretFile } from '../helpers/security.js';

const KEYS = 200;
const DOWN_AFTER_MS = 1500;
const FAST = ['--gossip-interval-ms', '100', '--down-after-ms', String(DOWN_AFTER_MS)];
const MAX_SIBLINGS = 64;
const MAX_VALUE_BYTES = 1024 * 1024;

/** Every key written reads back through every node, and every node sees exactly `names` up and alive. */
async function nothingLost(t: Test, nodes: Daemon[], keys: number): Promise<void> {
  for (const d of nodes) t.same(await keysLost(d, keys), [], `every one of ${keys} keys reads back through ${d.name}`);
  const names = nodes.map((d) => d.name).sort();
  for (const d of nodes) {
    await waitFor(async () => (await upMembers(d)).join() === names.join(), `${d.name} to see ${names.join(', ')} up`).catch(() => {});
    t.same(await upMembers(d), names, `${d.name} sees the same members up`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('records, reaps, hints and contexts from a peer are held to what a client could do; a plain connection may send none', async (t) => {
  const nodes = await startCluster(t, 3, FAST);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  await writeKeys(a, KEYS);
  const peer = await attackerPeer(t, a);
  const plain = await plainClient(t, a);

  await t.test('2: tombstones and records over the limits', async (t) => {
    const tombstones = Array.from({ length: 20 }, (_, i) => ({ key: b64(keyName(i)), record: wireRecord([{ actor: 'evil~1', counter: 99, value: null }]) }));
    t.equal(await codeOf(plain.request({ op: 'kv.replicate.many', items: tombstones })), 'KV_FORBIDDEN', 'kv.replicate.many from a plain connection');
    t.equal(await codeOf(plain.request({ op: 'ae.store', peer: b.name, items: tombstones })), 'KV_FORBIDDEN', 'ae.store from a plain connection');
    t.equal(await codeOf(plain.request({ op: 'kv.replicate', ...tombstones[0] })), 'KV_FORBIDDEN', 'kv.replicate from a plain connection');

    // From a peer a tombstone is data; one that saw nothing of a key deletes nothing of it.
    const stored = await peer.request({ op: 'kv.replicate.many', items: tombstones });
    t.same(stored.results, Array(20).fill(null), 'a peer may send tombstones: stored');
    t.equal((await peer.request({ op: 'ae.store', peer: b.name, items: tombstones })).stored, 20, 'by ae.store too');
    t.same(await keysLost(a, 20), [], 'concurrent tombstones delete no value');

    const target = b64(keyName(0));
    const overLimits: [string, Record<string, unknown>, string][] = [
      [`${MAX_SIBLINGS + 1} siblings`, wireRecord(Array.from({ length: MAX_SIBLINGS + 1 }, (_, i) => ({ actor: `w${i}`, value: 'x' }))), 'KV_BAD_REQUEST'],
      ['a value one byte over the limit', wireRecord([{ actor: 'w', value: 'x'.repeat(MAX_VALUE_BYTES + 1) }]), 'KV_VALUE_TOO_LARGE'],
      [
        '257 clock entries',
        { ...wireRecord([{ actor: 'w', value: 'x' }]), clock: Array.from({ length: 257 }, (_, i) => [i === 0 ? 'w' : `c${i}`, 1]) },
        'KV_BAD_REQUEST',
      ],
      // (A counter over 48 bits cannot be written in a frame at all: its field has 48 bits.)
      ['a tombstone with bytes', { clock: [['w', 1]], siblings: [['w', 1, Date.now(), -1, b64('x')]] }, 'KV_BAD_REQUEST'],
      ['a sibling the clock does not cover (it would win every merge)', { clock: [['w', 1]], siblings: [['w', 5, Date.now(), 0, b64('x')]] }, 'KV_BAD_REQUEST'],
      [
        'one dot twice',
        {
          clock: [['w', 1]],
          siblings: [
            ['w', 1, Date.now(), 0, b64('x')],
            ['w', 1, Date.now(), 0, b64('y')],
          ],
        },
        'KV_BAD_REQUEST',
      ],
    ];
    for (const [what, record, code] of overLimits) {
      t.equal(await codeOf(peer.request({ op: 'kv.replicate.many', items: [{ key: target, record }] })), code, `kv.replicate.many: ${what}`);
      t.equal(await codeOf(peer.request({ op: 'ae.store', peer: b.name, items: [{ key: target, record }] })), code, `ae.store: ${what}`);
      t.equal(await codeOf(peer.request({ op: 'kv.reap', key: target, record })), code, `kv.reap: ${what}`);
    }
    t.same(await keysLost(a, 1), [], `${keyName(0)} is as written`);
  });

  await t.test('3: kv.reap drops nothing its own grace period keeps', async (t) => {
    await plain.put('reap-me', 'soon deleted');
    await plain.delete('reap-me');
    const key = b64('reap-me');
    const { record } = await peer.request({ op: 'kv.read', key });
    t.same(
      (record as { siblings: unknown[][] }).siblings.map((s) => s[4]),
      [null],
      'a holds the tombstone',
    );
    t.equal(await codeOf(plain.request({ op: 'kv.reap', key, record })), 'KV_FORBIDDEN', 'kv.reap from a plain connection');
    const asked = await peer.request({ op: 'kv.reap', key, record });
    t.equal(asked.dropped, false, 'a tombstone younger than the grace period stays, whoever asks');
    t.same((await peer.request({ op: 'kv.read', key })).record, record, 'and is still there');
    const live = (await peer.request({ op: 'kv.read', key: b64(keyName(1)) })).record;
    t.equal((await peer.request({ op: 'kv.reap', key: b64(keyName(1)), record: live })).dropped, false, 'a value is no tombstone');
    const forged = wireRecord([{ actor: 'evil~1', counter: 7, value: null }]);
    t.equal((await peer.request({ op: 'kv.reap', key: b64(keyName(2)), record: forged })).dropped, false, 'a tombstone the node does not hold');
    t.equal((await plain.request({ op: 'reap' })).reaped, 0, "the node's own reaper keeps the young tombstone too");
    t.same((await peer.request({ op: 'kv.read', key })).record, record, 'which is still there');
    t.same(await keysLost(a, 3), [], 'the values asked about read back');
  });

  await t.test('4: keys no client could write', async (t) => {
    const keysBefore = (await plain.stats()).keys;
    const record = wireRecord([{ actor: 'evil~1', value: 'x' }]);
    const cases: [string, string, string][] = [
      ['an empty key', '', 'KV_BAD_REQUEST'],
      ['a 100 KB key', b64(Buffer.alloc(100_000, 'k')), 'KV_BAD_REQUEST'],
      // (A key that is not base64 cannot be sent: frames carry a key's bytes.)
    ];
    for (const [what, key, code] of cases) {
      t.equal(await codeOf(peer.request({ op: 'ae.store', peer: b.name, items: [{ key, record }] })), code, `ae.store: ${what}`);
      t.equal(await codeOf(peer.request({ op: 'kv.replicate', key, record })), code, `kv.replicate: ${what}`);
      t.equal(await codeOf(plain.request({ op: 'ae.store', peer: b.name, items: [{ key, record }] })), 'KV_FORBIDDEN', `from a plain connection: ${what}`);
    }
    t.equal((await plain.stats()).keys, keysBefore, 'nothing was stored');
  });

  await t.test('5: siblings past --max-siblings, in one record, by merges, or as hints', async (t) => {
    const rssBefore = rssBytes(a.pid);
    const key = 'sibling-target';
    await plain.put(key, 'original');
    const oneWriter = { clock: [['w', 20_000]], siblings: Array.from({ length: 20_000 }, (_, i) => ['w', i + 1, Date.now(), 0, b64('x')]) };
    t.equal(
      await codeOf(peer.request({ op: 'kv.replicate.many', items: [{ key: b64(key), record: oneWriter }] })),
      'KV_BAD_REQUEST',
      'a record of 20,000 siblings',
    );
    // Records each within the limit, that a merge would add up: by many writers, 64 siblings each.
    const items = (hintFor?: string) =>
      Array.from({ length: 100 }, (_, i) => ({
        key: b64(key),
        record: wireRecord(Array.from({ length: MAX_SIBLINGS }, (_, j) => ({ actor: `writer-${i}-${j}`, value: `v${i}-${j}` }))),
        ...(hintFor ? { hintFor } : {}),
      }));
    const merged = (await peer.request({ op: 'kv.replicate.many', items: items() })).results as ({ code: string } | null)[];
    t.ok(
      merged.every((r) => r?.code === 'KV_TOO_MANY_SIBLINGS'),
      'merged into the key, each would be one sibling too many: KV_TOO_MANY_SIBLINGS',
    );
    const hinted = (await peer.request({ op: 'kv.replicate.many', items: items(c.name) })).results as ({ code: string } | null)[];
    t.equal(hinted.filter((r) => r === null).length, 1, 'as hints for a known node: the first is held');
    t.ok(
      hinted.every((r) => r === null || r.code === 'KV_TOO_MANY_SIBLINGS'),
      'and every other one would make it one sibling too many',
    );
    const growth = rssBytes(a.pid) - rssBefore;
    t.ok(growth < 200 * 1024 * 1024, `the daemon's memory grew by ${Math.round(growth / 1024 / 1024)} MB (it once reached 2.6 GB)`);

    // The key keeps a usable context: a get's context resolves everything it shows.
    const got = await plain.get(key);
    t.ok(got.values.length <= 2 * MAX_SIBLINGS + 1, `a get shows ${got.values.length} values`);
    await plain.put(key, 'resolved', { context: got.context });
    for (const d of nodes) {
      const client = await KvClient.connect(d.addr);
      await waitFor(async () => (await client.get(key)).values.map(String).join() === 'resolved', `${d.name} to read the resolved value`);
      await client.close();
    }
    t.pass('the put with that context resolved every sibling, on every node');
  });

  await t.test('7: contexts at the counter limit or naming invented writers', async (t) => {
    const key = 'context-target';
    const { context } = await plain.put(key, 'v1');
    const [actor] = [...decodeContext(context, Buffer.from(key)).keys()] as [string];
    const token = (entries: [string, number][]) => encodeContext(Buffer.from(key), new Map(entries));
    const atLimit = token([[actor, 2 ** 48 - 1]]);
    t.equal(await codeOf(plain.put(key, 'v2', { context: atLimit })), 'KV_BAD_CONTEXT', 'a put with a counter at 2^48-1');
    t.equal(await codeOf(plain.delete(key, { context: atLimit })), 'KV_BAD_CONTEXT', 'a delete with it');
    t.equal(await codeOf(plain.put(key, 'v2', { context: token([['someone~else', 2 ** 48 - 1]]) })), 'KV_BAD_CONTEXT', "another writer's counter at 2^48-1");
    t.equal(
      await codeOf(peer.request({ op: 'kv.coordinate', key: b64(key), value: b64('v2'), context: atLimit })),
      'KV_BAD_CONTEXT',
      'kv.coordinate from a peer',
    );
    // 255 invented writers per put grew the clock past what a context may carry: the key's own context was refused from then on.
    const invented = token([[actor, 1000], ...Array.from({ length: 255 }, (_, i): [string, number] => [`ghost-${i}`, 1])]);
    t.equal(await codeOf(plain.put(key, 'v2', { context: invented })), 'KV_BAD_CONTEXT', 'a context naming 255 writers the key never had');
    t.equal(
      await codeOf(plain.put(key, 'v2', { context: token([[actor, 2 ** 47 + 1]]) })),
      'KV_BAD_CONTEXT',
      'above 2^47, a counter the key never had (the store did not issue it)',
    );
    t.equal(await codeOf(plain.put(key, 'v2', { context: token([[actor, 2 ** 47]]) })), undefined, 'at 2^47: taken');
    const got = await plain.get(key);
    t.same(got.values.map(String), ['v2'], 'and its context…');
    t.equal(await codeOf(plain.put(key, 'v3', { context: got.context })), undefined, '…is taken back');
    for (const d of nodes) {
      const client = await KvClient.connect(d.addr);
      await client.put(key, `by ${d.name}`);
      await client.delete(key);
      await client.put(key, `v5 by ${d.name}`);
      t.same((await client.get(key)).values.map(String), [`v5 by ${d.name}`], `the key stays writable through ${d.name}: put, delete, put`);
      await client.close();
    }
  });

  await t.test('8: hints for nodes that do not exist', async (t) => {
    // Hints stored so far (a counter that only grows: hints of earlier groups may be delivered meanwhile).
    const storedBefore = ((await plain.stats()).hints as { stored: number }).stored;
    const record = wireRecord([{ actor: 'evil~1', value: 'x' }]);
    t.equal(await codeOf(peer.request({ op: 'kv.replicate', key: b64('hinted'), record, hintFor: 'ghost-node' })), 'KV_BAD_REQUEST', 'one hint');
    const items = Array.from({ length: 1000 }, (_, i) => ({ key: b64(`hinted-${i}`), record, hintFor: `ghost-${i % 50}` }));
    const results = (await peer.request({ op: 'kv.replicate.many', items })).results as ({ code: string } | null)[];
    t.ok(
      results.every((r) => r?.code === 'KV_BAD_REQUEST'),
      '1,000 hints for 50 invented nodes: each KV_BAD_REQUEST',
    );
    t.equal(((await plain.stats()).hints as { stored: number }).stored, storedBefore, 'no hint stored');
    t.equal(await codeOf(plain.request({ op: 'kv.replicate.many', items: items.slice(0, 10) })), 'KV_FORBIDDEN', 'from a plain connection');
  });

  await nothingLost(t, nodes, KEYS);
});

t.test('gossip from a peer cannot invent members that take the data, silence a node, move it, or flood the table', async (t) => {
  const nodes = await startCluster(t, 3, FAST);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  await writeKeys(a, KEYS);
  const cluster = await gossipCluster(a);
  const peer = await attackerPeer(t, a);
  const plain = await plainClient(t, a);
  const ack = await ackEverything(t);
  const push = (members: WireMember[], fields: Record<string, unknown> = { cluster }) => peer.request({ op: 'gossip.push', members, ...fields });
  const known = async (d: Daemon) => (await membersOf(d)).map((m) => m.name).sort();
  const realNames = nodes.map((d) => d.name).sort();

  await t.test('1: three invented members of weight 64', async (t) => {
    const future = Date.now() + 365 * 24 * 3600 * 1000;
    const invented = ['f1', 'f2', 'f3'].map((name) => fakeMember(name, { generation: future, weight: 64, addr: ack.addr }));
    t.equal(await codeOf(plain.request({ op: 'gossip.push', cluster, members: invented })), 'KV_FORBIDDEN', 'from a plain connection');
    await push(invented);
    t.same(await known(a), realNames, 'with a generation a year ahead: refused, none is learned');

    // Plausible ones, at a real node's address, this node's own, and one that acknowledges everything.
    let heartbeat = 1;
    const plausible = [
      fakeMember('f1', { weight: 64, addr: b.addr }),
      fakeMember('f2', { weight: 64, addr: a.addr }),
      fakeMember('f3', { weight: 64, addr: ack.addr }),
    ];
    const beat = (status: WireMember['status']) => push(plausible.map((m) => ({ ...m, heartbeat: ++heartbeat, status })));
    await beat('up');
    const ring = await plain.request({ op: 'ring' });
    const share = (ring.nodes as { name: string; ownership: number }[]).filter((n) => n.name.startsWith('f')).reduce((sum, n) => sum + n.ownership, 0);
    t.ok(share > 2.5, `the invented members would hold ${share.toFixed(2)} of the 3 copies of every key`);
    // Kept alive, as a lying peer would, until every node tried to hand its keys to them.
    for (const d of nodes) {
      await waitFor(
        async () => {
          await beat('up');
          return readFileSync(d.logFile, 'utf8').includes('ownership transfer incomplete');
        },
        `${d.name} to try handing its keys to the invented members`,
        20_000,
      );
    }
    await beat('left');
    await waitForHandoff(nodes);
    for (const d of nodes) {
      const client = await KvClient.connect(d.addr);
      t.equal(((await client.stats()).handoff as { forgottenKeys: number }).forgottenKeys, 0, `${d.name} forgot no key`);
      await client.close();
      t.same(await copiesMissing(d, KEYS), [], `${d.name} still holds its copy of every key`);
    }
    t.notOk(
      [...ack.ops.keys()].some((op) => op.startsWith('kv.')),
      `no record reached the address that acknowledges everything (it saw ${[...ack.ops.keys()].join(', ') || 'nothing'})`,
    );
  });

  await t.test('6: a real node silenced, moved, or a join that is not one', async (t) => {
    // Without the version of its slow fields: an entry whose version is above its heartbeat is malformed, and refused whole.
    const { version: _version, ...real } = await entryOf(a, b.name);
    await push([{ ...real, generation: 2 ** 53 - 1, heartbeat: 0 }]);
    t.equal((await entryOf(a, b.name)).generation, real.generation, `${b.name}'s generation at 2^53-1: refused`);
    await push([{ ...real, heartbeat: real.heartbeat + 1, addr: ack.addr }]);
    t.equal((await entryOf(a, b.name)).addr, b.addr, `${b.name} moved without a restart: refused`);

    // Within the clock skew it would be taken: a node restarted nine minutes from now, elsewhere:
    // at a proxy that records what it forwards to another real node (which proves the secret).
    const proxy = await recordingProxy(() => c.addr);
    t.teardown(() => proxy.close());
    const lie = Date.now() + 9 * 60_000;
    await push([{ ...real, generation: lie, heartbeat: 0, addr: `127.0.0.1:${proxy.port}` }]);
    const writes = Array.from({ length: 20 }, (_, i) => plain.put(`while-moved-${i}`, `v${i}`));
    t.same(
      (await Promise.allSettled(writes)).filter((r) => r.status === 'rejected'),
      [],
      'writes go on',
    );
    for (const d of nodes) {
      await waitFor(async () => (await entryOf(d, b.name)).generation > lie, `${d.name} to hear ${b.name} refute the lie`);
      const entry = await entryOf(d, b.name);
      t.same([entry.generation, entry.addr], [lie + 1, b.addr], `${d.name}: ${b.name} refuted it (a generation above the lie, its own address)`);
    }
    await sleep(DOWN_AFTER_MS + 500);
    for (const d of nodes) t.same(await upMembers(d), realNames, `${d.name} sees ${b.name} up and alive, past the time it would be down`);
    t.ok(proxy.captured().includes('peer.hello'), `${a.name} did connect to the address it was told`);
    t.notOk(proxy.captured().includes(b64('while-moved-').slice(0, 16)), `no write for ${b.name} went through it to ${c.name}`);
    const client = await KvClient.connect(a.addr);
    for (let i = 0; i < 20; i++) t.same((await client.get(`while-moved-${i}`)).values.map(String), [`v${i}`], `while-moved-${i} reads back`);
    await client.close();

    t.equal(await codeOf(push([fakeMember('j')], { join: true, cluster: { id: 'another' } })), 'KV_BAD_REQUEST', 'a joiner naming a cluster id');
    t.equal(await codeOf(push([fakeMember('j')], { join: true, cluster: { n: 5 } })), 'KV_CLUSTER_MISMATCH', 'a joiner contradicting the settings');
    t.equal(await codeOf(push([fakeMember('j')], { cluster: { ...cluster, id: 'another' } })), 'KV_CLUSTER_MISMATCH', 'gossip of another cluster');
    t.equal(await codeOf(push([fakeMember('j')], {})), 'KV_BAD_REQUEST', 'gossip naming no cluster, without join');
    t.equal(await codeOf(plain.request({ op: 'gossip.push', join: true, members: [fakeMember('j')] })), 'KV_FORBIDDEN', 'a join from a plain connection');
    const before = await known(a);
    await push([fakeMember('j1', { generation: 2 ** 53 - 1 }), fakeMember('j2', { heartbeat: 2 ** 52 })], { join: true });
    t.same(await known(a), before, 'a join carrying entries no node could have said: none is learned');
  });

  await t.test('6: ghosts and floods', async (t) => {
    const before = await Promise.all(nodes.map(known));
    const ghosts = (count: number) => Array.from({ length: count }, (_, i) => fakeMember(`ghost-${i}`, { status: 'left' }));
    t.equal(await codeOf(push(ghosts(5000))), 'KV_BAD_REQUEST', `5,000 entries: more than a table holds (${MAX_TABLE_MEMBERS})`);
    // Asking for the whole table back (as a full sync does): it holds no ghost.
    const reply = await push(ghosts(2000), { cluster, full: true });
    t.equal((reply.members as unknown[]).length, before[0]?.length, 'members that left, never known: not learned (the answer, and gossip, stay small)');
    const watch = pingWatch(a);
    const started = Date.now();
    t.equal(await codeOf(push(Array.from({ length: 4000 }, (_, i) => fakeMember(`fake-${i}`)))), 'KV_BAD_REQUEST', '4,000 members: refused');
    t.ok(Date.now() - started < 2000, 'at once');
    const worst = await watch.stop();
    t.ok(worst < 1000, `a ping answered within ${worst} ms meanwhile`);
    t.same(await Promise.all(nodes.map(known)), before, 'every node knows whom it knew before');
  });

  await nothingLost(t, nodes, KEYS);
  t.same(await copiesMissing(c, KEYS), [], `${c.name} holds every key`);
});

t.test('a flood of plausible members of weight 64 is bounded, and the node answers meanwhile', async (t) => {
  const nodes = await startCluster(t, 2, FAST);
  const [a, b] = nodes as [Daemon, Daemon];
  const keys = 50;
  await writeKeys(a, keys);
  const peer = await attackerPeer(t, a);
  const cluster = await gossipCluster(a);
  const flood = Array.from({ length: MAX_TABLE_MEMBERS - 2 }, (_, i) => fakeMember(`flood-${i}`, { weight: 64, addr: `127.0.0.1:${1 + (i % 1000)}` }));
  const watch = pingWatch(a);
  const started = Date.now();
  await peer.request({ op: 'gossip.push', cluster, members: flood });
  const pushMs = Date.now() - started;
  await waitFor(async () => (await membersOf(b)).length > 2, `${b.name} to hear of the members ${a.name} took`);
  const worst = await watch.stop();
  t.ok(pushMs < 5000, `the push of ${flood.length} members was answered in ${pushMs} ms (it once took 114 s)`);
  t.ok(worst < 5000, `a ping answered within ${worst} ms throughout`);
  for (const d of nodes) {
    const client = await KvClient.connect(d.addr);
    const ring = await client.request({ op: 'ring' });
    await client.close();
    const weight = (ring.nodes as { status: string; weight: number }[]).filter((n) => n.status === 'up').reduce((sum, n) => sum + n.weight, 0);
    t.ok(weight <= MAX_RING_WEIGHT, `${d.name}: the ring holds ${weight} units of weight (at most ${MAX_RING_WEIGHT})`);
  }
  await peer.request({ op: 'gossip.push', cluster, members: flood.map((m) => ({ ...m, heartbeat: 2, status: 'left' })) });
  const upStatus = async (d: Daemon) =>
    (await membersOf(d))
      .filter((m) => m.status === 'up')
      .map((m) => m.name)
      .sort();
  for (const d of nodes) await waitFor(async () => (await upStatus(d)).length === 2, `${d.name} to see the invented members leave`);
  await waitForHandoff(nodes);
  await nothingLost(t, nodes, keys);
  for (const d of nodes) t.same(await copiesMissing(d, keys), [], `${d.name} holds every key`);
});

t.test('9: leave needs the admin token on a node that takes tokens; the node keeps running', async (t) => {
  const dir = tempDir(t);
  const tokens = { read: newSecret(randomBytes), write: newSecret(randomBytes), admin: newSecret(randomBytes) };
  const tokenFile = writeSecretFile(dir, 'tokens', [`read ${tokens.read}`, `write ${tokens.write}`, `admin ${tokens.admin}`]).file;
  const daemon = await startDaemon(t, { args: ['--client-token-file', tokenFile] });
  const writer = await KvClient.connect(daemon.addr, { token: tokens.write });
  t.teardown(() => writer.close());
  await writer.put('k', 'v');
  const anonymous = await KvClient.connect(daemon.addr);
  t.teardown(() => anonymous.close());
  t.equal(await codeOf(anonymous.request({ op: 'leave' })), 'KV_AUTH_REQUIRED', 'leave without a token');
  for (const role of ['read', 'write'] as const) {
    const client = await KvClient.connect(daemon.addr, { token: tokens[role] });
    for (const op of [{ op: 'leave' }, { op: 'remove', node: 'x' }, { op: 'cluster.set', settings: { r: 1 } }]) {
      t.equal(await codeOf(client.request(op)), 'KV_FORBIDDEN', `${op.op} with a ${role} token`);
    }
    await client.close();
  }
  const cli = await kvctl(['leave', '--addr', daemon.addr, '--json']);
  t.equal(cli.code, 4, 'kvctl leave without a token: exit 4');
  t.equal((JSON.parse(cli.out) as { error?: { code: string } }).error?.code, 'KV_AUTH_REQUIRED');
  t.ok(isAlive(daemon.pid), 'the daemon runs');
  t.equal(await anonymous.ping(), daemon.name, 'and answers');
  const self = (await writer.request({ op: 'members' })).members as { name: string; status: string }[];
  t.same(
    self.map((m) => [m.name, m.status]),
    [[daemon.name, 'up']],
    'still a member, up',
  );
  t.same((await writer.get('k')).values.map(String), ['v'], 'and its data is there');
});
