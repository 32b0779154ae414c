/**
 * What a replica answers other nodes' coordinators: its record or digest for a key, its version
 * vectors for plain writes, and records to store (or keep as hints for a down node).
 */
import { versionDigest } from '../clock/index.js';
import { KvError, toKvError } from '../errors.js';
import { hintDroppedError } from '../handoff/hint-store.js';
import type { PeerReplies, ReplicaItem } from '../protocol/peer.js';
import type { LocalCopy } from './local-copy.js';
import type { CoordinatorDeps } from './outcomes.js';

export class ReplicaSide {
  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly local: LocalCopy,
  ) {}

  /** kv.read: our record for the key (hints we hold for it included), or only its digest. */
  async read(key: Buffer, digestOnly: boolean): Promise<PeerReplies['kv.read']> {
    const record = await this.local.record(key);
    if (digestOnly) return { record: undefined, digest: record ? versionDigest(record) : undefined };
    return { record, digest: undefined };
  }

  /** kv.clocks: the version vector we hold for each key (hints included). */
  async clocks(keys: Buffer[]): Promise<PeerReplies['kv.clocks']> {
    return { clocks: await Promise.all(keys.map((key) => this.local.clock(key))) };
  }

  /** kv.replicate: merge the record into ours, or keep it as a hint for `hintFor`. */
  async replicate(item: ReplicaItem): Promise<PeerReplies['kv.replicate']> {
    await this.store(item);
    return {};
  }

  /** kv.replicate.many: each item as kv.replicate, concurrently; a result per item (undefined: stored). */
  async replicateMany(items: ReplicaItem[]): Promise<PeerReplies['kv.replicate.many']> {
    const outcomes = await Promise.allSettled(items.map((item) => this.store(item)));
    return { results: outcomes.map((outcome) => (outcome.status === 'fulfilled' ? undefined : toKvError(outcome.reason))) };
  }

  /**
   * Stores a record here, or as a hint for `hintFor`: only for a member this node knows (hints are
   * held, bounded, until it comes back). A hint dropped at the cap is refused (KV_HINTS_FULL), so
   * the coordinator neither counts it nor reports it as hinted.
   */
  private async store({ key, record, hintFor }: ReplicaItem): Promise<unknown> {
    if (!hintFor || hintFor === this.deps.self) return this.deps.replica.merge(key, record);
    if (!this.deps.state.table.get(hintFor)) throw new KvError('KV_BAD_REQUEST', `a hint for ${hintFor}, a node this one does not know`, { hintFor });
    const kept = await this.deps.hints.add(hintFor, key, record, this.deps.clock.now());
    if (kept === 'dropped') throw hintDroppedError(hintFor, this.deps.hints.caps.maxBytesPerTarget);
    return undefined;
  }
}
