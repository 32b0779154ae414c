/**
 * A local kvctl cluster under test: started with `kvctl start --nodes K` (127.0.0.1, free ports,
 * registered with the run's Resources so it is stopped on every path), one control connection per
 * node, a bounded wait until every node sees every member up and alive, and the per-link fault
 * switch (daemons started with --testing-faults) to cut one node off and heal it.
 */
import type { KvClient } from '../src/client/client.js';
import type { ClientOptions } from '../src/net/line-connection.js';
import type { BenchContext } from './bench-context.js';
import { connectClient } from './kv-workload.js';
import type { BenchDaemon } from './resources.js';

export interface BenchCluster {
  /** The temp dir holding the nodes' data dirs, removed when the cluster stops. */
  dir: string;
  nodes: BenchDaemon[];
  /** One connection per node (same order), for members, stats and test.fault requests. */
  control: KvClient[];
  /** What a client needs to reach these nodes (TLS, a token), for connections beyond `control`. */
  client: ClientOptions;
}

export interface ClusterOptions {
  /** Added to `kvctl start --nodes K`. */
  flags?: string[];
  size?: number;
  /** What the nodes ask of clients (a secured cluster: TLS and a token); none by default. */
  client?: ClientOptions;
}

interface MemberView {
  name: string;
  status: string;
  health: string;
}

const CONVERGE_TIMEOUT_MS = 30_000;
const POLL_MS = 50;

export function nodeName(cluster: BenchCluster, i: number): string {
  const node = cluster.nodes[i];
  if (!node?.name) throw new Error(`cluster node ${i} has no name`);
  return node.name;
}

/** Starts `size` daemons as one cluster and waits until they all see each other. */
export async function startCluster(ctx: BenchContext, label: string, { flags = [], size = 3, client = {} }: ClusterOptions = {}): Promise<BenchCluster> {
  const dir = ctx.resources.tempDir(label);
  const nodes = await ctx.resources.startCluster(dir, size, flags, ctx.config.daemonEnv);
  const control: KvClient[] = [];
  for (const node of nodes) control.push(await connectClient(node.addr, client));
  const cluster = { dir, nodes, control, client };
  await waitUntilConverged(cluster);
  return cluster;
}

export async function stopCluster(ctx: BenchContext, cluster: BenchCluster): Promise<void> {
  await Promise.all(cluster.control.map((c) => c.close()));
  await ctx.resources.stopDaemons(cluster.nodes);
  ctx.resources.discard(cluster.dir);
}

/**
 * Polls every node's member list until each lists all the cluster's nodes with status up and
 * health alive; returns the ms it took. Throws past the deadline with the last views.
 */
export async function waitUntilConverged(cluster: BenchCluster, timeoutMs = CONVERGE_TIMEOUT_MS): Promise<number> {
  const started = Date.now();
  const names = cluster.nodes.map((_, i) => nodeName(cluster, i));
  for (;;) {
    const views = await Promise.all(cluster.control.map(async (c) => (await c.request({ op: 'members' })).members as MemberView[]));
    const converged = views.every((members) => names.every((name) => members.some((m) => m.name === name && m.status === 'up' && m.health === 'alive')));
    if (converged) return Date.now() - started;
    if (Date.now() - started > timeoutMs) {
      const seen = views.map((members, i) => `${names[i]} sees ${members.map((m) => `${m.name}:${m.status}/${m.health}`).join(' ')}`);
      throw new Error(`cluster did not converge within ${timeoutMs} ms: ${seen.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Cuts node `i` off from the others both ways: it drops its traffic to every peer, they drop theirs to it. */
export async function isolate(cluster: BenchCluster, i: number): Promise<void> {
  const name = nodeName(cluster, i);
  await (cluster.control[i] as KvClient).request({ op: 'test.fault', mode: 'drop' });
  await Promise.all(cluster.control.filter((_, j) => j !== i).map((c) => c.request({ op: 'test.fault', peer: name, mode: 'drop' })));
}

/** Clears every node's fault switch. */
export async function heal(cluster: BenchCluster): Promise<void> {
  await Promise.all(cluster.control.map((c) => c.request({ op: 'test.fault', mode: 'none' })));
}

/** The Merkle roots every node holds for each of its peers; equal everywhere once the replicas agree. */
export async function merkleRoots(cluster: BenchCluster): Promise<string[]> {
  const roots: string[] = [];
  for (const c of cluster.control) {
    const ae = (await c.stats()).antiEntropy as { roots?: Record<string, string> } | undefined;
    roots.push(...Object.values(ae?.roots ?? {}));
  }
  return roots;
}

/** Records each node holds (its `stats` key count), in node order. */
export async function keyCounts(cluster: BenchCluster): Promise<number[]> {
  return Promise.all(cluster.control.map(async (c) => Number((await c.stats()).keys ?? Number.NaN)));
}
