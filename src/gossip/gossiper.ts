/**
 * The gossip engine: every `gossipIntervalMs` it bumps our heartbeat and pushes our member table
 * to `fanout` random peers, which merge it and answer with theirs (push-pull, so a new node
 * learns the whole cluster in one round). Seeds are only a way in: after joining, any member will
 * do. Time, randomness and transport are injected; the same engine runs in the simulator.
 */
import { type ClusterSettings, MAX_REPLICAS, type MembershipSettings } from '../config.js';
import { type Clock, every, type Periodic } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import { type Random, sample } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { MemberInfo, MemberTable, MergeResult } from '../membership/member-table.js';
import { parseMembers } from '../membership/member-wire.js';
import type { Transport } from '../net/transport.js';

export interface GossiperDeps {
  table: MemberTable;
  cluster: ClusterIdentity;
  transport: Transport;
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
      (err) => this.deps.logger.log('error', 'gossip round failed', { message: (err as Error).message }),
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
  async push(addr: string, join = false): Promise<void> {
    const { transport, settings, clock } = this.deps;
    const reply = await transport.request(addr, this.message(join), Math.max(settings.gossipIntervalMs * 2, 500));
    this.adoptSettings(reply.cluster);
    this.merge(parseMembers(reply.members), clock.now());
  }

  message(join = false): Record<string, unknown> {
    return {
      op: 'gossip.push',
      cluster: this.clusterFields(),
      members: this.deps.table.infos(),
      ...(join ? { join: true } : {}),
    };
  }

  /**
   * Handles a peer's push: refuses other clusters and joiners whose explicit settings contradict
   * ours, merges, answers with our cluster and table (a joiner adopts both).
   */
  handlePush(body: Record<string, unknown>): Record<string, unknown> {
    const { cluster } = this.deps;
    const theirs = fieldsOf(body.cluster);
    if (body.join === true) {
      const conflicts = (['n', 'w', 'r', 'consistency'] as const).filter((k) => theirs[k] !== undefined && theirs[k] !== cluster.settings[k]);
      if (conflicts.length > 0) {
        const ours = `N=${cluster.settings.n} W=${cluster.settings.w} R=${cluster.settings.r} consistency=${cluster.settings.consistency}`;
        const asked = conflicts.map((k) => `${k.length === 1 ? k.toUpperCase() : k}=${String(theirs[k])}`).join(' ');
        throw new KvError('KV_CLUSTER_MISMATCH', `the cluster runs with ${ours}; this node was started with ${asked}`, {
          cluster: { ...cluster.settings },
          conflicts,
        });
      }
    }
    if (theirs.id !== undefined && theirs.id !== cluster.id) {
      throw new KvError('KV_CLUSTER_MISMATCH', `this node belongs to cluster ${cluster.id}, not ${String(theirs.id)}`, { cluster: cluster.id });
    }
    if (theirs.id === undefined && body.join !== true) throw new KvError('KV_BAD_REQUEST', 'gossip without a cluster id');
    const members = parseMembers(body.members);
    if (theirs.id === cluster.id) this.adoptSettings(body.cluster);
    this.merge(members, this.deps.clock.now());
    return { cluster: this.clusterFields(), members: this.deps.table.infos() };
  }

  /** The cluster as gossip carries it: id, settings and their version. */
  private clusterFields(): Record<string, unknown> {
    const { cluster } = this.deps;
    return { id: cluster.id, ...cluster.settings, version: cluster.settingsVersion ?? 0 };
  }

  /** Adopts the settings of our cluster a peer gossiped if they are valid and newer; malformed ones are ignored (logged). */
  private adoptSettings(raw: unknown): void {
    const theirs = parseGossipedCluster(raw);
    if (!theirs) {
      this.deps.logger.log('warn', 'ignored a malformed cluster from a peer', {});
      return;
    }
    if (theirs.id !== this.deps.cluster.id) return;
    const version = theirs.settingsVersion ?? 0;
    if (this.deps.adoptSettings(theirs.settings, version)) this.deps.logger.log('info', 'cluster settings changed', { ...theirs.settings, version });
  }

  private merge(members: MemberInfo[], now: number): void {
    const result = this.deps.table.merge(members, now);
    if (result.ringChanged || result.recovered.length > 0) {
      this.deps.logger.log('info', 'membership changed', { recovered: result.recovered, ringChanged: result.ringChanged });
    }
    this.deps.onMerge(result);
  }
}

/** A peer's field as an object; anything else reads as empty, so each of its fields is absent. */
function fieldsOf(raw: unknown): Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
}

/** Longest cluster id accepted from a peer (ours are 16 hex digits). */
const MAX_CLUSTER_ID_CHARS = 64;

/** A cluster as gossip carries it (id, settings, version), validated: peers are input too. Undefined when malformed. */
export function parseGossipedCluster(raw: unknown): ClusterIdentity | undefined {
  const c = fieldsOf(raw);
  const version = c.version ?? 0;
  const counts = [c.n, c.w, c.r];
  const ok =
    typeof c.id === 'string' &&
    c.id.length > 0 &&
    c.id.length <= MAX_CLUSTER_ID_CHARS &&
    Number.isSafeInteger(version) &&
    (version as number) >= 0 &&
    counts.every((x) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= MAX_REPLICAS) &&
    (c.w as number) <= (c.n as number) &&
    (c.r as number) <= (c.n as number) &&
    (c.consistency === 'strict' || c.consistency === 'sloppy');
  if (!ok) return undefined;
  return {
    id: c.id as string,
    settings: { n: c.n as number, w: c.w as number, r: c.r as number, consistency: c.consistency as ClusterSettings['consistency'] },
    settingsVersion: version as number,
  };
}
