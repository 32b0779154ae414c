/**
 * A node: runs each validated request (net/answer.ts parses and checks the line). Client ops
 * (put/get/delete) go through the quorum coordinator; node-to-node ops (gossip.push, kv.*, ae.*)
 * are dispatched to their engines; views (members, ring, stats) are answered from local state.
 * The same KvNode serves the daemon (over TCP) and the simulator (over SimNetwork): everything it
 * touches comes in through `NodeParts`.
 */

import type { AntiEntropy } from '../antientropy/anti-entropy.js';
import type { TombstoneReaper } from '../antientropy/reaper.js';
import { EMPTY_CONTEXT, encodeContext, visibleSiblings } from '../clock/index.js';
import type { ClusterSettings, Limits } from '../config.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { scanReplyStream } from '../coordinator/scan-stream.js';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import { KvError, toKvError } from '../errors.js';
import type { Gossiper } from '../gossip/gossiper.js';
import type { HintStore } from '../handoff/hint-store.js';
import type { OwnershipTransfer } from '../handoff/ownership-transfer.js';
import type { ClusterState } from '../membership/cluster-state.js';
import { isGone } from '../membership/member-table.js';
import { NO_QUORUM, quorumLabel, RequestMetrics } from '../metrics/request-metrics.js';
import type { PeerClient } from '../peer/peer-client.js';
import { type ClientRequest, encodeBytes, replyEncoding } from '../protocol/client.js';
import type { ConnectionIdentity, RequestHandler } from '../protocol/connection.js';
import type { PeerOp, PeerReplies, PeerReply, PeerRequest, PeerRequestOf } from '../protocol/peer.js';
import { STREAMED_REPLY } from '../protocol/scan.js';
import type { LocalReplica } from '../replica/local-replica.js';
import type { StorageStatus } from '../storage/storage-health.js';

export interface NodeParts {
  name: string;
  clock: Clock;
  logger: Logger;
  limits: Limits;
  replica: LocalReplica;
  state: ClusterState;
  coordinator: Coordinator;
  peers: PeerClient;
  gossiper: Gossiper;
  transfer: OwnershipTransfer;
  hints: HintStore;
  antiEntropy: AntiEntropy;
  reaper: TombstoneReaper;
  /** Resolves once the Merkle trees match the current ring. */
  treesReady: () => Promise<void>;
  /** Present only when the daemon runs with --testing-faults. */
  faults?: FaultControl;
  /** Extra figures for `stats` from the process around the node (connections, pid, addresses). */
  processStats?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Whether the store takes writes; a node without one is always up. */
  storageStatus?: () => StorageStatus;
  /** Called once the node has left the cluster (after a leave). */
  onLeft?: () => void;
  /** Adopts cluster settings with a version (see ClusterState.adoptSettings); true when they changed. */
  applySettings: (settings: ClusterSettings, version: number) => boolean;
  /** A monotonic clock in ms with fractions, for request latencies; the node's clock when absent. */
  monotonicNow?: () => number;
}

/** The per-link fault switch, as the node drives it (net/fault-switch.ts). */
export interface FaultControl {
  readonly modes: readonly string[];
  set(addr: string, mode: string): void;
  clear(): void;
  snapshot(): Record<string, string>;
}

/** Gossip rounds a departing node keeps running after handing off, so everyone hears it left. */
const FAREWELL_ROUNDS = 5;

export class KvNode implements RequestHandler {
  private readonly startedAt: number;
  errors = 0;
  /** Client requests by op and outcome, and their latencies (see metrics/request-metrics.ts). */
  readonly requests: RequestMetrics;

  constructor(private readonly parts: NodeParts) {
    this.startedAt = parts.clock.now();
    this.requests = new RequestMetrics(parts.monotonicNow ?? (() => parts.clock.now()));
  }

  countError(): void {
    this.errors++;
  }

