/**
 * One node's copy of the data: causal records in a Store, hot records in a byte-budgeted LRU
 * cache, values compressed by the ValueCodec. Writes to one key are serialized by a per-key
 * lock (read record -> apply -> commit -> publish to cache); writes to different keys proceed
 * concurrently and meet in the store's group commit.
 *
 * The cache only ever holds what is committed: a write publishes after its batch resolves, and a
 * read miss fills the cache under the key's lock, so a slow read cannot overwrite a newer write.
 */
import { applyWrite, type CausalRecord, emptyRecord, emptyVector, mergeRecords, type VersionVector } from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import { KvError } from '../errors.js';
import type { StoredValue, ValueCodec } from '../storage/codec.js';
import type { LruCache } from '../storage/lru-cache.js';
import { decodeRecord, encodeRecord, recordMemoryBytes, type StoredRecord } from '../storage/record-format.js';
import type { Store } from '../storage/store.js';

/** Data keys live under this prefix; other prefixes hold node metadata (identity, later hints). */
const DATA_PREFIX = Buffer.from('d');

export interface LocalReplicaOptions {
  /** This replica's clock id: name plus incarnation, never reused after a wipe. */
  actor: string;
  maxSiblings: number;
}

export interface WriteResult {
  record: StoredRecord;
  /** True when live values existed before this write (what a delete reports). */
  existed: boolean;
}

export class LocalReplica {
  private readonly locks = new Map<string, Promise<void>>();
  readonly counters = { gets: 0, puts: 0, deletes: 0 };

  constructor(
    private readonly store: Store,
    readonly codec: ValueCodec,
    readonly cache: LruCache<string, StoredRecord>,
    private readonly clock: Clock,
    private readonly options: LocalReplicaOptions,
  ) {}

  /**
   * Coordinates a write here: `value` null is a delete. Without a context a put supersedes
   * nothing (it becomes a sibling of what is there); a delete without a context supersedes
   * everything this replica holds (as Riak does: a delete means "what you have now").
   */
  async write(key: Buffer, value: Buffer | null, context: VersionVector | undefined): Promise<WriteResult> {
    const stored = value === null ? null : await this.codec.encode(value);
    const cacheKey = key.toString('latin1');
    return this.withKeyLock(cacheKey, async () => {
      const current = (await this.readLocked(key, cacheKey)) ?? emptyRecord<StoredValue>();
      const seen = context ?? (value === null ? current.clock : emptyVector);
      const next = applyWrite(current, seen, this.options.actor, stored, this.clock.now());
      if (next.siblings.length > this.options.maxSiblings) {
        throw new KvError(
          'KV_TOO_MANY_SIBLINGS',
          `key already holds ${current.siblings.length} concurrent values; write with the context of a read to resolve them`,
          { siblings: current.siblings.length, limit: this.options.maxSiblings },
        );
      }
      await this.commit(key, cacheKey, next);
      if (value === null) this.counters.deletes++;
      else this.counters.puts++;
      return { record: next, existed: current.siblings.some((s) => s.value !== null) };
    });
  }

  /** Merges a record from another replica (replication, read repair, anti-entropy). */
  async merge(key: Buffer, incoming: StoredRecord): Promise<StoredRecord> {
    const cacheKey = key.toString('latin1');
    return this.withKeyLock(cacheKey, async () => {
      const current = await this.readLocked(key, cacheKey);
      const next = current ? mergeRecords(current, incoming) : incoming;
      await this.commit(key, cacheKey, next);
      return next;
    });
  }

  /** The record with every live value decoded, or undefined if the key was never written. */
  async read(key: Buffer): Promise<StoredRecord | undefined> {
    this.counters.gets++;
    const cacheKey = key.toString('latin1');
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    return this.withKeyLock(cacheKey, () => this.readLocked(key, cacheKey));
  }

  /** Raw bytes of each live sibling, in sibling order. */
  async values(record: CausalRecord<StoredValue>): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const s of record.siblings) if (s.value) out.push(await this.codec.decode(s.value));
    return out;
  }

  private async readLocked(key: Buffer, cacheKey: string): Promise<StoredRecord | undefined> {
    const cached = this.cache.peek(cacheKey);
    if (cached) return cached;
    const data = await this.store.get(Buffer.concat([DATA_PREFIX, key]));
    if (!data) return undefined;
    const record = decodeRecord(data);
    await this.values(record); // decode once, so cache hits never pay for brotli
    this.cache.set(cacheKey, record, recordMemoryBytes(record) + cacheKey.length);
    return record;
  }

  private async commit(key: Buffer, cacheKey: string, record: StoredRecord): Promise<void> {
    await this.store.write([{ type: 'put', key: Buffer.concat([DATA_PREFIX, key]), value: encodeRecord(record) }]);
    this.cache.set(cacheKey, record, recordMemoryBytes(record) + cacheKey.length);
  }

  private async withKeyLock<T>(cacheKey: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(cacheKey);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.locks.set(cacheKey, mine);
    try {
      if (previous) await previous;
      return await fn();
    } finally {
      release();
      if (this.locks.get(cacheKey) === mine) this.locks.delete(cacheKey);
    }
  }
}
