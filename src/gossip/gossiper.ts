/**
 * The gossip engine: every `gossipIntervalMs` it bumps our heartbeat and pushes our member table
 * to `fanout` random peers, which merge it and answer with theirs (push-pull, so a new node
 * learns the whole cluster in one round). Seeds are only a way in: after joining, any member will
 * do. Time, randomness and peers are injected; the same engine runs in the simulator.
 */
import type { ClusterSettings, MembershipSettings } from '../config.js';
import { type Clock, every, type Periodic } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import { type Random, sample } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { MemberInfo, MemberTable, MergeResult } from '../membership/member-table.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { GossipCluster, PeerReplies } from '../protocol/peer.js';

export interface GossiperDeps {
  table: MemberTable;
  cluster: ClusterIdentity;
  peers: PeerClient;
  clock: Clock;
  random: Random;
  settings: MembershipSettings;
  logger: Logger;
  /** What we say of ourselves this round (status, counters). */
  selfUpdate: () => Partial<MemberInfo>;
  /** Called after each merge that learned something. */
  onMerge: (result: MergeResult) => void;
  /** Addresses to try when we know no live peer (seeds, remembered peers). */
  seeds: () => string[];
  /** Adopts a peer's cluster settings if newer (ClusterState.adoptSettings); true when ours changed. */
  adoptSettings: (settings: ClusterSettings, version: number) => boolean;
}

export class Gossiper {
  private periodic: Periodic | undefined;
  rounds = 0;

  constructor(private readonly deps: GossiperDeps) {}

  start(): void {
    if (this.periodic) return;
    this.periodic = every(
      this.deps.clock,
      this.deps.settings.gossipIntervalMs,
      () => this.round(),
      (err) => this.deps.logger.log('error', 'gossip.round_failed', 'gossip round failed', { message: (err as Error).message }),
    );
  }

  stop(): void {
    this.periodic?.stop();
    this.periodic = undefined;
  }

  /** One gossip round; replies are merged as they arrive. */
  round(): void {
    const { table, clock, random, settings } = this.deps;
    const now = clock.now();
    table.tick(now, this.deps.selfUpdate());
    this.rounds++;
    const peers = table.gossipTargets();
    const addrs = sample(peers, settings.fanout, random).map((m) => m.addr);
    if (!peers.some((m) => table.isUp(m.name, now))) {
      for (const seed of this.deps.seeds()) if (!addrs.includes(seed) && seed !== table.me.addr) addrs.push(seed);
    }
    for (const addr of addrs) void this.push(addr).catch(() => {});
  }

  /** Pushes our table to `addr` and merges its answer. */
  async push(addr: string): Promise<void> {
    const { peers, settings, clock, cluster, table } = this.deps;
    const reply = await peers.gossip(addr, { kind: 'member', cluster }, table.infos(), Math.max(settings.gossipIntervalMs * 2, 500));
    this.adoptSettings(reply.cluster);
    this.merge(reply.members, clock.now());
  }

  /**
   * Handles a peer's push: refuses other clusters and joiners whose explicit settings contradict
   * ours, merges, answers with our cluster and table (a joiner adopts both).
   */
  handlePush(theirs: GossipCluster, members: MemberInfo[]): PeerReplies['gossip.push'] {
    const { cluster } = this.deps;
    if (theirs.kind === 'joiner') {
      const conflicts = (['n', 'w', 'r', 'consistency'] as const).filter((k) => theirs.explicit[k] !== undefined && theirs.explicit[k] !== cluster.settings[k]);
      if (conflicts.length > 0) {
        const ours = `N=${cluster.settings.n} W=${cluster.settings.w} R=${cluster.settings.r} consistency=${cluster.settings.consistency}`;
        const asked = conflicts.map((k) => `${k.length === 1 ? k.toUpperCase() : k}=${String(theirs.explicit[k])}`).join(' ');
        throw new KvError('KV_CLUSTER_MISMATCH', `the cluster runs with ${ours}; this node was started with ${asked}`, {
          cluster: { ...cluster.settings },
          conflicts,
        });
      }
    } else {
      if (theirs.cluster.id !== cluster.id) {
        throw new KvError('KV_CLUSTER_MISMATCH', `this node belongs to cluster ${cluster.id}, not ${theirs.cluster.id}`, { cluster: cluster.id });
      }
      this.adoptSettings(theirs.cluster);
    }
    this.merge(members, this.deps.clock.now());
    return { cluster, members: this.deps.table.infos() };
  }

  /** Adopts the settings of our cluster a peer gossiped if they are newer; a reply without a valid cluster is ignored (logged). */
  private adoptSettings(theirs: ClusterIdentity | undefined): void {
    if (!theirs) {
      this.deps.logger.log('warn', 'gossip.malformed_cluster', 'ignored a malformed cluster from a peer');
      return;
    }
    if (theirs.id !== this.deps.cluster.id) return;
    const version = theirs.settingsVersion ?? 0;
    if (this.deps.adoptSettings(theirs.settings, version))
      this.deps.logger.log('info', 'cluster.settings_changed', 'cluster settings changed', { ...theirs.settings, version });
  }

  private merge(members: MemberInfo[], now: number): void {
    const result = this.deps.table.merge(members, now);
    if (result.ringChanged || result.recovered.length > 0) {
      this.deps.logger.log('info', 'gossip.membership_changed', 'membership changed', { recovered: result.recovered, ringChanged: result.ringChanged });
    }
    this.deps.onMerge(result);
  }
}
