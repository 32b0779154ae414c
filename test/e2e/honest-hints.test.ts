/**
 * Write replies tell the truth about hints, through real daemons: with a fallback's hint cap for a
 * down node reached, a hint it drops does not count toward W, the reply's `hinted` lists only
 * hints stored durably, and `hintsDropped` (also in `put --json`) names the replica left to
 * anti-entropy.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import type { KvError } from '../../src/errors.js';
import { type Daemon, kvctl } from '../helpers/cli.js';
import { isolate, startCluster, stats, waitForHealth } from '../helpers/cluster.js';

t.test('at the hint cap: dropped hints are not counted toward W nor reported as hinted; the reply says they were dropped', async (t) => {
  const nodes = await startCluster(t, 4, ['--testing-faults', '--consistency', 'sloppy', '--hint-max-mb', '1', '--anti-entropy-interval-ms', '0']);
  const [a, b, , victim] = nodes as [Daemon, Daemon, Daemon, Daemon];
  await isolate(nodes, victim);
  for (const d of nodes.slice(0, 3)) await waitForHealth(d, victim.name, 'down');
  const client = await KvClient.connect(a.addr, { timeoutMs: 10_000 });
  t.teardown(() => client.close());

  // Keys the victim replicates and whose one fallback is b: every hint for the victim lands on b.
  const keys: string[] = [];
  for (let i = 0; keys.length < 16; i++) {
    const ring = await client.request({ op: 'ring', key: `h${i}` });
    const prefs = ring.preferenceList as { name: string; role: string }[];
    const fallback = prefs.find((p) => p.role !== 'primary')?.name;
    if (prefs.some((p) => p.role === 'primary' && p.name === victim.name) && fallback === b.name) keys.push(`h${i}`);
  }
  // 300 KB of random bytes each (values are stored compressed): three hints fit the 1 MiB cap, a fourth does not.
  const value = () => randomBytes(300 * 1024);
  for (const key of keys.slice(0, 3)) {
    const put = await client.put(key, value(), { w: 3 });
    t.same([put.hinted, put.hintsDropped], [[victim.name], []], `${key}: W=3 met with a durable hint for ${victim.name}`);
  }
  const refused = await client.put(keys[3] as string, value(), { w: 3 }).catch((err: KvError) => err);
  t.match(
    refused,
    { code: 'KV_QUORUM_NOT_MET', message: new RegExp(`${b.name}: KV_HINTS_FULL`) },
    'at the cap, W=3 is not met: the dropped hint was not counted, and the error says why',
  );
  let dropped = 0;
  for (const key of keys.slice(4, 15)) {
    const put = await client.put(key, value(), { w: 2 });
    t.notOk(put.hinted.includes(victim.name), `${key}: W=2 met by the primaries; the dropped hint is not reported as hinted`);
    if (put.hintsDropped.includes(victim.name)) dropped++;
  }
  // put --json says the same.
  const input = value();
  const cli = await kvctl(['put', keys[15] as string, '--w', '2', '--addr', a.addr, '--json'], { input });
  t.equal(cli.code, 0, cli.stderr);
  const out = JSON.parse(cli.out) as { hinted?: string[]; hintsDropped?: string[] };
  t.notOk(out.hinted?.includes(victim.name), 'put --json does not claim the dropped hint');
  if (out.hintsDropped?.includes(victim.name)) dropped++;
  t.ok(dropped > 0, `${dropped} of 12 W=2 replies said the hint for ${victim.name} was dropped`);

  const held = (await stats(b)).hints as { held: number; stored: number; droppedOverBytes: number };
  t.equal(held.held, 3, 'b holds exactly the three hints reported');
  t.ok(held.droppedOverBytes >= 4, `b dropped the others (${held.droppedOverBytes})`);
});
