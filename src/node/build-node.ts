/**
 * Assembles a node from its parts. Both composition roots call this: the daemon with LevelStore,
 * TcpTransport and the system clock; the simulator with MemoryStore, SimNetwork and a virtual
 * clock. Nothing here opens sockets, files or timers of its own.
 */

import { AntiEntropy } from '../antientropy/anti-entropy.js';
import { TombstoneReaper } from '../antientropy/reaper.js';
import { TreeSet } from '../antientropy/tree-set.js';
import type { AntiEntropySettings, ClusterSettings, Limits, MembershipSettings } from '../config.js';
import { Coordinator } from '../coordinator/coordinator.js';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import type { Random } from '../env/random.js';
import { Gossiper } from '../gossip/gossiper.js';
import { type HintCaps, HintStore } from '../handoff/hint-store.js';
import { HintedHandoff } from '../handoff/hinted-handoff.js';
import { OwnershipTransfer } from '../handoff/ownership-transfer.js';
import { type ClusterIdentity, ClusterState } from '../membership/cluster-state.js';
import { detectorSettings } from '../membership/failure-detector.js';
import { isGone, type MemberInfo, MemberTable, newMember } from '../membership/member-table.js';
import { MAX_DEGRADED_CHARS } from '../membership/member-wire.js';
import { FaultSwitch } from '../net/fault-switch.js';
import { PeerClient } from '../peer/peer-client.js';
import type { PeerTransport } from '../protocol/transport.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import { LocalReplica } from '../replica/local-replica.js';
import type { ValueCodec } from '../storage/codec.js';
import { LruCache } from '../storage/lru-cache.js';
import type { StoredRecord } from '../storage/record-format.js';
import { boundedText, type StorageStatus } from '../storage/storage-health.js';
import type { Store } from '../storage/store.js';
import { actorOf, actorParts, type NodeIdentity, nextEpoch } from './identity.js';
import { KvNode } from './kv-node.js';
import type { NodeMeta } from './node-meta.js';
import { RingRefresh } from './ring-refresh.js';

export interface BuildNodeOptions {
  identity: NodeIdentity;
  addr: string;
  weight: number;
  /** Process start time: orders this run's heartbeats after any earlier run's. */
  generation: number;
  store: Store;
  meta: NodeMeta;
  transport: PeerTransport;
  clock: Clock;
  random: Random;
  logger: Logger;
  codec: ValueCodec;
  cacheBytes: number;
  limits: Limits;
  membership: MembershipSettings;
  requestTimeoutMs: number;
  cluster: ClusterIdentity;
  /** Members learned when joining (empty for a new cluster or a restart). */
  members: MemberInfo[];
  /** Members a restarted node knew (saved in its data dir): down until their gossip arrives. */
  restoredMembers?: MemberInfo[];
  /** Addresses to reach the cluster through when no member is known to be up. */
  seeds: string[];
  vnodesPerWeight?: number;
  hintCaps: HintCaps;
  /** How often hints for nodes that are up are delivered (also at once when a node comes back). */
  hintDeliveryIntervalMs: number;
  antiEntropy: AntiEntropySettings;
  /** Wraps the transport in a per-link fault switch (tests only: --testing-faults). */
  testingFaults: boolean;
  processStats?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Whether the store takes writes (LevelStore); a store without one is always up. */
  storageStatus?: () => StorageStatus;
  onLeft?: () => void;
  /** Called once gossip says this node (this incarnation) was removed from the cluster. */
  onRemoved?: () => void;
  /** A monotonic ms clock for request latencies (the daemon's performance.now). */
  monotonicNow?: () => number;
}

export interface BuiltNode {
  node: KvNode;
  trees: TreeSet;
  antiEntropy: AntiEntropy;
  hints: HintStore;
  handoff: HintedHandoff;
  replica: LocalReplica;
  state: ClusterState;
  gossiper: Gossiper;
  transfer: OwnershipTransfer;
  start(): Promise<void>;
  stop(): void;
}