  /** Runs a client request and records its outcome and latency (by op and quorum). */
  async handleClient(request: ClientRequest, _connection: ConnectionIdentity): Promise<Record<string, unknown>> {
    const startedAt = this.requests.start();
    try {
      const reply = await this.dispatchClient(request);
      this.requests.record(request.op, this.quorumOf(request), startedAt, 'ok');
      return reply;
    } catch (err) {
      this.requests.record(request.op, this.quorumOf(request), startedAt, toKvError(err).code);
      throw err;
    }
  }

  /** The quorum label of a request: the W or R it uses, for reads and writes. */
  private quorumOf(request: ClientRequest): string {
    if (request.op !== 'put' && request.op !== 'get' && request.op !== 'delete') return NO_QUORUM;
    const { settings } = this.parts.state;
    const copies = this.parts.coordinator.copiesPerKey();
    return request.op === 'get' ? quorumLabel('r', request.r, settings.r, copies) : quorumLabel('w', request.w, settings.w, copies);
  }

  private async dispatchClient(request: ClientRequest): Promise<Record<string, unknown>> {
    const { coordinator } = this.parts;
    switch (request.op) {
      case 'ping':
        // The limits let a client refuse a request the daemon would refuse, before sending it:
        // an over-long line makes the daemon close the connection, with every request on it.
        return { node: this.parts.name, limits: { ...this.parts.limits } };
      case 'stats':
        return this.stats();
      case 'members':
        return this.members();
      case 'ring':
        return this.ring(request.key);
      case 'leave':
        return this.leave();
      case 'remove':
        return this.remove(request.node, request.force);
      case 'test.fault':
        return this.fault(request.peer, request.mode);
      case 'repair':
        return this.repair(request.peer, request.dryRun, request.range);
      case 'put': {
        this.checkServing();
        // The deadline is set here, on this node's clock, and travels with the version as it is.
        const expiresAt = request.ttlMs === undefined ? undefined : this.parts.clock.now() + request.ttlMs;
        const { record, hinted, hintsDropped } = await coordinator.write(request.key, request.value, request.context, {
          w: request.w,
          consistency: request.consistency,
          keepSiblings: request.keepSiblings,
          ...(expiresAt === undefined ? {} : { expiresAt }),
        });
        const reply: Record<string, unknown> = {
          context: encodeContext(request.key, record.clock),
          siblings: visibleSiblings(record, this.parts.clock.now()).length,
        };
        if (expiresAt !== undefined) reply.expiresAt = expiresAt;
        if (hinted.length > 0) reply.hinted = hinted;
        // Hints a fallback dropped at its cap: those replicas get the write only from anti-entropy.
        if (hintsDropped.length > 0) reply.hintsDropped = hintsDropped;
        return reply;
      }
      case 'delete': {
        this.checkServing();
        const { record, existed } = await coordinator.write(request.key, null, request.context, { w: request.w, consistency: request.consistency });
        return { context: encodeContext(request.key, record.clock), existed };
      }
      case 'get': {
        this.checkServing();
        this.parts.replica.counters.gets++;
        const { record, quorum, fallbacks } = await coordinator.read(request.key, { r: request.r, consistency: request.consistency });
        // Which replicas answered, and whether fallbacks stood in (then the value may be stale).
        const answered = { replicas: quorum.answered, ...(fallbacks.length > 0 ? { fallbacks, maybeStale: true } : {}) };
        // A missing key has a context too (nothing seen): a put with it creates the key, or becomes a sibling of a concurrent create.
        // Deleted and expired versions are not shown; the context still covers them, so a put with it supersedes them.
        const visible = record ? visibleSiblings(record, this.parts.clock.now()) : [];
        if (!record || visible.length === 0) return { found: false, context: record ? encodeContext(request.key, record.clock) : EMPTY_CONTEXT, ...answered };
        const values = await this.parts.replica.values({ clock: record.clock, siblings: visible });
        const encoding = replyEncoding(values, request.encoding);
        const reply: Record<string, unknown> = { found: true, values: values.map((v) => encodeBytes(v, encoding)), encoding };
        // Each value's deadline (ms since the epoch, null: none), when any has one.
        if (visible.some((s) => s.expiresAt !== undefined)) reply.expiresAt = visible.map((s) => s.expiresAt ?? null);
        return { ...reply, context: encodeContext(request.key, record.clock), ...answered };
      }
      case 'scan': {
        this.checkServing();
        // Lines are made as the client takes them (net/tcp-server.ts pulls the stream).
        return { [STREAMED_REPLY]: scanReplyStream(coordinator.scan(request), request) };
      }
      case 'import': {
        this.checkServing();
        const quorum = await coordinator.importRecord(request.key, request.record, { w: request.w, consistency: request.consistency });
        return { context: encodeContext(request.key, request.record.clock), replicas: quorum.answered };
      }
      case 'cluster.set':
        return this.setCluster(request.settings);
      case 'reap':
        return { reaped: await this.parts.reaper.run() };
    }
  }

