/**
 * Joining a cluster through any seed: push our own entry as a joiner, with the settings the
 * operator gave explicitly; the seed refuses a contradiction (KV_CLUSTER_MISMATCH) or answers with
 * the cluster's id, settings and member table, which the joiner adopts. Seeds are tried in a
 * random order, so joiners given the same list spread over all of them rather than all asking the first.
 */
import type { ClusterSettings } from '../config.js';
import { type Random, sample } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { MemberInfo } from '../membership/member-table.js';
import type { PeerTransport } from '../protocol/transport.js';

export async function joinCluster(
  transport: PeerTransport,
  seeds: string[],
  self: MemberInfo,
  explicit: Partial<ClusterSettings>,
  timeoutMs: number,
  random: Random,
): Promise<{ cluster: ClusterIdentity; members: MemberInfo[] }> {
  const failures: string[] = [];
  let refusedSecret = false;
  for (const seed of sample(seeds, seeds.length, random)) {
    try {
      const reply = await transport.request(seed, { op: 'gossip.push', cluster: { kind: 'joiner', explicit }, members: [self] }, timeoutMs);
      if (!reply.cluster) throw new KvError('KV_BAD_REQUEST', 'seed sent a malformed cluster');
      return { cluster: reply.cluster, members: reply.members };
    } catch (err) {
      if (err instanceof KvError && err.code === 'KV_CLUSTER_MISMATCH') throw err;
      refusedSecret ||= err instanceof KvError && err.code === 'KV_AUTH_FAILED';
      failures.push(`${seed}: ${(err as Error).message}`);
    }
  }
  // A seed that refused this node's secret is the thing to fix, whatever the other seeds did.
  throw new KvError(refusedSecret ? 'KV_AUTH_FAILED' : 'KV_START_FAILED', `could not join through any seed (${failures.join('; ')})`, { seeds });
}
