/**
 * kvctl scan through the real CLI on three daemons: prefixes, ranges, limits and cursors, values
 * and siblings, NDJSON that a JSON parser takes line by line, bad input refused with stable codes
 * on a connection that keeps working; a node killed by PID before and during a scan (strict fails
 * with the read's codes and a cursor, sloppy goes on marking keys maybeStale); and a client that
 * stops reading stops the scan on every node, the daemons holding no more than the scan window.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { KvError } from '../../src/errors.js';
import { SCAN_WINDOW_BYTES } from '../../src/protocol/scan.js';
import { killHard, kvctl, startDaemon, waitFor } from '../helpers/cli.js';
import { clusterSecretFile, type Daemon, startCluster, stats, waitForHandoff, waitForHealth, waitForMembers } from '../helpers/cluster.js';

const pad = (i: number) => String(i).padStart(4, '0');

/** The NDJSON lines of a scan's stdout, each parsed (a line that is not JSON fails the test). */
function ndjson(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function load(addr: string, keys: string[], value: (key: string) => string): Promise<void> {
  const client = await KvClient.connect(addr);
  try {
    for (let i = 0; i < keys.length; i += 200) await Promise.all(keys.slice(i, i + 200).map((key) => client.put(key, value(key))));
  } finally {
    await client.close();
  }
}

/** kv.scan pages read by every node so far. */
async function scanPages(daemons: Daemon[]): Promise<number> {
  let total = 0;
  for (const d of daemons) total += ((await stats(d)).ops as { scanPages: number }).scanPages;
  return total;
}

t.test('scan on three nodes: prefix, range, limit and cursor, values, siblings, NDJSON, bad input', async (t) => {
  const daemons = await startCluster(t, 3);
  const addr = (daemons[0] as Daemon).addr;
  const users = Array.from({ length: 120 }, (_, i) => `user:${pad(i)}`);
  await load(addr, [...users, 'item:1', 'item:2', 'zebra'], (key) => `value of ${key}`);
  const client = await KvClient.connect(addr);
  t.teardown(() => client.close());
  await client.delete('user:0007');
  await client.put('item:1', 'concurrent', { keepSiblings: true });
  const expected = users.filter((k) => k !== 'user:0007');

  const prefix = await kvctl(['scan', '--addr', addr, '--prefix', 'user:', '--json']);
  t.equal(prefix.code, 0, prefix.stderr);
  const items = ndjson(prefix.out);
  t.same(
    items.map((i) => i.key),
    expected,
    'every live key with the prefix, in order, once; the deleted one left out',
  );
  t.ok(
    items.every((i) => i.encoding === 'utf8' && typeof i.context === 'string' && i.values === undefined),
    'keys with their context, no values unless asked',
  );

  const text = await kvctl(['scan', '--addr', addr, '--start', 'item:', '--end', 'user:0002', '--values']);
  t.equal(text.code, 0, text.stderr);
  t.same(text.out.split('\n'), [
    'item:1\tvalue of item:1\tconcurrent',
    'item:2\tvalue of item:2',
    'user:0000\tvalue of user:0000',
    'user:0001\tvalue of user:0001',
    '',
  ]);

  const siblings = ndjson((await kvctl(['scan', '--addr', addr, '--prefix', 'item:1', '--values', '--json'])).out);
  t.match(siblings, [{ key: 'item:1', values: ['value of item:1', 'concurrent'], siblings: 2 }], 'siblings merged as a get shows them');

  // Paging by --limit and --cursor through the CLI reads every key once.
  const paged: unknown[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await kvctl(['scan', '--addr', addr, '--prefix', 'user:', '--limit', '25', '--json', ...(cursor ? ['--cursor', cursor] : [])]);
    t.equal(page.code, 0, page.stderr);
    const lines = ndjson(page.out);
    const last = lines.at(-1);
    cursor = typeof last?.cursor === 'string' ? last.cursor : undefined;
    paged.push(...lines.filter((l) => l.key !== undefined).map((l) => l.key));
    if (cursor) t.match(page.stderr, `--cursor ${cursor}`, 'the cursor is said on stderr too');
  } while (cursor && ++pages < 20);
  t.same(paged, expected, 'pages of 25 add up to the whole prefix');

  // The client library: an async iterator, pages of a few keys, the full range.
  const all: string[] = [];
  const scan = client.scan({ pageKeys: 7 });
  for await (const item of scan) all.push(item.key.toString());
  t.same(all, [...['item:1', 'item:2'], ...expected, 'zebra']);
  t.equal(scan.cursor, undefined, 'a finished scan has no cursor');
  t.ok(scan.done);

  // Bad input: stable codes, exit 4, and the connection keeps working.
  const range = await kvctl(['scan', '--addr', addr, '--start', 'b', '--end', 'a', '--json']);
  t.equal(range.code, 4);
  t.match(JSON.parse(range.out), { ok: false, error: { code: 'KV_BAD_RANGE' } });
  const badCursor = await kvctl(['scan', '--addr', addr, '--cursor', 'c1.!!', '--json']);
  t.equal(badCursor.code, 4);
  t.match(JSON.parse(badCursor.out), { ok: false, error: { code: 'KV_BAD_CURSOR' } });
  const wire: [Record<string, unknown>, string][] = [
    [{ op: 'scan', limit: 0 }, 'KV_BAD_REQUEST'],
    [{ op: 'scan', limit: 'ten' }, 'KV_BAD_REQUEST'],
    [{ op: 'scan', pageKeys: 1001 }, 'KV_BAD_REQUEST'],
    [{ op: 'scan', prefix: 'x', start: 'y' }, 'KV_BAD_RANGE'],
    [{ op: 'scan', cursor: 'nope' }, 'KV_BAD_CURSOR'],
    [{ op: 'scan', cursor: 'c1.' }, 'KV_BAD_CURSOR'],
    [{ op: 'scan', values: 'yes' }, 'KV_BAD_REQUEST'],
    [{ op: 'scan', r: 4 }, 'KV_INVALID_QUORUM'],
    [{ op: 'scan', start: 'x'.repeat(5000) }, 'KV_KEY_TOO_LARGE'],
    [{ op: 'scan', extra: 1 }, 'KV_BAD_REQUEST'],
  ];
  for (const [body, code] of wire) {
    const got = await client.request(body).then(
      () => 'no error',
      (err: KvError) => err.code,
    );
    t.equal(got, code, JSON.stringify(body).slice(0, 60));
  }
  t.equal((await client.get('zebra')).found, true, 'the connection still serves requests');

  // More scans at once than a connection may run: the extra one is refused, the others finish.
  const many = Array.from({ length: 5 }, () => client.scan({ pageKeys: 1 }));
  const outcomes = await Promise.all(
    many.map(async (s) => {
      let n = 0;
      try {
        for await (const _ of s) n++;
        return n;
      } catch (err) {
        return (err as KvError).code;
      }
    }),
  );
  t.same(outcomes.filter((o) => o === 'KV_TOO_MANY_SCANS').length, 1, 'one of five refused with KV_TOO_MANY_SCANS');
  t.ok(
    outcomes.filter((o) => typeof o === 'number').every((n) => n === expected.length + 3),
    'the four others read every key',
  );
});

t.test('a node killed during and before a scan; a client that stops reading stops the scan everywhere', async (t) => {
  const daemons = await startCluster(t, 3);
  const [first, , victim] = daemons as [Daemon, Daemon, Daemon];
  const keys = Array.from({ length: 3000 }, (_, i) => `k:${pad(i)}`);
  const value = 'v'.repeat(8000);
  await load(first.addr, keys, () => value);

  // A client that reads one line and then stops: the daemons stop within the scan window.
  const stalled = await KvClient.connect(first.addr);
  t.teardown(() => stalled.destroy());
  const lines: Record<string, unknown>[] = [];
  let failure: KvError | undefined;
  let flow: { pause(): void; resume(): void } | undefined;
  flow = stalled.requestStream(
    { op: 'scan', values: true, r: 3 },
    (line) => {
      lines.push(line);
      if (lines.length === 1) flow?.pause();
    },
    (err) => {
      failure = err;
    },
    60_000,
  );
  await waitFor(() => lines.length > 0, 'the first line of the scan');
  // Socket buffers take some of the scan first; then nothing moves.
  let before = -1;
  let unchangedSince = Date.now();
  await waitFor(
    async () => {
      const now = await scanPages(daemons);
      if (now !== before) unchangedSince = Date.now();
      before = now;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return Date.now() - unchangedSince >= 1500;
    },
    'the nodes to stop reading pages',
    30_000,
  );
  t.equal(await scanPages(daemons), before, 'no node reads another page while the client does not read');
  t.notOk(
    lines.some((l) => l.done === true),
    `the scan stopped part way (${before} pages read, ${lines.length} lines taken)`,
  );
  const totalBytes = keys.length * value.length;
  const server = (await stats(first)).server as { replyBytesUnsent: number };
  t.ok(
    server.replyBytesUnsent <= SCAN_WINDOW_BYTES + 512 * 1024,
    `the coordinator holds ${server.replyBytesUnsent} bytes unsent, within the window (the scan is ${totalBytes} bytes)`,
  );

  // The victim dies while the scan is stalled; once the client reads again, strict R=3 fails with a cursor.
  killHard(victim.pid);
  flow.resume();
  await waitFor(() => failure !== undefined || lines.at(-1)?.done === true, 'the scan to end', 30_000);
  t.equal(failure?.code, 'KV_QUORUM_NOT_MET', 'strict R=3 without the killed node fails as a read does');
  const received = lines.flatMap((l) => (l.items as { key: string }[]).map((i) => i.key));
  t.same(received, keys.slice(0, received.length), 'the keys before the failure came in order');
  t.match(failure?.details, { cursor: /^c1\./ }, 'the error carries the cursor to resume from');

  // Before a scan: with the node seen down, strict R=3 is refused at once, sloppy marks keys maybeStale, R=2 reads them all.
  await waitForHealth(first, victim.name, 'down');
  const strict = await kvctl(['scan', '--addr', first.addr, '--r', '3', '--json']);
  t.equal(strict.code, 5);
  t.match(ndjson(strict.out).at(-1), { ok: false, error: { code: 'KV_QUORUM_UNAVAILABLE' } });
  const sloppy = await kvctl(['scan', '--addr', first.addr, '--r', '3', '--consistency', 'sloppy', '--json']);
  t.equal(sloppy.code, 0, sloppy.stderr);
  const sloppyItems = ndjson(sloppy.out);
  t.equal(sloppyItems.length, keys.length);
  t.ok(
    sloppyItems.every((i) => i.maybeStale === true),
    'every key marked maybeStale',
  );
  const majority = await kvctl(['scan', '--addr', first.addr]);
  t.equal(majority.code, 0, majority.stderr);
  t.same(majority.out.split('\n').slice(0, -1), keys, 'R=2 of the two left: every key');
  // Resuming the failed scan from its cursor at R=2 reads the rest.
  const rest = await kvctl(['scan', '--addr', first.addr, '--cursor', String(failure?.details?.cursor)]);
  t.same(rest.out.split('\n').slice(0, -1), keys.slice(received.length));
  t.ok(failure instanceof KvError);
});

t.test('scans during a join: every key exactly once, in order, with its value, while keys move to the new node', async (t) => {
  const nodes = await startCluster(t, 3);
  const keys = Array.from({ length: 1500 }, (_, i) => `join:${pad(i)}`);
  await load((nodes[0] as Daemon).addr, keys, (key) => `v-${key}`);
  const fourth = await startDaemon(t, {
    args: ['--name', 'node4', '--join', (nodes[1] as Daemon).addr, '--secret-file', clusterSecretFile(nodes[1] as Daemon)],
  });
  const all = [...nodes, fourth];
  const handedOff = waitForMembers(all, 4).then(() => waitForHandoff(all));
  let settled = false;
  void handedOff.then(() => {
    settled = true;
  });
  const problems: string[] = [];
  let scans = 0;
  let duringJoin = 0;
  // Scan through an old node and through the joiner, again and again, until the keys have moved; then once more each.
  for (let round = 0; round < 30 && (!settled || round < 2); round++) {
    for (const via of [nodes[0] as Daemon, fourth]) {
      const client = await KvClient.connect(via.addr);
      if (!settled) duringJoin++;
      try {
        const seen: string[] = [];
        for await (const item of client.scan({ prefix: 'join:', values: true })) {
          const key = item.key.toString();
          if (item.values?.map(String).join() !== `v-${key}`) problems.push(`scan ${scans} via ${via.name}: ${key} has ${item.values?.map(String).join()}`);
          seen.push(key);
        }
        scans++;
        if (seen.join() !== keys.join())
          problems.push(
            `scan ${scans} via ${via.name}: ${seen.length} keys, ${new Set(seen).size} distinct, ${keys.filter((k) => !seen.includes(k)).length} missing`,
          );
      } catch (err) {
        // A key whose replicas all changed hands can miss R while the ring moves: the scan must say so, not skip it.
        problems.push(`scan via ${via.name} failed: ${(err as KvError).code}`);
      } finally {
        await client.close();
      }
    }
  }
  await handedOff;
  t.ok(duringJoin >= 1, `${duringJoin} of ${scans} scans began before the keys had moved`);
  t.same(problems, [], 'every scan listed every key once, in order, with its value');
});