  /** Node-to-node ops: each validated message to the engine that serves it. */
  async handlePeer<Op extends PeerOp>(request: PeerRequestOf<Op>, _connection: ConnectionIdentity): Promise<PeerReply<Op>> {
    return (await this.dispatchPeer(request as PeerRequest)) as PeerReply<Op>;
  }

  private dispatchPeer(request: PeerRequest): Promise<PeerReplies[PeerOp]> | PeerReplies[PeerOp] {
    const { coordinator, antiEntropy, reaper, gossiper } = this.parts;
    switch (request.op) {
      case 'gossip.push':
        return gossiper.handlePush(request);
      case 'kv.read':
        return coordinator.replicaSide.read(request.key, request.digest);
      case 'kv.clocks':
        return coordinator.replicaSide.clocks(request.keys);
      case 'kv.replicate':
        return coordinator.replicaSide.replicate(request);
      case 'kv.replicate.many':
        return coordinator.replicaSide.replicateMany(request.items);
      case 'kv.reap':
        return reaper.handleReap(request.key, request.record);
      case 'kv.coordinate':
        return coordinator.handleCoordinate(request.key, request.value, request.context, {
          w: request.w,
          consistency: request.consistency,
          keepSiblings: request.keepSiblings,
          ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
        });
      case 'ae.hashes':
        return antiEntropy.handleHashes(request.level, request.ranges, request.level === 2 ? request.segments : []);
      case 'ae.leaves':
        return antiEntropy.handleLeaves(request.leaves);
      case 'ae.fetch':
        return antiEntropy.handleFetch(request.keys);
      case 'ae.store':
        return antiEntropy.handleStore(request.items);
      case 'kv.scan':
        return this.parts.replica.scanPage(request);
    }
  }

  /** repair: anti-entropy now between this node and one peer (or every peer it shares keys with). */
  private async repair(peer: string | undefined, dryRun: boolean, range: [number, number] | undefined): Promise<Record<string, unknown>> {
    const { antiEntropy, state, clock } = this.parts;
    const peers = peer ? [peer] : antiEntropy.sharingPeers();
    for (const p of peers) {
      if (!state.table.get(p)) throw new KvError('KV_BAD_REQUEST', `unknown node ${p}`);
      if (!state.table.isUp(p, clock.now())) throw new KvError('KV_UNREACHABLE', `${p} is down; repair it once it is back`, { peer: p });
    }
    await this.parts.treesReady();
    const exchanges = [];
    for (const p of peers) exchanges.push(await antiEntropy.exchange(p, { dryRun, range }));
    return { node: this.parts.name, dryRun, exchanges };
  }

  /** test.fault: sets the per-link fault switch (only with --testing-faults). */
  private fault(peer: string | undefined, mode: string): Record<string, unknown> {
    const { faults, state } = this.parts;
    if (!faults) throw new KvError('KV_UNKNOWN_OP', 'the fault switch is off: start the daemon with --testing-faults');
    if (!faults.modes.includes(mode)) throw new KvError('KV_BAD_REQUEST', `mode must be one of ${faults.modes.join(', ')}`);
    if (peer === undefined) {
      if (mode !== 'none') for (const m of state.table.gossipTargets()) faults.set(m.addr, mode);
      else faults.clear();
    } else faults.set(state.addrOf(peer) ?? peer, mode);
    return { faults: faults.snapshot() };
  }

