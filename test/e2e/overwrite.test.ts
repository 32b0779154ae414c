/**
 * Everyday write semantics through the real CLI and real daemons: a plain put or delete overwrites
 * (supersedes what a read at R sees), --keep-siblings keeps the add-a-sibling write, get of a key
 * with siblings is never ambiguous on stdout, and contexts that are not contexts are usage errors.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, kvctl, startDaemon } from '../helpers/cli.js';
import { heal, isolate, startCluster } from '../helpers/cluster.js';

const EMPTY_CONTEXT = 'W10';

t.test('one node: plain overwrites leave one version; --keep-siblings keeps them; get never prints siblings ambiguously', async (t) => {
  const daemon: Daemon = await startDaemon(t);
  const env = { KVCTL_ADDR: daemon.addr };

  for (const v of ['a', 'b', 'c']) t.equal((await kvctl(['put', 'k', v], { env })).code, 0);
  const got = await kvctl(['get', 'k'], { env });
  t.equal(got.code, 0);
  t.equal(got.out, 'c', 'the last plain put wins, with nothing else on stdout');

  // 200 plain overwrites of one key: far past the sibling limit had they piled up.
  const client = await KvClient.connect(daemon.addr);
  for (let i = 0; i < 200; i++) {
    const reply = await client.put('loop', `v${i}`);
    if (reply.siblings !== 1) t.fail(`overwrite ${i} left ${reply.siblings} siblings`);
  }
  const loop = await client.get('loop');
  t.same(
    loop.values.map((v) => v.toString()),
    ['v199'],
    'an overwrite loop leaves exactly one version',
  );

  // Concurrent plain puts through one coordinator are ordered by it: still one version.
  await Promise.all(Array.from({ length: 50 }, (_, i) => client.put('burst', `b${i}`)));
  t.equal((await client.get('burst')).values.length, 1, '50 concurrent plain puts through one node leave one version');
  await client.close();

  t.equal((await kvctl(['put', 'cart', 'apples'], { env })).code, 0);
  const kept = await kvctl(['put', 'cart', 'pears', '--keep-siblings'], { env });
  t.equal(kept.code, 0);
  t.match(kept.stderr, /2 concurrent values/, 'the put says it left siblings');
  const ambiguous = await kvctl(['get', 'cart'], { env });
  t.equal(ambiguous.code, 7, 'get of siblings exits 7');
  t.equal(ambiguous.out, '', 'and prints nothing on stdout');
  t.match(ambiguous.stderr, /"cart" holds 2 concurrent values.*\[KV_SIBLINGS\]/);
  const all = await kvctl(['get', 'cart', '--all'], { env });
  t.equal(all.code, 0);
  t.equal(all.out, 'apples\npears\n', '--all prints every sibling');
  const json = await kvctl(['get', 'cart', '--json'], { env });
  t.equal(json.code, 0);
  const doc = JSON.parse(json.out) as { values: string[]; context: string };
  t.same(doc.values, ['apples', 'pears']);
  const resolved = await kvctl(['put', 'cart', 'apples+pears', '--context', doc.context], { env });
  t.equal(resolved.code, 0);
  t.equal((await kvctl(['get', 'cart'], { env })).out, 'apples+pears', 'a put with the context resolves the siblings');

  // The sibling limit still holds for --keep-siblings writes, and its error names the key.
  const limited: Daemon = await startDaemon(t, { args: ['--max-siblings', '3'] });
  const limitedEnv = { KVCTL_ADDR: limited.addr };
  for (const v of ['1', '2', '3']) t.equal((await kvctl(['put', 'many', v, '--keep-siblings'], { env: limitedEnv })).code, 0);
  const refused = await kvctl(['put', 'many', '4', '--keep-siblings'], { env: limitedEnv });
  t.equal(refused.code, 4);
  t.match(refused.stderr, /key "many" already holds 3 concurrent values.*\[KV_TOO_MANY_SIBLINGS\]/);
  t.equal((await kvctl(['put', 'many', 'one'], { env: limitedEnv })).code, 0, 'a plain put replaces them all');
  t.equal((await kvctl(['get', 'many'], { env: limitedEnv })).out, 'one');
});

t.test('contexts: a missing key has one a create can use; "" and null are usage errors', async (t) => {
  const daemon: Daemon = await startDaemon(t);
  const env = { KVCTL_ADDR: daemon.addr };
  const missing = await kvctl(['get', 'fresh', '--json'], { env });
  t.equal(missing.code, 1);
  const doc = JSON.parse(missing.out) as { found: boolean; context: string };
  t.equal(doc.found, false);
  t.equal(doc.context, EMPTY_CONTEXT, 'a missing key gives the empty context, not null');
  t.equal((await kvctl(['put', 'fresh', 'created', '--context', doc.context], { env })).code, 0);
  // A second create with the same (stale) context is concurrent with the first: both survive.
  t.equal((await kvctl(['put', 'fresh', 'other', '--context', doc.context], { env })).code, 0);
  t.equal((await kvctl(['get', 'fresh', '--all'], { env })).out, 'created\nother\n', 'two creates from one read become siblings');

  for (const bad of ['', 'null']) {
    const r = await kvctl(['put', 'fresh', 'x', '--context', bad], { env });
    t.equal(r.code, 2, `--context ${JSON.stringify(bad)} is a usage error`);
    t.match(r.stderr, /is not a context.*\[KV_USAGE\]/);
    const d = await kvctl(['delete', 'fresh', '--context', bad], { env });
    t.equal(d.code, 2, `delete --context ${JSON.stringify(bad)} is a usage error`);
  }
  const both = await kvctl(['put', 'fresh', 'x', '--context', doc.context, '--keep-siblings'], { env });
  t.equal(both.code, 2, '--keep-siblings and --context exclude each other');
  const wire = await KvClient.connect(daemon.addr);
  const reply = await wire.request({ op: 'put', key: 'fresh', value: 'x', context: '' }).catch((err: { code: string }) => err);
  t.equal((reply as { code?: string }).code, 'KV_BAD_CONTEXT', 'on the wire too, an empty context is refused');
  await wire.close();
  t.equal((await kvctl(['get', 'fresh', '--all'], { env })).out, 'created\nother\n', 'refused writes changed nothing');
});

t.test('three nodes: sequential plain writes through different coordinators never pile up; a partition still makes siblings', async (t) => {
  const nodes = await startCluster(t, 3, ['--testing-faults', '--request-timeout-ms', '1000']);
  const clients = await Promise.all(nodes.map((d) => KvClient.connect(d.addr)));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));

  for (let i = 0; i < 60; i++) {
    const reply = await (clients[i % 3] as KvClient).put('seq', `s${i}`);
    if (reply.siblings !== 1) t.fail(`write ${i} through node ${(i % 3) + 1} left ${reply.siblings} siblings`);
  }
  for (const c of clients) {
    t.same((await c.get('seq', { r: 3 })).values.map(String), ['s59'], 'every node reads only the last write');
  }
  // Deletes without a context are plain too: one delete hides the key for everyone.
  await (clients[1] as KvClient).delete('seq');
  t.equal((await (clients[2] as KvClient).get('seq', { r: 3 })).found, false);

  // Cut node1 off; write through node1 (sloppy, W=1) and through node2: the writes are concurrent.
  const [n1, n2] = nodes as [Daemon, Daemon, Daemon];
  await (clients[0] as KvClient).put('split', 'before');
  await isolate(nodes, n1);
  await (clients[0] as KvClient).put('split', 'from-node1', { w: 1, consistency: 'sloppy' });
  await (clients[1] as KvClient).put('split', 'from-node2', { w: 1, consistency: 'sloppy' });
  await heal(nodes);
  const after = await (clients[2] as KvClient).get('split', { r: 3 });
  t.same(after.values.map(String).sort(), ['from-node1', 'from-node2'], 'writes on both sides of a partition both survive as siblings');
  const cli = await kvctl(['get', 'split'], { env: { KVCTL_ADDR: n2.addr } });
  t.equal(cli.code, 7, 'and a plain get says so instead of printing one');
  await (clients[2] as KvClient).put('split', 'merged');
  t.same((await (clients[0] as KvClient).get('split', { r: 3 })).values.map(String), ['merged'], 'a plain put after the partition replaces both');
});
