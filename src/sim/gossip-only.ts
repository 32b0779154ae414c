/**
 * A simulated node that serves only gossip: the gossip engine (MemberTable, PeerClient, Gossiper,
 * built as the daemon builds them) without the rest of a KvNode, for membership simulations and
 * the gossip bench.
 */
import { type ClusterSettings, defaultLimits, type MembershipSettings } from '../config.js';
import type { Clock } from '../env/clock.js';
import { nullLogger } from '../env/logger.js';
import type { Random } from '../env/random.js';
import { KvError } from '../errors.js';
import { Gossiper } from '../gossip/gossiper.js';
import { detectorSettings } from '../membership/failure-detector.js';
import { type MemberInfo, MemberTable, type MergeResult } from '../membership/member-table.js';
import { PeerClient } from '../peer/peer-client.js';
import type { RequestHandler } from '../protocol/connection.js';
import { type SimHandler, type SimNetwork, serveFrames } from './sim-network.js';

export interface GossipNodeOptions {
  self: MemberInfo;
  network: SimNetwork;
  clock: Clock;
  random: Random;
  settings: MembershipSettings;
  cluster: { id: string; settings: ClusterSettings };
  /** The seed every round falls back on when no member is up. */
  seed: string;
  /** Members known at start (a restart's or a join's). */
  known?: readonly MemberInfo[];
  onMerge?: (result: MergeResult) => void;
}

/** A gossip-only node, and the frame handler to register for it on the network (left to the caller, which may wrap it). */
export function gossipNode(o: GossipNodeOptions): { table: MemberTable; gossiper: Gossiper; serve: SimHandler } {
  const table = new MemberTable(o.self, detectorSettings(o.settings), o.clock.now());
  table.merge(o.known ?? [], o.clock.now());
  const peers = new PeerClient({
    self: o.self.name,
    transport: o.network.transportFor(o.self.addr),
    clock: o.clock,
    addrOf: (peer) => table.get(peer)?.addr,
    isUp: (peer) => table.isUp(peer, o.clock.now()),
    requestTimeoutMs: 500,
    maxLineBytes: defaultLimits.maxLineBytes,
  });
  const gossiper = new Gossiper({
    table,
    cluster: { id: o.cluster.id, settings: o.cluster.settings },
    peers,
    clock: o.clock,
    random: o.random,
    settings: o.settings,
    logger: nullLogger,
    selfUpdate: () => ({}),
    onMerge: o.onMerge ?? (() => {}),
    seeds: () => [o.seed],
    adoptSettings: () => false,
  });
  return { table, gossiper, serve: serveFrames(gossipOnly(gossiper), defaultLimits) };
}

export function gossipOnly(gossiper: Gossiper): RequestHandler {
  return {
    handleClient: async (request) => {
      throw new KvError('KV_UNKNOWN_OP', `this simulated node serves only gossip, not ${request.op}`);
    },
    handlePeer: (async (request: { op: string }) => {
      if (request.op !== 'gossip.push') throw new KvError('KV_UNKNOWN_OP', `this simulated node serves only gossip, not ${request.op}`);
      const push = request as Extract<Parameters<RequestHandler['handlePeer']>[0], { op: 'gossip.push' }>;
      return gossiper.handlePush(push);
    }) as RequestHandler['handlePeer'],
    countError() {},
  };
}