  private checkServing(): void {
    const { status } = this.parts.state.table.me;
    if (isGone(status)) throw new KvError('KV_NOT_MEMBER', `this node has ${status === 'left' ? 'left' : 'been removed from'} the cluster`);
  }

  /**
   * Takes a dead node out of the ring for good (its ranges go to the survivors, which copy the data
   * from the remaining replicas: ownership transfer). Gossip spreads the removal; see MemberTable.
   */
  private remove(name: string, force: boolean): Record<string, unknown> {
    const { state, transfer, gossiper, clock, logger } = this.parts;
    this.checkServing();
    const member = state.table.get(name);
    if (!member) throw new KvError('KV_BAD_REQUEST', `unknown node ${name}`, { node: name });
    if (name === this.parts.name) throw new KvError('KV_BAD_REQUEST', `${name} cannot remove itself: ask another member, or use kvctl leave`);
    if (member.status === 'removed') return { node: name, status: 'removed', already: true };
    if (member.status === 'left') throw new KvError('KV_BAD_REQUEST', `${name} has already left the cluster`, { node: name });
    const health = state.table.health(name, clock.now());
    if (!force && state.table.isUp(name, clock.now())) {
      throw new KvError('KV_NODE_UP', `${name} is ${health} as ${this.parts.name} sees it: take a live node out with kvctl leave (or remove it with --force)`, {
        node: name,
        health,
      });
    }
    state.table.remove(name);
    logger.log('warn', 'cluster.member_removed', 'removed a node from the cluster', { member: name, health, force });
    if (state.refreshRing()) {
      transfer.schedule(0);
      void this.parts.treesReady();
    }
    state.settleTransfers((n) => state.table.get(n)?.handoffRing);
    gossiper.announce(name);
    gossiper.round();
    return { node: name, status: 'removed', already: false, health };
  }

  /** Starts a graceful decommission: hand every key to its new owners, then say we left. */
  private leave(): Record<string, unknown> {
    const { state, transfer, gossiper, clock, logger } = this.parts;
    if (state.table.me.status !== 'up') return { status: state.table.me.status };
    state.table.tick(clock.now(), { status: 'leaving' });
    state.refreshRing();
    logger.log('info', 'node.leaving', 'leaving: handing off all keys');
    transfer.schedule(0);
    void transfer.whenDone().then(() => {
      state.table.tick(clock.now(), { status: 'left' });
      logger.log('info', 'node.left', 'left the cluster', { sentKeys: transfer.sentKeys });
      let rounds = 0;
      const farewell = () => {
        gossiper.round();
        if (++rounds < FAREWELL_ROUNDS) clock.setTimer(100, farewell);
        else this.parts.onLeft?.();
      };
      farewell();
    });
    return { status: 'leaving', keys: this.parts.replica.keys };
  }

  /**
   * cluster.set: new cluster settings, checked against each other, adopted here with the next
   * settings version and spread by gossip; a changed N moves keys to their new replicas.
   */
  private setCluster(changes: Partial<ClusterSettings>): Record<string, unknown> {
    const { state } = this.parts;
    const next = { ...state.settings, ...changes };
    if (next.w > next.n || next.r > next.n) {
      throw new KvError('KV_INVALID_QUORUM', `W (${next.w}) and R (${next.r}) must not exceed N (${next.n})`, { ...next });
    }
    const previous = { ...state.settings };
    const changed = this.parts.applySettings(next, (state.cluster.settingsVersion ?? 0) + 1);
    this.parts.logger.log('info', 'cluster.settings_set', 'cluster settings set', { previous, settings: next });
    return { previous, cluster: this.clusterView(), changed };
  }

