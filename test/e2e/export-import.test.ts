/**
 * kvctl export and import through the real CLI on real daemons: a dump holds every version
 * (siblings, a deletion concurrent with a value, binary values, deadlines) and reproduces every
 * key, sibling and context in an empty cluster; importing it again, or into the cluster it came
 * from, changes nothing; a bad line is refused on its own.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, killHard, kvctl, startDaemon } from '../helpers/cli.js';
import { clusterSecretFile, startCluster, stats, waitForHandoff, waitForHealth, waitForMembers } from '../helpers/cluster.js';

const lines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Every kind of record a dump must carry, written through `addr`. */
async function fill(addr: string): Promise<void> {
  const client = await KvClient.connect(addr);
  try {
    for (let i = 0; i < 200; i++) await client.put(`plain:${String(i).padStart(3, '0')}`, `value ${i}`);
    await client.put('cart', 'apples');
    const seen = (await client.get('cart')).context;
    await client.put('cart', 'apples, pears', { context: seen }); // two clients from one read: siblings
    await client.put('cart', 'apples, plums', { context: seen });
    await client.put('doc', 'v1');
    const read = (await client.get('doc')).context;
    await client.put('doc', 'v2', { context: read });
    await client.delete('doc', { context: read }); // a deletion concurrent with v2: both kept
    await client.put(Buffer.from([0xff, 0x00, 0xfe]), Buffer.from([0x00, 0x01, 0xff]));
    await client.put('session', 'token', { ttlMs: 3_600_000 });
    await client.put('gone', 'x');
    await client.delete('gone');
  } finally {
    await client.close();
  }
}

t.test('a dump reproduces every key, sibling and context in an empty cluster; importing again changes nothing', async (t) => {
  const source = await startCluster(t, 3);
  await waitForMembers(source, 3);
  const [a] = source as [Daemon];
  await fill(a.addr);
  const dump = await kvctl(['export', '--addr', a.addr]);
  t.equal(dump.code, 0, dump.stderr);
  const exported = lines(dump.out);
  t.equal(exported.length, 204, '200 plain keys, cart, doc, a binary key and session; the deleted key is left out');
  t.ok(
    exported.every((l) => l.v === 1),
    'every line says its format version',
  );
  const byKey = new Map(exported.map((l) => [l.key, l]));
  const versionsOf = (key: string) => (byKey.get(key)?.versions ?? []) as { deleted?: boolean; expiresAt?: number }[];
  t.equal(versionsOf('cart').length, 2, 'both concurrent carts');
  t.same(
    versionsOf('doc')
      .map((v) => v.deleted === true)
      .sort(),
    [false, true],
    'the value and the deletion concurrent with it',
  );
  t.ok(versionsOf('session')[0]?.expiresAt, 'the deadline travels');
  t.ok(
    exported.some((l) => l.encoding === 'base64' && l.key === Buffer.from([0xff, 0x00, 0xfe]).toString('base64')),
    'the binary key, in base64',
  );

  // Into the cluster it came from: nothing changes.
  const again = await kvctl(['import', '--addr', a.addr], { input: dump.out });
  t.equal(again.code, 0, again.stderr);
  t.equal((await kvctl(['export', '--addr', a.addr])).out, dump.out, 'the source cluster exports the same dump after importing it');

  // Into an empty cluster: the same dump back, contexts included; twice: still the same.
  const target = await startDaemon(t);
  const imported = await kvctl(['import', '--addr', target.addr, '--json'], { input: dump.out });
  t.equal(imported.code, 0, imported.stderr);
  const summary = lines(imported.out).at(-1);
  t.same([summary?.ok, summary?.lines, summary?.imported, summary?.failed], [true, 204, 204, 0]);
  t.equal((await kvctl(['export', '--addr', target.addr])).out, dump.out, 'the empty cluster exports the same dump');
  const keysBefore = (await stats(target)).keys;
  t.equal((await kvctl(['import', '--addr', target.addr], { input: dump.out })).code, 0);
  t.equal((await kvctl(['export', '--addr', target.addr])).out, dump.out, 'importing twice changes nothing');
  t.equal((await stats(target)).keys, keysBefore);
  const cart = await kvctl(['get', 'cart', '--json', '--addr', target.addr]);
  t.same(JSON.parse(cart.out).values.sort(), ['apples, pears', 'apples, plums'], 'siblings as they were');
  t.equal(JSON.parse(cart.out).context, byKey.get('cart')?.context, 'with the context the source gave');
  const bin = await KvClient.connect(target.addr);
  t.teardown(() => bin.close());
  t.same((await bin.get(Buffer.from([0xff, 0x00, 0xfe]))).values, [Buffer.from([0x00, 0x01, 0xff])], 'binary values byte for byte');
});

t.test('bad lines are refused one by one; a version the cluster superseded stays superseded', async (t) => {
  const daemon = await startDaemon(t);
  await kvctl(['put', 'k', 'old', '--addr', daemon.addr]);
  const dump = (await kvctl(['export', '--addr', daemon.addr])).out;
  await kvctl(['put', 'k', 'new', '--addr', daemon.addr]); // supersedes the exported version
  const input = `${dump}not json\n{"v":2,"key":"x","encoding":"utf8","clock":[],"versions":[]}\n${JSON.stringify({ ...lines(dump)[0], clock: [] })}\n`;
  const result = await kvctl(['import', '--addr', daemon.addr, '--json'], { input });
  t.equal(result.code, 4, 'exit 4: some lines failed');
  const out = lines(result.out);
  t.same(
    out.filter((l) => l.ok === false && l.line !== undefined).map((l) => [l.line, (l.error as { code: string }).code]),
    [
      [2, 'KV_BAD_JSON'],
      [3, 'KV_BAD_IMPORT'],
      [4, 'KV_BAD_IMPORT'],
    ],
  );
  t.same([out.at(-1)?.imported, out.at(-1)?.failed], [1, 3]);
  t.equal((await kvctl(['get', 'k', '--addr', daemon.addr])).out, 'new', 'the older exported version did not come back');
});

t.test('export while a node is down and during a join gives the same dump', async (t) => {
  const nodes = await startCluster(t, 3);
  await waitForMembers(nodes, 3);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  await fill(a.addr);
  const before = await kvctl(['export', '--addr', a.addr]);
  t.equal(before.code, 0, before.stderr);
  const fourth = await startDaemon(t, { args: ['--name', 'node4', '--join', b.addr, '--secret-file', clusterSecretFile(b)] });
  const during = await kvctl(['export', '--addr', fourth.addr]);
  t.equal(during.code, 0, during.stderr);
  t.equal(during.out, before.out, 'through the joining node, while keys move to it');
  await waitForMembers([...nodes, fourth], 4);
  await waitForHandoff([...nodes, fourth]);
  killHard(c.pid);
  await waitForHealth(a, c.name, 'down');
  const down = await kvctl(['export', '--addr', a.addr]);
  t.equal(down.code, 0, down.stderr);
  t.equal(down.out, before.out, "with a node down: R=2 of each key's replicas still answer");
});
