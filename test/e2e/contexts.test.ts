/**
 * Contexts against real daemons: a context belongs to the key it was read for (on another key it
 * is KV_BAD_CONTEXT and nothing changes), whether the key travels in UTF-8 or base64, on one node
 * and through a node that forwards the write to the key's replicas.
 */
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