  /** The cluster's id and settings, and the copies each key has now (fewer than N while the ring is smaller). */
  private clusterView(): Record<string, unknown> {
    const { state, coordinator } = this.parts;
    return {
      id: state.cluster.id,
      ...state.settings,
      version: state.cluster.settingsVersion ?? 0,
      nodes: state.ring.members.length,
      copiesPerKey: coordinator.copiesPerKey(),
    };
  }

  private members(): Record<string, unknown> {
    const { state, clock } = this.parts;
    return {
      self: this.parts.name,
      cluster: this.clusterView(),
      members: state.table.view(clock.now()),
    };
  }

  private ring(key: Buffer | undefined): Record<string, unknown> {
    const { state } = this.parts;
    const n = state.settings.n;
    const ownership = state.ring.ownership(n);
    const previous = state.previousRing?.ownership(n);
    const nodes = state.table.infos().map((m) => ({
      name: m.name,
      addr: m.addr,
      status: m.status,
      weight: m.weight,
      vnodes: state.ring.vnodeCounts.get(m.name) ?? 0,
      ownership: ownership.get(m.name) ?? 0,
      ...(previous ? { previousOwnership: previous.get(m.name) ?? 0 } : {}),
      handoffPending: m.handoffPending,
    }));
    nodes.sort((a, b) => (a.name < b.name ? -1 : 1));
    const out: Record<string, unknown> = { n, vnodesPerWeight: state.ring.vnodesPerWeight, transferring: state.previousRing !== undefined, nodes };
    if (key) out.preferenceList = state.ring.preferenceList(key, n);
    return out;
  }

  /** How many members this node sees in each status and health (for metrics: labels from two fixed sets). */
  private memberStates(): { status: string; health: string; count: number }[] {
    const counts = new Map<string, { status: string; health: string; count: number }>();
    for (const m of this.parts.state.table.view(this.parts.clock.now())) {
      const key = `${m.status}/${m.health}`;
      const entry = counts.get(key) ?? { status: m.status, health: m.health, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  async stats(): Promise<Record<string, unknown>> {
    const { replica, coordinator, transfer, state, clock } = this.parts;
    const { cache, codec, counters } = replica;
    const storage = this.parts.storageStatus?.() ?? { state: 'up', episodes: 0, reopens: 0 };
    return {
      node: this.parts.name,
      // The node's own health: degraded while its storage refuses writes (reads still served).
      health: storage.state,
      storage,
      uptimeMs: clock.now() - this.startedAt,
      keys: replica.keys,
      ops: { ...counters, errors: this.errors, ...coordinator.counters, ...this.parts.peers.counters },
      // Peers that just failed one of this node's requests: its requests plan around them for a few seconds.
      routingAround: coordinator.recentFailures.list(clock.now()),
      cache: { entries: cache.size, bytes: cache.bytes, budgetBytes: cache.budgetBytes, hits: cache.hits, misses: cache.misses, hitRatio: cache.hitRatio },
      codec: {
        name: codec.codec.name,
        compressedValues: codec.compressed,
        rawValues: codec.storedRaw,
        rawBytes: codec.rawBytes,
        storedBytes: codec.storedBytes,
      },
      cluster: { ...this.clusterView(), members: state.table.infos().length, status: state.table.me.status, memberStates: this.memberStates() },
      handoff: {
        pending: transfer.pending,
        sentKeys: transfer.sentKeys,
        forgottenKeys: transfer.forgottenKeys,
        unsendableRecords: transfer.unsendableRecords,
        done: transfer.done,
      },
      hints: { held: this.parts.hints.total(), ...this.parts.hints.counters, caps: this.parts.hints.caps },
      antiEntropy: { ...this.parts.antiEntropy.counters, tombstonesReaped: this.parts.reaper.reaped, roots: this.parts.antiEntropy.roots() },
      limits: this.parts.limits,
      requests: this.requests.snapshot(),
      ...(await this.parts.processStats?.()),
    };
  }
}
