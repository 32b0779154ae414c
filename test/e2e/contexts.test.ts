/**
 * Contexts against real daemons: a context belongs to the key it was read for (on another key it
 * is KV_BAD_CONTEXT and nothing changes), whether the key travels in UTF-8 or base64, on one node
 * and through a node that forwards the write to the key's replicas; and no context, however high
 * its counters, makes a key unwritable.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { kvctl, startDaemon } from '../helpers/cli.js';
import { startCluster, waitForHandoff } from '../helpers/cluster.js';

t.test("one node: a context read for key A is refused on key B, and B's value is unchanged", async (t) => {
  const daemon = await startDaemon(t);
  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  await client.put('a', 'value of a');
  await client.put('b', 'value of b');
  const readA = await client.get('a');
  const contextB = (await client.get('b')).context;

  await t.rejects(client.put('b', 'overwritten with the context of a', { context: readA.context }), {
    code: 'KV_BAD_CONTEXT',
    message: /read for another key/,
  });
  await t.rejects(client.delete('b', { context: readA.context }), { code: 'KV_BAD_CONTEXT' }, 'a delete too');
  const b = await client.get('b');
  t.same(b.values.map(String), ['value of b'], "b's value is unchanged");
  t.equal(b.context, contextB, "and so is b's clock");

  // The same bytes as a key are the same key, in either encoding on the wire.
  const base64A = Buffer.from('a').toString('base64');
  const written = await client.request({ op: 'put', key: base64A, encoding: 'base64', value: Buffer.from('new a').toString('base64'), context: readA.context });
  t.equal(written.siblings, 1, "a's context, given with a in base64, supersedes what it read");
  t.same((await client.get('a')).values.map(String), ['new a']);

  const cli = await kvctl(['put', 'b', 'from the CLI', '--context', readA.context as string], { env: { KVCTL_ADDR: daemon.addr } });
  t.equal(cli.code, 4, 'kvctl put --context with another key exits 4 (rejected)');
  t.match(cli.stderr, /read for another key.*\[KV_BAD_CONTEXT\]/);
  t.same((await client.get('b')).values.map(String), ['value of b'], 'still unchanged');
});

t.test("a cluster: a forwarded write is held to its key's context as well", async (t) => {
  const nodes = await startCluster(t, 3, ['--n', '2', '--w', '2', '--r', '2']);
  await waitForHandoff(nodes);
  const first = nodes[0]!;
  const client = await KvClient.connect(first.addr);
  t.teardown(() => client.close());
  // Keys whose two replicas do not include the node we talk to: that node forwards their writes.
  const forwarded: string[] = [];
  for (let i = 0; forwarded.length < 2 && i < 1000; i++) {
    const ring = await client.request({ op: 'ring', key: `key-${i}` });
    const primaries = (ring.preferenceList as { name: string; role: string }[]).filter((p) => p.role === 'primary').map((p) => p.name);
    if (!primaries.includes(first.name)) forwarded.push(`key-${i}`);
  }
  const [a, b] = forwarded as [string, string];
  t.ok(a && b, 'two keys this node does not hold');
  await client.put(a, 'value of a');
  await client.put(b, 'value of b');
  const readA = await client.get(a);
  await t.rejects(client.put(b, 'overwritten', { context: readA.context }), { code: 'KV_BAD_CONTEXT', message: /read for another key/ });
  t.same((await client.get(b)).values.map(String), ['value of b'], "b's value is unchanged");
  const put = await client.put(a, 'new a', { context: readA.context });
  t.equal(put.siblings, 1, "a's own context still works through the forwarding node");
  const stats = await client.stats();
  t.same([(stats.ops as { forwarded: number }).forwarded, (stats.ops as { puts: number }).puts], [3, 0], 'every write was forwarded: none was applied here');
});

/** A context written by hand for `key`, as the README says tokens are made. */
function forgedContext(key: string, entries: [string, number][]): string {
  const tag = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
  return Buffer.from(JSON.stringify([tag, entries])).toString('base64url');
}

/** The actor of a one-entry context, as a put through that node returns it. */
const actorOf = (context: string): string => (JSON.parse(Buffer.from(context, 'base64url').toString()) as [string, [string, number][]])[1][0]![0];

t.test('a cluster: a forged context at the largest counter taken leaves the key writable, with and without contexts', async (t) => {
  const nodes = await startCluster(t, 3); // N=3: every node holds every key, so node1 coordinates here
  const clients = await Promise.all(nodes.map((n) => KvClient.connect(n.addr)));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const [client] = clients as [KvClient];
  const actor = actorOf((await client.put('k', 'first')).context);

  // 2^47 for the coordinating replica: the largest counter a context may claim on any key.
  const forged = await client.put('k', 'forged', { context: forgedContext('k', [[actor, 2 ** 47]]) });
  t.equal(forged.siblings, 1, 'the forged write is taken and supersedes the first value');
  const read = await client.get('k');
  t.same(read.values.map(String), ['forged']);

  // Everything after it works: on a replica that refused the record, or a context refused on echo, these failed.
  const steps: [string, () => Promise<unknown>][] = [
    ['a put with the context of a read', async () => client.put('k', 'with context', { context: read.context })],
    ['a plain put', async () => client.put('k', 'plain')],
    ['a delete with the context of a read', async () => client.delete('k', { context: (await client.get('k')).context })],
    ['a put after the delete', async () => client.put('k', 'again')],
    ['a plain delete', async () => client.delete('k')],
    ['a last put', async () => client.put('k', 'last')],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
      t.pass(name);
    } catch (err) {
      t.fail(`${name}: ${(err as { code?: string }).code} ${(err as Error).message}`);
    }
  }
  for (const [i, c] of clients.entries()) t.same((await c.get('k')).values.map(String), ['last'], `node${i + 1} reads the last put`);

  // Above 2^47 and more than the key ever had: refused at the write, and nothing changes.
  const before = await client.get('k');
  await t.rejects(client.put('k', 'spent', { context: forgedContext('k', [[actor, 2 ** 47 + 100]]) }), {
    code: 'KV_BAD_CONTEXT',
    message: /above 2\^47/,
  });
  await t.rejects(client.delete('k', { context: forgedContext('k', [['node9~00000000', 2 ** 47 + 1]]) }), { code: 'KV_BAD_CONTEXT' });
  // At the limit of what a record stores, no write could count on: refused as it is read.
  await t.rejects(client.put('k', 'spent', { context: forgedContext('k', [[actor, 2 ** 48 - 1]]) }), { code: 'KV_BAD_CONTEXT', message: /2\^48 - 2/ });
  const after = await client.get('k');
  t.same([after.values.map(String), after.context], [before.values.map(String), before.context], 'the refused writes changed nothing');
  t.equal((await client.put('k', 'still writable')).siblings, 1);
});
