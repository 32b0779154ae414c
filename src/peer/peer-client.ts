/**
 * How engines talk to other nodes: one typed method per peer op, and one policy for all of them.
 * - Addresses: a node is named; its address comes from the member table. No address known, or a
 *   node gossip sees down, fails at once with KV_UNREACHABLE, without sending (the caller's
 *   quorum or retry decides what that means); so does another node answering at that address.
 *   Gossip and joining go to addresses (seeds have no names yet).
 * - Timeouts: the node's request timeout; bulk anti-entropy steps (a leaf listing, a batch of
 *   records) at least BULK_TIMEOUT_MS, as they may take longer than a client request under load.
 * - Errors: KV_UNREACHABLE / KV_TIMEOUT (see isUnreachable), the peer's own error code, or
 *   KV_BAD_REQUEST for a malformed reply (validated below the contract, in net/).
 * - Batching: records for replicas and clock reads made in one event-loop turn go to each peer
 *   as one message (PeerBatcher).
 */
import type { VersionVector } from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import { KvError } from '../errors.js';
import {
  type CoordinateWrite,
  type GossipPush,
  type LeafEntries,
  MAX_CLOCK_KEYS,
  MAX_REPLICA_ITEMS,
  type PeerOp,
  type PeerReplies,
  type PeerReply,
  type PeerRequestOf,
  type PeerScan,
  type ReplicaItem,
  type TreeLeaf,
  type TreeRange,
} from '../protocol/peer.js';
import { FRAME_ENVELOPE_BYTES, recordItemBytes, unsendableRecord } from '../protocol/record-size.js';
import type { PeerTransport } from '../protocol/transport.js';
import type { StoredRecord } from '../storage/record-format.js';
import { PeerBatcher } from './peer-batcher.js';

export interface PeerClientDeps {
  self: string;
  transport: PeerTransport;
  clock: Clock;
  /** A node's address by name, if known. */
  addrOf: (name: string) => string | undefined;
  /** Whether gossip sees the node up now. */
  isUp: (name: string) => boolean;
  requestTimeoutMs: number;
  /** Longest frame a peer takes (its --max-line-bytes, taken to be this node's): batches are sized to fit one. */
  maxLineBytes: number;
}

/** Bulk anti-entropy steps get at least this long. */
const BULK_TIMEOUT_MS = 30_000;

export class PeerClient {
  readonly counters = { replicaBatches: 0, replicaRecords: 0, clockReads: 0 };
  private readonly replicas: PeerBatcher<ReplicaItem, KvError | undefined>;
  private readonly clocks: PeerBatcher<Buffer, VersionVector | undefined>;

  /** Bytes of items one batched message carries at most: a frame less its envelope. */
  readonly maxItemBytes: number;
  readonly maxLineBytes: number;

  constructor(private readonly deps: PeerClientDeps) {
    const maxBytes = Math.max(0, deps.maxLineBytes - FRAME_ENVELOPE_BYTES);
    this.maxItemBytes = maxBytes;
    this.maxLineBytes = deps.maxLineBytes;
    this.replicas = new PeerBatcher(
      deps.clock,
      { maxItems: MAX_REPLICA_ITEMS, maxBytes },
      (item) => recordItemBytes(item.key, item.record, item.hintFor),
      async (name, items) => {
        this.counters.replicaBatches++;
        this.counters.replicaRecords += items.length;
        return (await this.send(name, { op: 'kv.replicate.many', items })).results;
      },
    );
    this.clocks = new PeerBatcher(
      deps.clock,
      { maxItems: MAX_CLOCK_KEYS, maxBytes },
      (key) => 4 + key.length,
      async (name, keys) => (await this.send(name, { op: 'kv.clocks', keys })).clocks,
    );
  }

  /**
   * Stores a record at a replica (or as a hint there, with `hintFor`); batched per turn. Rejects
   * with the replica's error for it, or KV_RECORD_TOO_LARGE when the record cannot travel: larger
   * than a frame (not sent), or a frame the peer refused even with the record alone (a peer with
   * smaller limits). A batch the peer refused as too long is sent again one record at a time, so
   * only the record that does not fit is refused.
   */
  async replicate(name: string, item: ReplicaItem): Promise<void> {
    const bytes = recordItemBytes(item.key, item.record, item.hintFor);
    if (bytes > this.maxItemBytes) throw unsendableRecord(item.key, bytes, this.deps.maxLineBytes);
    let error: KvError | undefined;
    try {
      error = await this.replicas.add(name, item);
    } catch (err) {
      if ((err as KvError).code !== 'KV_LINE_TOO_LONG') throw err;
      try {
        await this.send(name, { op: 'kv.replicate', ...item });
        return;
      } catch (alone) {
        if ((alone as KvError).code !== 'KV_LINE_TOO_LONG') throw alone;
        throw unsendableRecord(item.key, bytes, undefined, name);
      }
    }
    if (error) throw error;
  }

