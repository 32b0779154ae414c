/**
 * The gossip engine. Every `gossipIntervalMs` it bumps our heartbeat and probes one member, in
 * the manner of SWIM and memberlist: members are probed in turn (a shuffled round-robin, so each
 * is probed about once a round by someone), and a probe is a small exchange that carries our own
 * entry and whatever news we have to tell (membership/news-queue.ts) and brings back the peer's.
 * A probe left unanswered makes the member suspect here, probed again every round; still silent
 * `suspectAfterMs` later, it is suspected to the cluster (membership/failure-detector.ts). While
 * news waits, we also exchange with `fanout - 1` more peers, so it spreads in O(log n) rounds.
 * What a node sends does not grow with the cluster, except the full sync: every
 * fullSyncRounds(n) rounds, and until one has succeeded since the node started, the probe carries
 * a digest of every member and the suspicions we hold, answered with what we lack (Cassandra's
 * syn/ack/ack2, membership/gossip-delta.ts), which repairs what news may have missed; a joiner
 * gets the whole table at once.
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
import { probeTimeoutMs } from '../membership/failure-detector.js';
import type { GossipDelta, MemberSuspicion } from '../membership/gossip-delta.js';
import { isGone, type MemberInfo, type MemberTable, type MergeResult, newsworthy, supersedes } from '../membership/member-table.js';
import { type News, NewsQueue } from '../membership/news-queue.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { GossipPush, PeerReplies } from '../protocol/peer.js';

/** Every this many rounds (30 s), the probe is a full sync (digests of every member; see the module header)... */
export const FULL_SYNC_ROUNDS = 150;

/**
 * ... and less often above 32 members, as memberlist spaces its push-pull (pushPullScale): a full
 * sync costs O(n) bytes, so it comes every FULL_SYNC_ROUNDS · (⌈log2(n / 32)⌉ + 1) rounds (6 times
 * as far apart at 1,000 members), which keeps what it adds to a node's traffic about flat.
 */
export function fullSyncRounds(members: number): number {
  if (members <= 32) return FULL_SYNC_ROUNDS;
  return FULL_SYNC_ROUNDS * (Math.ceil(Math.log2(members / 32)) + 1);
}
/** Seeds tried in a round when we know no live peer. */
export const SEEDS_PER_ROUND = 2;
/** Unanswered members probed again in a round, at most (besides the round's own probe). */
export const MAX_REPROBES = 3;
/**
 * Bytes of news one message carries at most (about 250 member entries); the rest goes in later ones.
 * Only a storm of news fills it: 1,000 nodes starting at once through one seed took 31 rounds to
 * see each other with 16 KiB, most of them waiting for room in messages.
 */
export const NEWS_BYTES = 64 * 1024;

