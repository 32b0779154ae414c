/** Starting local clusters through the real CLI for integration tests; every daemon is killed at teardown. */
import { join } from 'node:path';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, killHard, kvctl, tempDir, waitFor } from './cli.js';

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
