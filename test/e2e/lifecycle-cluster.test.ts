/**
 * Local clusters start and stop as one: `start --nodes K` refuses taken ports (naming them)
 * instead of moving elsewhere, `stop --cluster` stops every node, `start --cluster` brings them all
 * back on the same ports under the same names, and `--json` lists every node.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { type Daemon, isAlive, killHard, kvctl, tempDir } from '../helpers/cli.js';
import { waitForMembers } from '../helpers/cluster.js';

function killAll(nodes: readonly { pid: number }[]): void {
  for (const d of nodes) killHard(d.pid);
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

t.test('start --nodes 3 with its first port taken fails, naming the port, and starts nothing', async (t) => {
  const blocker = await listen(0);
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const dir = join(tempDir(t), 'cluster');
  const result = await kvctl(['start', '--nodes', '3', '--port', String(port), '--data-dir', dir]);
  t.equal(result.code, 6);
  t.match(result.stderr, new RegExp(`ports? [0-9, ]*\\b${port}\\b.* already in use on 127\\.0\\.0\\.1.*--port 0.*\\[KV_PORT_IN_USE\\]`));
  t.notOk(existsSync(join(dir, 'node1')), 'no node was started');
  const json = await kvctl(['start', '--nodes', '3', '--port', String(port), '--data-dir', dir, '--json']);
  t.equal(json.code, 6);
  const error = JSON.parse(json.out).error;
  t.equal(error.code, 'KV_PORT_IN_USE');
  t.ok(error.details.ports.includes(port), 'details list the busy ports');
});

t.test('stop --cluster stops every node; start --cluster brings them back as they were', async (t) => {
  const dir = join(tempDir(t), 'cluster');
  const started = await kvctl(['start', '--nodes', '3', '--port', '0', '--data-dir', dir, '--json', '--cache-mb', '8']);
  t.equal(started.code, 0, started.stderr);
  const first = JSON.parse(started.out) as { clusterDir: string; nodes: Daemon[] };
  t.teardown(() => killAll(first.nodes));
  t.equal(first.clusterDir, dir);
  t.same(
    first.nodes.map((d) => [d.name, d.dataDir]),
    [1, 2, 3].map((i) => [`node${i}`, join(dir, `node${i}`)]),
    'every node listed, each in its own data dir under the cluster dir',
  );
  t.match(started.stderr, `--port 0 chose ports ${first.nodes.map((d) => d.port).join(', ')}`, 'the chosen ports are announced');
  await waitForMembers(first.nodes, 3);

  const again = await kvctl(['start', '--nodes', '3', '--data-dir', dir]);
  t.equal(again.code, 2, 'a second --nodes on the same dir is refused');
  t.match(again.stderr, `start --cluster --data-dir ${dir}`);

  const stopped = await kvctl(['stop', '--cluster', '--data-dir', dir, '--json']);
  t.equal(stopped.code, 0, stopped.stderr);
  t.same(
    JSON.parse(stopped.out).nodes.map((n: { name: string; stopped: boolean; pid: number }) => [n.name, n.stopped, n.pid]),
    first.nodes.map((d) => [d.name, true, d.pid]),
  );
  for (const d of first.nodes) t.notOk(isAlive(d.pid), `${d.name} (pid ${d.pid}) is gone`);
  const none = await kvctl(['stop', '--cluster', '--data-dir', dir]);
  t.equal(none.code, 3, 'nothing left to stop');

  const restarted = await kvctl(['start', '--cluster', '--data-dir', dir, '--json']);
  t.equal(restarted.code, 0, restarted.stderr);
  const second = JSON.parse(restarted.out) as { nodes: Daemon[] };
  t.teardown(() => killAll(second.nodes));
  t.same(
    second.nodes.map((d) => [d.name, d.addr]),
    first.nodes.map((d) => [d.name, d.addr]),
    'same names on the same ports',
  );
  await waitForMembers(second.nodes, 3);
  const stats = JSON.parse((await kvctl(['status', '--addr', (second.nodes[2] as Daemon).addr, '--json'])).out);
  t.equal(stats.cache.budgetBytes, 8 * 1024 * 1024, 'with the settings they were made with');

  killHard((second.nodes[1] as Daemon).pid);
  const partial = await kvctl(['start', '--cluster', '--data-dir', dir, '--json']);
  t.equal(partial.code, 0, partial.stderr);
  const third = JSON.parse(partial.out) as { nodes: (Daemon & { alreadyRunning?: boolean })[] };
  t.teardown(() => killAll(third.nodes));
  t.same(
    third.nodes.map((d) => d.alreadyRunning === true),
    [true, false, true],
    'only the dead node is started again',
  );
  const perNode = await kvctl(['start', '--cluster', '--data-dir', dir, '--port', '7999']);
  t.equal(perNode.code, 2, '--port cannot apply to every node');
  t.match(perNode.stderr, /--port differs from node to node/);
  const single = await kvctl(['start', '--data-dir', dir]);
  t.equal(single.code, 2, 'the cluster dir is not one node');
  t.match(single.stderr, `holds a local cluster, not one node: start it with kvctl start --cluster --data-dir ${dir}`);
  t.equal((await kvctl(['stop', '--cluster', '--data-dir', dir])).code, 0);
  for (const d of third.nodes) t.notOk(isAlive(d.pid));
  const stopOne = await kvctl(['stop', '--data-dir', dir]);
  t.equal(stopOne.code, 3);
  t.match(stopOne.stderr, `it holds a local cluster: kvctl stop --cluster --data-dir ${dir}`);
});

t.test('start --cluster on a dir without a local cluster says how to make one; contradictory flags are refused', async (t) => {
  const dir = tempDir(t);
  const result = await kvctl(['start', '--cluster', '--data-dir', dir]);
  t.equal(result.code, 2);
  t.match(result.stderr, `no local cluster in ${dir}: make one with kvctl start --nodes K`);
  const both = await kvctl(['start', '--nodes', '2', '--cluster', '--data-dir', dir]);
  t.equal(both.code, 2);
  t.match(both.stderr, /--nodes makes a new local cluster, --cluster starts an existing one/);
  const stopBoth = await kvctl(['stop', '--cluster', '--addr', '127.0.0.1:1']);
  t.equal(stopBoth.code, 2);
  t.match(stopBoth.stderr, /--addr names one daemon: give one of them/);
});
