/** Starting local clusters through the real CLI for integration tests; every daemon is killed at teardown. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, killHard, kvctl, tempDir, waitFor } from './cli.js';
import type { TestPeer } from './peer-frames.js';
import { peerConnect } from './security.js';

export type { Daemon };

export async function startCluster(t: { teardown: (fn: () => void | Promise<void>) => void }, nodes: number, args: string[] = []): Promise<Daemon[]> {
  const dir = join(tempDir(t), 'cluster');
  const result = await kvctl(['start', '--nodes', String(nodes), '--port', '0', '--data-dir', dir, '--json', ...args]);
  if (result.code !== 0) throw new Error(`kvctl start --nodes failed (${result.code}): ${result.out} ${result.stderr}`);
  const daemons = (JSON.parse(result.out) as { nodes: Daemon[] }).nodes;
  t.teardown(() => {
    for (const d of daemons) killHard(d.pid);
  });
  await waitForMembers(daemons, daemons.length);
  return daemons;
}

/** Waits until every daemon sees `count` members up. */
export async function waitForMembers(daemons: Daemon[], count: number, deadlineMs = 20_000): Promise<void> {
  for (const d of daemons) {
    const client = await KvClient.connect(d.addr);
    try {
      await waitFor(
        async () => {
          const m = await client.request({ op: 'members' });
          return (m.members as { health: string; status: string }[]).filter((x) => x.health === 'alive' && x.status === 'up').length === count;
        },
        `${d.name} to see ${count} members up`,
        deadlineMs,
      );
    } finally {
      await client.close();
    }
  }
}

/** Waits until no node reports handoff in progress. */
export async function waitForHandoff(daemons: Daemon[], deadlineMs = 30_000): Promise<void> {
  for (const d of daemons) {
    const client = await KvClient.connect(d.addr);
    try {
      await waitFor(
        async () => {
          const ring = await client.request({ op: 'ring' });
          const stats = await client.stats();
          return ring.transferring === false && (stats.handoff as { done: boolean }).done;
        },
        `${d.name} to finish handoff`,
        deadlineMs,
      );
    } finally {
      await client.close();
    }
  }
}

/** Sets a daemon's per-link fault switch (daemons started with --testing-faults). */
export async function fault(daemon: Daemon, peer: string | undefined, mode: 'drop' | 'hang' | 'reset' | 'none'): Promise<void> {
  const client = await KvClient.connect(daemon.addr);
  try {
    await client.request({ op: 'test.fault', ...(peer ? { peer } : {}), mode });
  } finally {
    await client.close();
  }
}

/** Cuts `victim` off from every other node, both directions (fault switch). */
export async function isolate(nodes: Daemon[], victim: Daemon): Promise<void> {
  await fault(victim, undefined, 'drop');
  for (const d of nodes) if (d !== victim) await fault(d, victim.name, 'drop');
}

export async function heal(nodes: Daemon[]): Promise<void> {
  for (const d of nodes) await fault(d, undefined, 'none');
}

export async function stats(daemon: Daemon): Promise<Record<string, unknown>> {
  const client = await KvClient.connect(daemon.addr);
  try {
    return await client.stats();
  } finally {
    await client.close();
  }
}

/** Waits until `observer` sees `name` in the given health. */
export async function waitForHealth(observer: Daemon, name: string, health: string, deadlineMs = 20_000): Promise<void> {
  const client = await KvClient.connect(observer.addr);
  try {
    await waitFor(
      async () => ((await client.request({ op: 'members' })).members as { name: string; health: string }[]).find((m) => m.name === name)?.health === health,
      `${observer.name} to see ${name} ${health}`,
      deadlineMs,
    );
  } finally {
    await client.close();
  }
}

/** The secret file `kvctl start --nodes` made for the local cluster `d` belongs to. */
export function clusterSecretFile(d: Daemon): string {
  return join(d.dataDir, '..', 'cluster.secret');
}

/** A connection to `d` as a node of its local cluster (it proves the cluster secret), to read what `d` itself holds with kv.read. */
export function replicaReader(d: Daemon): Promise<TestPeer> {
  return peerConnect(d.addr, readFileSync(clusterSecretFile(d), 'utf8').trim());
}
