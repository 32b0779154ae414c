/**
 * The gossip engine: every `gossipIntervalMs` it bumps our heartbeat and opens an exchange with
 * `fanout` random peers, in the manner of Cassandra's syn/ack/ack2 (membership/gossip-delta.ts):
 * we send a digest of every member we hold and our heartbeat; the peer answers with what we lack
 * or hold older and the digests of what it needs; we send those. Push-pull, so news crosses both
 * ways in one exchange, and only what changed travels: a heartbeat is four small fields, a member's
 * other fields go only to peers that hold them older. Every FULL_SYNC_ROUNDS rounds one exchange
 * sends and asks for the whole table instead, and a joiner gets the whole table at once.
 *
 * Seeds are only a way in: after joining, any member will do, and when we know no live peer we
 * try a few seeds at random (not all: in a large cluster every node would ask the same ones). Time,
 * randomness and peers are injected; the same engine runs in the simulator.
 */
import type { ClusterSettings, MembershipSettings } from '../config.js';
import { type Clock, every, type Periodic } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import { type Random, sample } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { GossipDelta } from '../membership/gossip-delta.js';
import type { MemberInfo, MemberTable, MergeResult } from '../membership/member-table.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { GossipPush, PeerReplies } from '../protocol/peer.js';

/** Every this many rounds, one exchange carries the whole table both ways (a repair, should digests ever miss something). */
export const FULL_SYNC_ROUNDS = 150;
/** Seeds tried in a round when we know no live peer. */
export const SEEDS_PER_ROUND = 2;
/**
 * Rounds after news (a member's fields changed, a member new or back, our own fields changed)
 * during which we exchange with `fanout` peers; otherwise, when only heartbeats move, with one.
 * Each exchange carries a digest of every member, so this is most of what gossip costs in a large
 * cluster; news still spreads at full fanout.
 */
export const NEWS_ROUNDS = 10;
export const QUIET_FANOUT = 1;

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
  /** The last round that exchanges with `fanout` peers (we start with news: ourselves). */
  private newsUntilRound = NEWS_ROUNDS;

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
    const version = table.me.version;
    table.tick(now, this.deps.selfUpdate());
    this.rounds++;
    if (table.me.version !== version) this.noteNews();
    const peers = table.gossipTargets();
    const fanout = this.rounds <= this.newsUntilRound ? settings.fanout : Math.min(settings.fanout, QUIET_FANOUT);
    const addrs = sample(peers, fanout, random).map((m) => m.addr);
    if (!peers.some((m) => table.isUp(m.name, now))) {
      const seeds = this.deps.seeds().filter((seed) => !addrs.includes(seed) && seed !== table.me.addr);
      addrs.push(...sample(seeds, SEEDS_PER_ROUND, random));
    }
    addrs.forEach((addr, i) => {
      void this.exchange(addr, i === 0 && this.rounds % FULL_SYNC_ROUNDS === 0).catch(() => {});
    });
  }

  /** Pushes our whole table to `addr` and merges its whole table (a full sync). */
  async push(addr: string): Promise<void> {
    return this.exchange(addr, true);
  }

  /** One exchange with `addr`: digests out, what changed back, what it needs out (or whole tables both ways when `full`). */
  async exchange(addr: string, full = false): Promise<void> {
    const { peers, settings, clock, cluster, table } = this.deps;
    const timeoutMs = Math.max(settings.gossipIntervalMs * 2, 500);
    const me = table.me;
    const syn: GossipPush = full
      ? { cluster: { kind: 'member', cluster }, members: table.infos(), full: true }
      : // Our own entry goes whole (one entry): a peer that missed our latest fields learns them even when its answer never reaches us.
        { cluster: { kind: 'member', cluster }, members: [me], digests: table.digests() };
    const reply = await peers.gossip(addr, syn, timeoutMs);
    this.adoptSettings(reply.cluster);
    this.merge({ members: reply.members, beats: reply.beats ?? [] }, clock.now());
    if (!reply.want || reply.want.length === 0) return;
    const wanted = table.answer(reply.want, { listedOnly: true });
    if (wanted.members.length === 0 && wanted.beats.length === 0) return;
    await peers.gossip(addr, { cluster: { kind: 'member', cluster }, members: wanted.members, beats: wanted.beats }, timeoutMs);
  }

  /**
   * Handles a peer's gossip: refuses other clusters and joiners whose explicit settings contradict
   * ours, merges, and answers with our cluster and: the whole table to a joiner or a full sync, what
   * the peer lacks and what we need to digests, nothing to the last message of an exchange.
   */
  handlePush(push: GossipPush): PeerReplies['gossip.push'] {
    const { cluster, table } = this.deps;
    const theirs = push.cluster;
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
    this.merge({ members: push.members, beats: push.beats ?? [] }, this.deps.clock.now());
    if (theirs.kind === 'joiner' || push.full) return { cluster, members: table.infos() };
    if (!push.digests) return { cluster, members: [] };
    const answer = table.answer(push.digests);
    return { cluster, members: answer.members, beats: answer.beats, want: answer.want };
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

  private noteNews(): void {
    this.newsUntilRound = this.rounds + NEWS_ROUNDS;
  }

  private merge(delta: GossipDelta, now: number): void {
    const { table } = this.deps;
    const held = delta.members.map((m) => table.get(m.name));
    const result = table.mergeDelta(delta, now);
    // A whole entry taken with fields we did not hold is news: someone's fields changed, or someone is new.
    const fresh = (m: MemberInfo, i: number) =>
      table.get(m.name) === m && (held[i] === undefined || held[i]?.version !== m.version || held[i]?.generation !== m.generation);
    if (result.ringChanged || result.recovered.length > 0 || delta.members.some(fresh)) this.noteNews();
    if (result.ringChanged || result.recovered.length > 0) {
      this.deps.logger.log('info', 'gossip.membership_changed', 'membership changed', { recovered: result.recovered, ringChanged: result.ringChanged });
    }
    this.deps.onMerge(result);
  }
}