  /** The version vector a replica holds for a key (undefined: none); batched per turn. */
  clockOf(name: string, key: Buffer): Promise<VersionVector | undefined> {
    this.counters.clockReads++;
    return this.clocks.add(name, key);
  }

  /** A replica's record for a key, hints it holds for it included (undefined: none). */
  async read(name: string, key: Buffer): Promise<StoredRecord | undefined> {
    return (await this.send(name, { op: 'kv.read', key, digest: false })).record;
  }

  /** A replica's version digest for a key (undefined: it holds nothing for it). */
  async digest(name: string, key: Buffer): Promise<string | undefined> {
    return (await this.send(name, { op: 'kv.read', key, digest: true })).digest;
  }

  /** Asks a replica to coordinate a write. */
  coordinate(name: string, write: CoordinateWrite): Promise<PeerReplies['kv.coordinate']> {
    return this.send(name, { op: 'kv.coordinate', ...write });
  }

  /** Asks a replica to drop its tombstone if it still holds exactly `record`; true when it did. */
  async reap(name: string, key: Buffer, record: StoredRecord): Promise<boolean> {
    return (await this.send(name, { op: 'kv.reap', key, record })).dropped;
  }

  /**
   * Hashes of the peer's trees over these ranges, one entry per range (level 2: per (range,
   * segment) pair, `segments[i]` going with `ranges[i]`); undefined where it holds no such tree.
   */
  async treeHashes(name: string, level: 0 | 1 | 2, ranges: TreeRange[], segments: number[] = []): Promise<(string[] | undefined)[]> {
    const request: PeerRequestOf<'ae.hashes'> =
      level === 2 ? { op: 'ae.hashes', peer: this.deps.self, level, ranges, segments } : { op: 'ae.hashes', peer: this.deps.self, level, ranges };
    return (await this.bulk(name, request)).hashes;
  }

  /** The (key, digest) lists of some leaves of the peer's trees. */
  async leafEntries(name: string, leaves: TreeLeaf[]): Promise<LeafEntries[]> {
    return (await this.bulk(name, { op: 'ae.leaves', peer: this.deps.self, leaves })).entries;
  }

  /**
   * The peer's records for keys (undefined where it holds none), for as many of the keys, from the
   * first, as one reply frame holds; `skipped` lists the keys whose record alone is too large for one.
   */
  fetch(name: string, keys: Buffer[]): Promise<PeerReplies['ae.fetch']> {
    return this.bulk(name, { op: 'ae.fetch', peer: this.deps.self, keys });
  }

  /** Has the peer merge records (a batch that fits one frame); one result per item, undefined when stored. */
  async store(name: string, items: { key: Buffer; record: StoredRecord }[]): Promise<(KvError | undefined)[]> {
    const reply = await this.bulk(name, { op: 'ae.store', peer: this.deps.self, items });
    return reply.results ?? items.map(() => undefined);
  }

  /** One page of the peer's records for a scan (see PeerScan). */
  scanPage(name: string, scan: PeerScan): Promise<PeerReplies['kv.scan']> {
    return this.send(name, { op: 'kv.scan', ...scan });
  }

  /** Sends one gossip message to an address and returns its answer (gossip/gossiper.ts). */
  gossip(addr: string, push: GossipPush, timeoutMs: number): Promise<PeerReplies['gossip.push']> {
    return this.deps.transport.request(addr, { op: 'gossip.push' as const, ...push }, timeoutMs);
  }

  private bulk<Op extends PeerOp>(name: string, request: PeerRequestOf<Op>): Promise<PeerReply<Op>> {
    return this.send(name, request, Math.max(this.deps.requestTimeoutMs, BULK_TIMEOUT_MS));
  }

  /** Sends to a node by name under the policy above. */
  private send<Op extends PeerOp>(name: string, request: PeerRequestOf<Op>, timeoutMs = this.deps.requestTimeoutMs): Promise<PeerReply<Op>> {
    const addr = this.deps.addrOf(name);
    if (!addr) return Promise.reject(new KvError('KV_UNREACHABLE', `no address known for ${name}`, { peer: name }));
    if (!this.deps.isUp(name)) return Promise.reject(new KvError('KV_UNREACHABLE', `${name} is down`, { peer: name }));
    return this.deps.transport.request(addr, request, timeoutMs, name);
  }
}
