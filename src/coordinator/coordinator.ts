/**
 * The quorum coordinator engine (Dynamo §4.5): any node takes any request. Split as riak_kv
 * splits its get and put FSMs from their pure cores:
 * - write-path.ts: a write at W (forwarding, plain-write clock gathering, replication, the wait);
 * - read-path.ts: a digest read at R and read repair, driving the pure quorum/digest-read.ts;
 * - replica-side.ts: what this node answers other coordinators as a replica;
 * - quorum/plan.ts and quorum/quorum.ts (pure): which replicas a request uses, and when it is met.
 */
import type { CausalRecord, VersionVector } from '../clock/index.js';
import { type Consistency, RECENT_FAILURE_MS } from '../config.js';
import type { PeerReplies } from '../protocol/peer.js';
import type { ScanRequest } from '../protocol/scan.js';
import { copiesPerKey } from '../quorum/plan.js';
import type { QuorumSummary } from '../quorum/quorum.js';
import { RecentFailures } from '../quorum/recent-failures.js';
import { LocalCopy } from './local-copy.js';
import type { CoordinatorCounters, CoordinatorDeps, ReadOutcome, WriteOptions, WriteOutcome } from './outcomes.js';
import { ReadPath } from './read-path.js';
import { ReplicaSide } from './replica-side.js';
import { ScanRun } from './scan-path.js';
import { WritePath } from './write-path.js';

export type { CoordinatorDeps, ReadOutcome, WriteOptions, WriteOutcome } from './outcomes.js';

export class Coordinator {
  readonly counters: CoordinatorCounters = { forwarded: 0, readRepairs: 0, quorumFailures: 0, standIns: 0, replicaDeadlinesMissed: 0 };
  /** Peers that just failed one of this node's requests: routed around for a few seconds (gossip is not told). */
  readonly recentFailures = new RecentFailures(RECENT_FAILURE_MS);
  private readonly writes: WritePath;
  private readonly reads: ReadPath;
  /** Peer ops this node answers as a replica. */
  readonly replicaSide: ReplicaSide;

  constructor(private readonly deps: CoordinatorDeps) {
    const local = new LocalCopy(deps.replica, deps.hints);
    this.writes = new WritePath(deps, this.counters, this.recentFailures);
    this.reads = new ReadPath(deps, this.counters, local, this.recentFailures);
    this.replicaSide = new ReplicaSide(deps, local);
  }

  /** Copies each key has: N, or fewer while the ring has fewer distinct nodes (down ones included). */
  copiesPerKey(): number {
    return copiesPerKey(this.deps.state.settings, this.deps.state.ring.members.length);
  }

  /** Writes at W (value null: delete); see write-path.ts for what a write without a context supersedes. */
  write(key: Buffer, value: Buffer | null, context: VersionVector | undefined, options: WriteOptions = {}): Promise<WriteOutcome> {
    return this.writes.write({ key, value, context, options });
  }

  /** Merges a key's whole record (an export line) into its replicas, at W. */
  importRecord(key: Buffer, record: CausalRecord<Buffer>, options: Pick<WriteOptions, 'w' | 'consistency'>): Promise<QuorumSummary> {
    return this.writes.importRecord(key, record, options);
  }

  /** Reads at R, with read repair. */
  read(key: Buffer, options: { r?: number; consistency?: Consistency }): Promise<ReadOutcome> {
    return this.reads.read(key, options);
  }

  /** A scan of a key range across the cluster, pulled one key at a time (see scan-path.ts). */
  scan(request: ScanRequest): ScanRun {
    return new ScanRun(this.deps, request);
  }

  /** Peer op kv.coordinate: another node asks us, a replica, to coordinate a write. */
  async handleCoordinate(key: Buffer, value: Buffer | null, context: VersionVector | undefined, options: WriteOptions): Promise<PeerReplies['kv.coordinate']> {
    const outcome = await this.write(key, value, context, { ...options, forwarded: true });
    return { record: outcome.record, existed: outcome.existed, quorum: outcome.quorum, hinted: outcome.hinted, hintsDropped: outcome.hintsDropped };
  }
}