/** An actor is retired when its node left or was removed, or runs now under another incarnation (a wiped data dir). */
function isRetired(table: MemberTable | undefined, actor: string): boolean {
  const { name, incarnation } = actorParts(actor);
  const member = table?.get(name);
  if (!member) return false; // unknown: keep, to be safe
  return isGone(member.status) || member.incarnation !== incarnation;
}

/** What this node gossips of its storage: nothing while it is up, a short cause while degraded. */
function degradedCause(status: StorageStatus | undefined): string | undefined {
  if (status?.state !== 'degraded') return undefined;
  return boundedText(status.cause ?? 'storage fault', MAX_DEGRADED_CHARS);
}

export function buildNode(o: BuildNodeOptions): BuiltNode {
  const self = o.identity.name;
  const faults = o.testingFaults ? new FaultSwitch(o.transport, o.clock) : undefined;
  const transport = faults ?? o.transport;
  const hints = new HintStore(o.store, o.hintCaps, o.limits.maxSiblings);
  const cache = new LruCache<string, StoredRecord>(o.cacheBytes);
  // Assigned below: the replica asks the member table which clock actors are retired, and the ring whether it has peers.
  let table: MemberTable | undefined;
  let ringSize: (() => number) | undefined;
  const replica = new LocalReplica(o.store, o.codec, cache, o.clock, {
    actor: actorOf(o.identity),
    maxSiblings: o.limits.maxSiblings,
    maxRecordBytes: o.limits.maxRecordBytes,
    maxValueBytes: o.limits.maxValueBytes,
    isRetiredActor: (actor) => isRetired(table, actor),
    // Merkle trees follow the data only while there are peers to compare with; a ring change rescans only ranges newly shared.
    reportChanges: () => (ringSize?.() ?? 0) > 1,
  });
  const me = newMember({ name: self, addr: o.addr, incarnation: o.identity.incarnation, generation: o.generation, weight: o.weight });
  table = new MemberTable(me, detectorSettings(o.membership), o.clock.now());
  table.merge(o.members, o.clock.now());
  table.restore(o.restoredMembers ?? [], o.clock.now());
  const state = new ClusterState(o.cluster, table, o.vnodesPerWeight);
  ringSize = () => state.ring.members.length;
  const peers = new PeerClient({
    self,
    transport,
    clock: o.clock,
    addrOf: (name) => state.addrOf(name),
    isUp: (name) => state.table.isUp(name, o.clock.now()),
    requestTimeoutMs: o.requestTimeoutMs,
    // Items are sized as their text on the wire: a batch fits one line at a peer with the same limits.
    maxLineBytes: o.limits.maxLineBytes,
  });
  // What every engine on this node shares (each takes the fields it needs).
  const engine: EngineDeps = { self, replica, state, peers, clock: o.clock, logger: o.logger, requestTimeoutMs: o.requestTimeoutMs };
  const coordinator = new Coordinator({ ...engine, hints });
  const trees = new TreeSet(self, state, replica);
  replica.onChange = (change) => trees.onChange(change);
  const antiEntropy = new AntiEntropy({ ...engine, trees, random: o.random.fork(), settings: o.antiEntropy });
  const reaper = new TombstoneReaper({ ...engine, graceMs: o.antiEntropy.tombstoneGraceMs });
  antiEntropy.afterRound = () => reaper.run();
  // Trees follow the ring (one change at a time): kept, split or merged by range, scanning only ranges newly ours.
  let rebuild: Promise<void> = Promise.resolve();
  const treesReady = async (): Promise<void> => {
    while (!trees.ready) {
      rebuild = rebuild.then(() => (trees.ready ? undefined : trees.rebuild()));
      await rebuild;
    }
  };
  const handoff = new HintedHandoff({ ...engine, hints, intervalMs: o.hintDeliveryIntervalMs });
  let identity = o.identity;
  const transfer = new OwnershipTransfer({
    ...engine,
    retryDelayMs: 1000,
    loadHandedOff: () => o.meta.loadHandedOff(),
    saveHandedOff: (placement) => o.meta.saveHandedOff(placement),
    freshActor: async () => {
      identity = await nextEpoch(o.store, identity);
      replica.actor = actorOf(identity);
      o.logger.log('info', 'clock.new_epoch', 'new clock epoch before forgetting handed-off keys', { actor: replica.actor });
    },
  });
  // Ring changes heard by gossip apply at most once per gossip interval (see RingRefresh).
  const ringRefresh = new RingRefresh({
    state,
    clock: o.clock,
    intervalMs: o.membership.gossipIntervalMs,
    onChanged: () => {
      transfer.schedule();
      void treesReady();
    },
  });
  let savedPeers = '';
  let settledAt = Number.NEGATIVE_INFINITY;
  const gossiper = new Gossiper({
    table,
    cluster: o.cluster,
    peers,
    clock: o.clock,
    random: o.random,
    settings: o.membership,
    logger: o.logger,
    selfUpdate: () => ({
      keys: replica.keys,
      handoffPending: transfer.pending,
      handoffRing: transfer.handoffRing,
      hintBacklog: hints.total(),
      degraded: degradedCause(o.storageStatus?.()),
    }),
    onMerge: (result) => {
      for (const name of result.heard) {
        const addr = table.get(name)?.addr;
        if (addr !== undefined && name !== self) transport.heardFrom?.(addr);
      }
      if (result.removedSelf) {
        // Our data is no longer ours to move: the survivors copied it from the other replicas.
        // Hints we hold for others are still delivered (writes we accepted on their behalf).
        transfer.stop();
        antiEntropy.stop();
        o.onRemoved?.();
      }
      if (result.recovered.length > 0) void handoff.deliverAll();
      if (result.ringChanged) void o.meta.saveMembers(table.infos()).catch(() => {});
      if (result.ringChanged) ringRefresh.request();
      // Both walk the whole table: settling is looked at once a round, the peers saved only when members came or went.
      const now = o.clock.now();
      if (result.ringChanged || now - settledAt >= o.membership.gossipIntervalMs) {
        settledAt = now;
        state.settleTransfers((name) => table.get(name)?.handoffRing);
      }
      if (!result.ringChanged && savedPeers !== '') return;
      const peers = JSON.stringify(
        table
          .gossipTargets()
          .map((m) => m.addr)
          .sort(),
      );
      if (peers !== savedPeers) {
        savedPeers = peers;
        void o.meta.savePeers(JSON.parse(peers) as string[]).catch(() => {});
      }
    },
    seeds: () => o.seeds,
    adoptSettings: (settings, version) => applySettings(settings, version),
  });
  /** Adopts cluster settings (from `cluster set` or gossip): persisted, and a changed N moves keys. */
  const applySettings = (settings: ClusterSettings, version: number): boolean => {
    const n = state.settings.n;
    if (!state.adoptSettings(settings, version)) return false;
    void o.meta
      .saveCluster(state.cluster)
      .catch((err: Error) => o.logger.log('error', 'cluster.save_failed', 'could not save cluster settings', { message: err.message }));
    if (state.settings.n !== n) {
      transfer.schedule();
      void treesReady();
    }
    return true;
  };
  const node = new KvNode({
    name: self,
    clock: o.clock,
    logger: o.logger,
    limits: o.limits,
    replica,
    state,
    coordinator,
    peers,
    gossiper,
    transfer,
    hints,
    antiEntropy,
    reaper,
    treesReady,
    faults,
    processStats: o.processStats,
    storageStatus: o.storageStatus,
    onLeft: o.onLeft,
    applySettings,
    monotonicNow: o.monotonicNow,
  });
  return {
    node,
    replica,
    state,
    gossiper,
    transfer,
    hints,
    handoff,
    trees,
    antiEntropy,
    async start() {
      await replica.countKeys();
      await hints.load();
      await transfer.init();
      gossiper.start();
      handoff.start();
      void treesReady().then(() => antiEntropy.start());
      transfer.schedule(0);
      // Tell the cluster we are here at once, rather than after the first interval.
      gossiper.round();
    },
    stop() {
      ringRefresh.stop();
      gossiper.stop();
      transfer.stop();
      handoff.stop();
      antiEntropy.stop();
    },
  };
}