/** Errors that mean no answer came (the member may be down), rather than an answer that refused us. */
const NO_ANSWER = new Set(['KV_UNREACHABLE', 'KV_TIMEOUT', 'KV_IDLE_TIMEOUT']);

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
  private readonly news = new NewsQueue();
  /** The probe order (names, shuffled once per pass) and where we are in it. */
  private probeOrder: string[] = [];
  private probeNext = 0;
  /** Whether a full sync has completed since we started: until one has, every probe is one (a node that starts knows least). */
  private synced = false;
  /** Rounds since our last full sync. */
  private sinceFullSync = 0;

  constructor(private readonly deps: GossiperDeps) {}

  start(): void {
    if (this.periodic) return;
    // A node that starts is news: a joiner, or a node back from a restart (memberlist's alive on join).
    this.news.addMember(this.deps.table.me);
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

  /** News waiting to be told (entries and suspicions). */
  get pendingNews(): number {
    return this.news.size;
  }

  /** One gossip round: a probe, probes again of unanswered members, and news to more peers while there is some. */
  round(): void {
    const { table, clock, random, settings } = this.deps;
    const now = clock.now();
    const before = table.me;
    table.tick(now, this.deps.selfUpdate());
    this.rounds++;
    if (newsworthy(before, table.me)) this.news.addMember(table.me);
    for (const suspicion of table.suspectUnanswered(now)) {
      this.news.addSuspicion(suspicion);
      this.deps.logger.log('info', 'gossip.suspected', 'a member stopped answering probes', { member: suspicion[0] });
    }
    // Nothing here walks the whole table (but a new pass of probes, once every n rounds): it would cost O(n) a round.
    const target = this.nextProbe();
    const probed = new Set<string>();
    if (target) {
      probed.add(target.name);
      const fullSync = !this.synced || ++this.sinceFullSync >= fullSyncRounds(table.size);
      if (fullSync) this.sinceFullSync = 0;
      this.probe(target, fullSync);
    }
    for (const name of table.unanswered().slice(0, MAX_REPROBES)) {
      const member = table.get(name);
      if (member && !probed.has(name)) {
        probed.add(name);
        this.probe(member, false);
      }
    }
    if (this.news.size > 0) {
      for (const m of this.randomPeersUp(settings.fanout - 1, probed, now)) void this.exchange(m.addr, 'news').catch(() => {});
    }
    if (!table.anyPeerUp(now)) {
      const probedAddrs = new Set([...probed].map((name) => table.get(name)?.addr));
      const seeds = this.deps.seeds().filter((seed) => seed !== table.me.addr && !probedAddrs.has(seed));
      for (const seed of sample(seeds, SEEDS_PER_ROUND, random)) void this.exchange(seed, 'digests').catch(() => {});
    }
  }

  /** The next member to probe: each in turn, in an order shuffled anew each pass; members gone since are skipped. */
  private nextProbe(): MemberInfo | undefined {
    const { table, random } = this.deps;
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeNext < this.probeOrder.length) {
        const member = table.get(this.probeOrder[this.probeNext++] as string);
        if (member && member.name !== table.selfName && !isGone(member.status)) return member;
      }
      const names = table.gossipTargets().map((m) => m.name);
      this.probeOrder = sample(names, names.length, random);
      this.probeNext = 0;
    }
    return undefined;
  }

  /** Up to `count` distinct members up, at random (from this pass's probe order), none of `except`. */
  private randomPeersUp(count: number, except: ReadonlySet<string>, now: number): MemberInfo[] {
    const { table, random } = this.deps;
    const order = this.probeOrder;
    const picked: MemberInfo[] = [];
    for (let tries = 0; picked.length < count && tries < count * 4 && order.length > 0; tries++) {
      const member = table.get(order[random.int(order.length)] as string);
      if (member && !except.has(member.name) && !isGone(member.status) && table.isUp(member.name, now) && !picked.includes(member)) picked.push(member);
    }
    return picked;
  }

  /** Probes a member: an exchange whose answer clears what we held against it, and whose silence makes it suspect here. */
  private probe(member: MemberInfo, fullSync: boolean): void {
    const { table, clock } = this.deps;
    this.exchange(member.addr, fullSync ? 'digests' : 'news', member.name).then(
      () => {
        if (table.probeAnswered(member.name, clock.now())) this.recovered([member.name]);
      },
      (err) => {
        if (err instanceof KvError && NO_ANSWER.has(err.code)) table.probeUnanswered(member.name, clock.now());
      },
    );
  }

  /** Pushes our whole table to `addr` and merges its whole table (a full sync). */
  async push(addr: string): Promise<void> {
    return this.exchange(addr, 'whole');
  }

  /**
   * One exchange with `addr`: our entry and news, answered with the peer's entry and news; or
   * digests of every member out, what changed back, what the peer needs out; or whole tables both
   * ways. Resolves once the answer is merged (the last message of a digest exchange goes on its own).
   * A member we suspect (`to`) is told so, and refutes it at once if it is alive.
   */
  async exchange(addr: string, kind: 'news' | 'digests' | 'whole', to?: string): Promise<void> {
    const { peers, settings, clock, cluster, table } = this.deps;
    const timeoutMs = probeTimeoutMs(settings.gossipIntervalMs);
    const me = table.me;
    const ours = { kind: 'member' as const, cluster };
    const news = kind === 'news' ? this.takeNews() : { members: [], suspects: [] };
    const syn: GossipPush =
      kind === 'whole'
        ? { cluster: ours, members: table.infos(), full: true }
        : kind === 'digests'
          ? // Our own entry goes whole (one entry): a peer that missed our latest fields learns them even when its answer never reaches us.
            { cluster: ours, members: [me], digests: table.digests(), suspects: table.suspicions() }
          : {
              cluster: ours,
              members: [me, ...news.members.filter((m) => m.name !== me.name)],
              suspects: [...news.suspects, ...(to === undefined ? [] : table.suspicionsOf(to))],
              probe: true,
            };
    const reply = await peers.gossip(addr, syn, timeoutMs);
    if (kind !== 'news') this.synced = true;
    this.adoptSettings(reply.cluster);
    this.merge({ members: reply.members, beats: reply.beats ?? [] }, reply.suspects ?? [], clock.now(), kind !== 'whole');
    if (!reply.want || reply.want.length === 0) return;
    const wanted = table.answer(reply.want, { listedOnly: true });
    if (wanted.members.length === 0 && wanted.beats.length === 0) return;
    void peers.gossip(addr, { cluster: ours, members: wanted.members, beats: wanted.beats }, timeoutMs).catch(() => {});
  }

  /**
   * Handles a peer's gossip: refuses other clusters and joiners whose explicit settings contradict
   * ours, merges, and answers with our cluster and: the whole table to a joiner or a full sync, what
   * the peer lacks and what we need to digests, our entry and news to a probe, nothing to the last
   * message of a digest exchange.
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
    this.merge({ members: push.members, beats: push.beats ?? [] }, push.suspects ?? [], this.deps.clock.now(), !push.full);
    if (theirs.kind === 'joiner' || push.full) return { cluster, members: table.infos() };
    if (push.digests) {
      const answer = table.answer(push.digests);
      return { cluster, members: answer.members, beats: answer.beats, want: answer.want };
    }
    if (!push.probe) return { cluster, members: [] };
    const news = this.takeNews();
    // Entries of ours that beat what the peer sent (its own removal, a lie about it it has not refuted) correct it now.
    const corrections = push.members.flatMap((m) => {
      const held = table.get(m.name);
      return held && held !== m && supersedes(held, m) && !news.members.includes(held) ? [held] : [];
    });
    // A prober we suspect is told so (its own entry comes first), and refutes it at once.
    const sender = push.members[0]?.name;
    const suspects = sender === undefined ? news.suspects : [...news.suspects, ...table.suspicionsOf(sender)];
    return { cluster, members: [table.me, ...corrections, ...news.members.filter((m) => m.name !== table.selfName)], suspects };
  }

  /** Tells the cluster a member's entry as we hold it (an operator's removal made here), as news. */
  announce(name: string): void {
    const member = this.deps.table.get(name);
    if (member) this.news.addMember(member);
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

  private takeNews(): News {
    return this.news.take(NEWS_BYTES, this.deps.table.size);
  }

  /**
   * Members back in our view (down, now answering our probes). Not news: the others clear their
   * suspicions only on the member's refutation, which our probe asks it for (suspicionsOf).
   */
  private recovered(names: string[]): void {
    this.deps.logger.log('info', 'gossip.membership_changed', 'membership changed', { recovered: names, ringChanged: false });
    this.deps.onMerge({ ringChanged: false, refused: 0, recovered: names, heard: names });
  }

  /**
   * Merges what a peer sent. With `spread` (anything but a whole table), an entry taken that is
   * `newsworthy` is news to pass on: someone is new, or changed a field others act on. So is what a
   * full sync teaches us (as memberlist passes on what its push-pull teaches), or a node that missed
   * a joiner's news would keep it to itself. A whole table is not: it comes to a node that knows
   * nobody yet, and the cluster knows it all already.
   */
  private merge(delta: GossipDelta, suspects: readonly MemberSuspicion[], now: number, spread: boolean): void {
    const { table } = this.deps;
    const held = delta.members.map((m) => table.get(m.name));
    const result = table.mergeDelta(delta, now);
    if (spread) {
      delta.members.forEach((m, i) => {
        if (table.get(m.name) === m && newsworthy(held[i], m)) this.news.addMember(m);
      });
    }
    if (suspects.length > 0) {
      const { taken, refute } = table.mergeSuspicions(suspects, now);
      for (const suspicion of taken) this.news.addSuspicion(suspicion);
      if (refute) {
        this.news.addMember(table.refute());
        this.deps.logger.log('info', 'gossip.refuted', 'refuted a suspicion of this node');
      }
    }
    if (result.ringChanged || result.recovered.length > 0) {
      this.deps.logger.log('info', 'gossip.membership_changed', 'membership changed', { recovered: result.recovered, ringChanged: result.ringChanged });
    }
    this.deps.onMerge(result);
  }
}
