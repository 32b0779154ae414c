/**
 * Records that always fit: on real daemons, writes that would push a key's record over
 * --max-record-bytes are refused with KV_RECORD_TOO_LARGE naming the key, before anything is
 * stored, while every other write through every node goes on and every member stays up; a peer's
 * record over a node's limit is refused on that request only; and anti-entropy meeting a record
 * one node cannot keep counts it and passes over it instead of sending it again every round.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, startDaemon, waitFor } from '../helpers/cli.js';
import { clusterSecretFile, heal, isolate, replicaReader, startCluster, stats, waitForHandoff, waitForHealth, waitForMembers } from '../helpers/cluster.js';
import { b64, codeOf } from '../helpers/hostile.js';

const MiB = 1024 * 1024;

async function clientsOf(t: { teardown: (fn: () => unknown) => void }, nodes: Daemon[]): Promise<KvClient[]> {
  const clients = await Promise.all(nodes.map((d) => KvClient.connect(d.addr, { timeoutMs: 30_000 })));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  return clients;
}

async function upEverywhere(clients: KvClient[], count: number): Promise<boolean> {
  for (const c of clients) {
    const members = (await c.request({ op: 'members' })).members as { health: string; status: string }[];
    if (members.filter((m) => m.health === 'alive' && m.status === 'up').length !== count) return false;
  }
  return true;
}

t.test('siblings of 1 MiB values: the write that would go over the record limit is refused naming the key; the cluster carries on', async (t) => {
  const nodes = await startCluster(t, 3);
  const clients = await clientsOf(t, nodes);
  const [a, b, c] = clients as [KvClient, KvClient, KvClient];
  const values = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
  await a.put('fat', values[0] as Buffer);
  const second = await b.put('fat', values[1] as Buffer, { keepSiblings: true });
  t.equal(second.siblings, 2, 'two 1 MiB values as siblings: 2 MiB, at the default limit');

  let refused: unknown;
  try {
    await c.put('fat', values[2] as Buffer, { keepSiblings: true });
  } catch (err) {
    refused = err;
  }
  t.match(refused, { code: 'KV_RECORD_TOO_LARGE', message: /key "fat"/, details: { key: 'fat', bytes: 3 * MiB, limit: 2 * MiB } }, 'a third refused');
  const binaryKey = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
  await a.put(binaryKey, values[0] as Buffer);
  await b.put(binaryKey, values[1] as Buffer, { keepSiblings: true });
  await t.rejects(c.put(binaryKey, values[2] as Buffer, { keepSiblings: true }), {
    code: 'KV_RECORD_TOO_LARGE',
    details: { key: `base64:${binaryKey.toString('base64')}` },
  });

  // Nothing of the refused write was stored, on any replica; both siblings are there.
  for (const d of nodes) {
    const reader = await replicaReader(d);
    const { record } = await reader.request({ op: 'kv.read', key: b64('fat') });
    await reader.close();
    t.equal((record as { siblings: unknown[] }).siblings.length, 2, `${d.name} holds the two siblings, not the refused third`);
  }
  const got = await a.get('fat', { r: 3 });
  t.same(
    got.values.map((v) => v.equals(values[0] as Buffer) || v.equals(values[1] as Buffer)),
    [true, true],
    'a read at R=3 gets both values back, in one reply',
  );

  // Every later unrelated write, through every node, succeeds; members stay up.
  let failed = 0;
  for (let i = 0; i < 30; i++) {
    for (const [j, client] of clients.entries()) {
      try {
        await client.put(`after-${i}-${j}`, randomBytes(64 * 1024));
      } catch {
        failed++;
      }
    }
  }
  t.equal(failed, 0, '90 later writes through the three nodes all succeeded');
  t.ok(await upEverywhere(clients, 3), 'every node sees three members up');

  // The key stays writable: a write with the context of a read resolves the siblings.
  await c.put('fat', 'small again', { context: got.context });
  t.same((await b.get('fat', { r: 3 })).values.map(String), ['small again']);
});

t.test(
  'a record over one node’s limit: refused by that request only; ownership transfer and anti-entropy count it once instead of sending it again',
  async (t) => {
    const fast = ['--anti-entropy-interval-ms', '300', '--max-value-bytes', '100000', '--testing-faults'];
    const [a, b] = await startCluster(t, 2, fast);
    const secret = clusterSecretFile(a as Daemon);
    // A key whose record the small node will not keep: two siblings of 90 kB, written before it joins.
    const [first, second] = await clientsOf(t, [a, b] as Daemon[]);
    await (first as KvClient).put('wide', randomBytes(90_000));
    await (second as KvClient).put('wide', randomBytes(90_000), { keepSiblings: true });
    // A third node that keeps records of at most 150 kB; the others keep the default.
    const small = await startDaemon(t, {
      dataDir: join((a as Daemon).dataDir, '..', 'small'), // beside the others, by the cluster's secret file
      args: ['--name', 'small', '--join', (a as Daemon).addr, '--secret-file', secret, '--max-record-bytes', '150000', ...fast],
    });
    const nodes = [a, b, small] as Daemon[];
    await waitForMembers(nodes, 3);
    // Ownership transfer hands the small node its keys: the one it refuses is counted, and the hand-off completes.
    await waitForHandoff(nodes);
    let refusedByTransfer = 0;
    for (const d of [a, b] as Daemon[]) refusedByTransfer += ((await stats(d)).handoff as { unsendableRecords: number }).unsendableRecords;
    t.ok(refusedByTransfer >= 1, `ownership transfer counted the record the small node refuses (${refusedByTransfer}) and finished`);
    const clients = await clientsOf(t, nodes);
    const [ca, cs] = [clients[0], clients[2]] as [KvClient, KvClient];

    // A peer's record over the limit: refused with the code, on that request only.
    const peer = await replicaReader(small);
    t.teardown(() => peer.close());
    const big = { clock: [['x~1', 1]], siblings: [['x~1', 1, Date.now(), 0, b64(randomBytes(90_000))]] as unknown[] };
    const bigger = {
      clock: [
        ['x~1', 1],
        ['y~1', 1],
      ],
      siblings: [...big.siblings, ['y~1', 1, Date.now(), 0, b64(randomBytes(90_000))]],
    };
    const reply = await peer.request({
      op: 'kv.replicate.many',
      items: [
        { key: b64('peer-big'), record: bigger },
        { key: b64('peer-ok'), record: big },
      ],
    });
    t.match(
      reply.results,
      [{ code: 'KV_RECORD_TOO_LARGE', details: { key: 'peer-big', limit: 150_000 } }, null],
      'per item: the big one refused, the other stored',
    );
    t.equal(await codeOf(peer.request({ op: 'kv.replicate', key: b64('peer-big'), record: bigger })), 'KV_RECORD_TOO_LARGE');
    t.equal((await peer.request({ op: 'kv.read', key: b64('peer-ok') })).record !== null, true, 'the same connection still serves');

    const unsendable = async () => {
      let sum = 0;
      for (const d of nodes) sum += ((await stats(d)).antiEntropy as { unsendableRecords: number }).unsendableRecords;
      return sum;
    };
    await waitFor(async () => (await unsendable()) > 0, 'anti-entropy to meet the record the small node refuses', 20_000);
    // Each node exchanges with a random peer every round: after a few rounds every pair has met the key.
    const exchanges = async () => Promise.all(nodes.map(async (d) => ((await stats(d)).antiEntropy as { exchanges: number }).exchanges));
    const moreRounds = async (rounds: number) => {
      const before = await exchanges();
      await waitFor(async () => (await exchanges()).every((n, i) => n >= (before[i] as number) + rounds), `${rounds} more exchanges on every node`, 30_000);
    };
    await moreRounds(6);
    const counted = await unsendable();
    t.ok(counted <= 4, `counted ${counted} time(s): once per node and peer that met it (at most 4 with the small node)`);
    await moreRounds(6);
    t.equal(await unsendable(), counted, 'then passed over in later exchanges, not sent again');

    // Writes through every node go on, and a write that resolves the key reaches the small node too.
    for (const [i, client] of clients.entries()) await client.put(`still-${i}`, 'fine');
    const { context } = await ca.get('wide', { r: 2 });
    await ca.put('wide', 'resolved', { context, w: 3 });
    t.same((await cs.get('wide', { r: 3 })).values.map(String), ['resolved'], 'the resolved key reaches every replica');
    t.ok(await upEverywhere(clients, 3), 'every node sees three members up');
  },
);

t.test('a hint its target can never take is dropped with a count, and the hints behind it are delivered', async (t) => {
  const args = ['--anti-entropy-interval-ms', '0', '--max-value-bytes', '100000', '--testing-faults', '--down-after-ms', '1000'];
  const [a, b] = await startCluster(t, 2, [...args, '--n', '2', '--consistency', 'sloppy']);
  const small = await startDaemon(t, {
    dataDir: join((a as Daemon).dataDir, '..', 'small'),
    args: ['--name', 'small', '--join', (a as Daemon).addr, '--secret-file', clusterSecretFile(a as Daemon), '--max-record-bytes', '150000', ...args],
  });
  const nodes = [a, b, small] as Daemon[];
  await waitForMembers(nodes, 3);
  const clients = await clientsOf(t, nodes);
  const byName = new Map(nodes.map((d, i) => [d.name, clients[i] as KvClient]));
  // Two keys whose replicas are the small node and one other: their hints for it wait at the third.
  const keys: { key: string; writer: KvClient; holder: Daemon }[] = [];
  for (let i = 0; keys.length < 2 && i < 500; i++) {
    const key = `hk-${i}`;
    const list = ((await (clients[0] as KvClient).request({ op: 'ring', key })).preferenceList as { name: string }[]).map((p) => p.name);
    if (list.indexOf('small') !== 0 && list.indexOf('small') !== 1) continue;
    const other = list.slice(0, 2).find((n) => n !== 'small') as string;
    const holder = nodes.find((d) => d.name !== 'small' && d.name !== other) as Daemon;
    if (keys.length === 1 && keys[0]?.holder !== holder) continue; // both hints at one node
    keys.push({ key, writer: byName.get(other) as KvClient, holder });
  }
  const [wide, narrow] = keys as [(typeof keys)[0], (typeof keys)[0]];
  await isolate(nodes, small);
  await waitForHealth(a as Daemon, 'small', 'down');
  await waitForHealth(b as Daemon, 'small', 'down');
  await wide.writer.put(wide.key, randomBytes(90_000), { w: 2 });
  await wide.writer.put(wide.key, randomBytes(90_000), { w: 2, keepSiblings: true });
  await narrow.writer.put(narrow.key, 'fits', { w: 2 });
  const hints = async () => (await stats(wide.holder)).hints as { held: number; delivered: number; unsendableRecords: number };
  t.equal((await hints()).held, 2, `${wide.holder.name} holds a hint for each key, one of 180 kB`);

  await heal(nodes);
  await waitFor(async () => (await hints()).held === 0, 'the hints to be delivered or dropped', 20_000);
  const after = await hints();
  t.equal(after.unsendableRecords, 1, 'the hint the small node refuses is dropped, counted once');
  t.equal(after.delivered, 1, 'the other is delivered');
  const reader = await replicaReader(small);
  t.teardown(() => reader.close());
  t.not((await reader.request({ op: 'kv.read', key: b64(narrow.key) })).record, null, 'the small node holds the key that fits');
  t.equal((await reader.request({ op: 'kv.read', key: b64(wide.key) })).record, null, 'and not the one over its limit');
});
