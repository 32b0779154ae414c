/**
 * What every engine on a node shares. build-node makes one such object and each engine's deps
 * extend it (or pick from it) with what only that engine needs.
 */
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import type { ClusterState } from '../membership/cluster-state.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { LocalReplica } from './local-replica.js';

export interface EngineDeps {
  self: string;
  replica: LocalReplica;
  state: ClusterState;
  /** Every message to another node goes through it (typed; one policy for addresses, liveness, timeouts). */
  peers: PeerClient;
  clock: Clock;
  logger: Logger;
  requestTimeoutMs: number;
}
