/**
 * Bounded peer links on real daemons:
 * - in a 5-node cluster where each node may keep only 2 links to its peers open and closes one
 *   idle for 300 ms (gossip alone goes to 3 peers every 200 ms), links are closed and made again
 *   all the time, yet every put and get at N=3 succeeds, no node ever holds more than 2 links,
 *   no client connection is refused, and members stay up;
 * - with links closed after 250 ms idle and each node taking only 3 peer connections (4 peers
 *   may want one), idle links are closed by the node that opened them and peers that prove
 *   themselves at the limit close a quiet connection, and again every put and get succeeds.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import type { KvError } from '../../src/errors.js';
import type { Daemon } from '../helpers/cli.js';
import { startCluster, stats, waitForMembers } from '../helpers/cluster.js';

interface PeerLinks {
  open: number;
  limit: number;
  opened: number;
  ended: number;
  failedToOpen: number;
  idleClosed: number;
  evicted: number;
  waited: number;
  waitsTimedOut: number;
  retried: number;
}

const peerLinksOf = async (d: Daemon) => (await stats(d)).peerLinks as PeerLinks;

t.test('5 nodes, 2 peer links each, idle after 300 ms: puts and gets at N=3 all succeed while links come and go', async (t) => {
  const nodes = await startCluster(t, 5, ['--max-peer-links', '2', '--peer-idle-timeout-ms', '300', '--anti-entropy-interval-ms', '0']);
  const clients = await Promise.all(nodes.map((d) => KvClient.connect(d.addr, { timeoutMs: 10_000 })));
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });
  const failures: string[] = [];
  const mostOpen: number[] = nodes.map(() => 0);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const links = await Promise.all(nodes.map(peerLinksOf));
      links.forEach((l, i) => {
        mostOpen[i] = Math.max(mostOpen[i] ?? 0, l.open);
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  // Writes through every node, a few at once per node, each read back through another node at R=2.
  const keys = 120;
  const note = (what: string) => (err: KvError) => {
    failures.push(`${what}: ${err.code} ${err.message}`);
  };
  for (let batch = 0; batch < keys; batch += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const k = batch + i;
        return (clients[k % 5] as KvClient).put(`key${k}`, `value${k}`, { w: 2 }).catch(note(`put key${k}`));
      }),
    );
  }
  // A pause longer than the idle timeout: links close, and the next requests make them again.
  await new Promise((resolve) => setTimeout(resolve, 700));
  const mismatches: string[] = [];
  for (let batch = 0; batch < keys; batch += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const k = batch + i;
        const got = await (clients[(k + 2) % 5] as KvClient).get(`key${k}`, { r: 2 }).catch(note(`get key${k}`));
        if (got && got.values.map(String).join() !== `value${k}`) mismatches.push(`key${k}: ${got.values.map(String).join()}`);
      }),
    );
  }
  sampling = false;
  await sampler;

  t.same(failures, [], 'every put and get succeeded');
  t.same(mismatches, [], 'every get read what was written');
  const links = await Promise.all(nodes.map(peerLinksOf));
  t.comment(
    links
      .map((l, i) => `${nodes[i]?.name}: opened ${l.opened}, idle-closed ${l.idleClosed}, evicted ${l.evicted}, waited ${l.waited}, retried ${l.retried}`)
      .join('; '),
  );
  t.ok(
    mostOpen.every((n) => n <= 2),
    `no node held more than 2 links (most seen: ${mostOpen.join(', ')})`,
  );
  t.ok(
    links.every((l) => l.limit === 2),
    'the limit is in stats',
  );
  t.ok(
    links.every((l) => l.opened > 4),
    `each node made links to its 4 peers more than once (${links.map((l) => l.opened).join(', ')} made)`,
  );
  t.ok(
    links.every((l) => l.evicted > 0),
    'each node closed idle links to make room',
  );
  t.equal(
    links.reduce((sum, l) => sum + l.waitsTimedOut, 0),
    0,
    'no request waited out its timeout for a link',
  );
  const servers = await Promise.all(nodes.map(async (d) => (await stats(d)).server as Record<string, number>));
  t.same(
    servers.map((s) => s.refusedConnections),
    nodes.map(() => 0),
    'no connection was refused, client or peer',
  );
  await waitForMembers(nodes, 5);
  t.pass('every node still sees every member up');
});

t.test('idle links closed after 250 ms, 3 peer connections per node for 4 peers: puts and gets at N=3 all succeed', async (t) => {
  const nodes = await startCluster(t, 5, ['--peer-idle-timeout-ms', '250', '--max-peer-connections', '3', '--anti-entropy-interval-ms', '0']);
  const clients = await Promise.all(nodes.map((d) => KvClient.connect(d.addr, { timeoutMs: 10_000 })));
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });
  const failures: string[] = [];
  const note = (what: string) => (err: KvError) => {
    failures.push(`${what}: ${err.code} ${err.message}`);
  };
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 40; k++) await (clients[k % 5] as KvClient).put(`r${round}k${k}`, `v${round}.${k}`, { w: 2 }).catch(note(`put r${round}k${k}`));
    // Longer than the idle timeout: links to peers that gossip skipped close meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 400));
    for (let k = 0; k < 40; k++) {
      const got = await (clients[(k + 1) % 5] as KvClient).get(`r${round}k${k}`, { r: 2 }).catch(note(`get r${round}k${k}`));
      if (got && got.values.map(String).join() !== `v${round}.${k}`) failures.push(`r${round}k${k} read ${got.values.map(String).join()}`);
    }
  }
  t.same(failures, [], 'every put and get succeeded, and read what was written');
  const links = await Promise.all(nodes.map(peerLinksOf));
  const servers = await Promise.all(nodes.map(async (d) => (await stats(d)).server as Record<string, number>));
  t.comment(
    links
      .map(
        (l, i) =>
          `${nodes[i]?.name}: opened ${l.opened}, idle-closed ${l.idleClosed}, retried ${l.retried}, failed to open ${l.failedToOpen}; ` +
          `peers evicted ${servers[i]?.peerConnectionsEvicted}, refused ${servers[i]?.peerConnectionsRefused}, closed idle ${servers[i]?.closedByPeerIdleTimeout}`,
      )
      .join('; '),
  );
  t.ok(
    links.some((l) => l.idleClosed > 0),
    'links idle for the timeout were closed by the nodes that opened them',
  );
  t.ok(
    servers.some((s) => (s.peerConnectionsEvicted ?? 0) > 0),
    'peers at the limit closed quiet peer connections to get in',
  );
  t.ok(
    servers.every((s) => (s.peerConnections ?? 0) <= 3),
    'no node holds more than 3 peer connections',
  );
  t.same(
    servers.map((s) => (s.refusedConnections ?? 0) - (s.peerCandidatesRefused ?? 0)),
    nodes.map(() => 0),
    'no client connection was refused',
  );
  await waitForMembers(nodes, 5);
  t.pass('every node still sees every member up');
});
