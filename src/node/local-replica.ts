/**
 * One node's copy of the data: causal records in a Store, hot records in a byte-budgeted LRU
 * cache, values compressed by the ValueCodec. Writes to one key are serialized by a per-key
 * lock (read record -> apply -> commit -> publish to cache); writes to different keys proceed
 * concurrently and meet in the store's group commit.
 *
 * The cache only ever holds what is committed: a read miss fills it under the key's lock (so a slow
 * read cannot overwrite a newer write), and a write updates a cached key after its batch resolves.
 */
import {
  applyWrite,
  type CausalRecord,
  emptyRecord,
  emptyVector,
  isTombstone,
  mergeRecords,
  pruneClock,
  sameVersions,
  type VersionVector,
  versionDigest,
} from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import { KeyedLock } from '../env/keyed-lock.js';
import { KvError } from '../errors.js';
import { Ring } from '../ring/index.js';
import type { StoredValue, ValueCodec } from '../storage/codec.js';
import type { LruCache } from '../storage/lru-cache.js';
import { decodeRecord, encodeRecord, recordMemoryBytes, type StoredRecord } from '../storage/record-format.js';
import type { Store, StoreOp } from '../storage/store.js';

/** Data keys live under this prefix; other prefixes hold node metadata (identity, later hints). */
const DATA_PREFIX = Buffer.from('d');
const DATA_END = Buffer.from('e');
/**
 * The version index: 'v' + the key's ring hash (u32 BE) + key -> the record's version digest (16
 * bytes), written in the same batch as the record. Ordered by ring position, so anti-entropy lists
 * the (key, digest) pairs of one Merkle leaf with a range read instead of holding every key in
 * memory. The bare prefix key marks an index that covers every record.
 */
const INDEX_MARKER = Buffer.from('v');
const INDEX_START = Buffer.from([0x76, 0, 0, 0, 0]);
const INDEX_END = Buffer.from('w');
const INDEX_BUILD_BATCH = 1000;

function indexKey(key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + key.length);
  out[0] = 0x76;
  out.writeUInt32BE(Ring.keyHash(key), 1);
  key.copy(out, 5);
  return out;
}

/** A committed change of one key's versions (digests undefined: absent), numbered by its store commit. */
export interface ReplicaChange {
  key: Buffer;
  before: string | undefined;
  after: string | undefined;
  seq: number;
}

/** (key, version digest) pairs of the version index, from one consistent view. */
export interface VersionSnapshot {
  seq: number;
  entries: AsyncIterable<[Buffer, string]>;
  close(): Promise<void>;
}

export interface LocalReplicaOptions {
  /** This replica's clock id: name plus incarnation, never reused after a wipe. */
  actor: string;
  maxSiblings: number;
  /** Clock entries kept per key before retired actors' entries are pruned. */
  maxClockEntries?: number;
  /** True for clock actors that will never write again (see pruneClock). */
  isRetiredActor?: (actor: string) => boolean;
  /** Keep the version index and report changes (a cluster with N > 1, where replicas compare trees). */
  versionIndex?: boolean;
}

/** N replicas plus room for a few handoffs and wiped incarnations. */
const DEFAULT_MAX_CLOCK_ENTRIES = 10;

export interface WriteResult {
  record: StoredRecord;
  /** True when live values existed before this write (what a delete reports). */
  existed: boolean;
}

export class LocalReplica {
  private readonly locks = new KeyedLock();
  readonly counters = { gets: 0, puts: 0, deletes: 0, merges: 0 };
  /** Keys held (tombstones included); counted once at start by `countKeys`, then kept up to date. */
  keys = 0;
  /** Keys whose record is only tombstones: what the reaper looks at, without scanning everything. */
  private readonly tombstoneKeys = new Set<string>();
  /** Told of every committed change when the version index is kept (Merkle trees follow the data this way). */
  onChange: ((change: ReplicaChange) => void) | undefined;

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
      const existing = await this.readLocked(key, cacheKey);
      const current = existing ?? emptyRecord<StoredValue>();
      const seen = context ?? (value === null ? current.clock : emptyVector);
      const written = applyWrite(current, seen, this.options.actor, stored, this.clock.now());
      const next = pruneClock(written, this.options.maxClockEntries ?? DEFAULT_MAX_CLOCK_ENTRIES, this.options.isRetiredActor ?? (() => false));
      if (next.siblings.length > this.options.maxSiblings) {
        throw new KvError(
          'KV_TOO_MANY_SIBLINGS',
          `key already holds ${current.siblings.length} concurrent values; write with the context of a read to resolve them`,
          { siblings: current.siblings.length, limit: this.options.maxSiblings },
        );
      }
      await this.commit(key, cacheKey, existing, next);
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
      if (current && sameVersions(current, incoming)) return current;
      const next = current ? mergeRecords(current, incoming) : incoming;
      await this.commit(key, cacheKey, current, next);
      this.counters.merges++;
      return next;
    });
  }

  /** The record with every live value decoded, or undefined if the key was never written. */
  async read(key: Buffer, countAsGet = true): Promise<StoredRecord | undefined> {
    if (countAsGet) this.counters.gets++;
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

  /** Stores `record` for the key (`before`: what was there, undefined if nothing). */
  private async commit(key: Buffer, cacheKey: string, before: StoredRecord | undefined, record: StoredRecord): Promise<void> {
    const ops: StoreOp[] = [{ type: 'put', key: Buffer.concat([DATA_PREFIX, key]), value: encodeRecord(record) }];
    const after = this.options.versionIndex ? versionDigest(record) : undefined;
    if (after) ops.push({ type: 'put', key: indexKey(key), value: Buffer.from(after, 'hex') });
    const seq = await this.store.write(ops);
    if (!before) this.keys++;
    if (isTombstone(record)) this.tombstoneKeys.add(cacheKey);
    else this.tombstoneKeys.delete(cacheKey);
    // Reported as soon as it is committed, before anything below can fail.
    if (after) this.onChange?.({ key, before: before && versionDigest(before), after, seq });
    // The cache is filled by reads and kept current by writes, but a write does not bring a key in:
    // measured, caching every put kept ~30 MB more live on the heap during a bulk load and cost
    // 15-45 % of put throughput in GC, for keys that may never be read.
    if (this.cache.has(cacheKey)) {
      try {
        await this.values(record); // merged records arrive compressed: decode once, so cache hits never pay for brotli
      } catch (err) {
        this.cache.delete(cacheKey); // never serve the version this write replaced
        throw err;
      }
      this.cache.set(cacheKey, record, recordMemoryBytes(record) + cacheKey.length);
    }
  }

  /**
   * Drops our copy of a key we no longer replicate, but only if it still holds exactly the
   * versions that were handed off (a write that arrived since keeps it). Returns true if dropped.
   */
  async forget(key: Buffer, handedOff: StoredRecord): Promise<boolean> {
    const cacheKey = key.toString('latin1');
    return this.withKeyLock(cacheKey, async () => {
      const current = await this.readLocked(key, cacheKey);
      if (!current || !sameVersions(current, handedOff)) return false;
      const ops: StoreOp[] = [{ type: 'del', key: Buffer.concat([DATA_PREFIX, key]) }];
      if (this.options.versionIndex) ops.push({ type: 'del', key: indexKey(key) });
      const seq = await this.store.write(ops);
      this.cache.delete(cacheKey);
      this.tombstoneKeys.delete(cacheKey);
      this.keys--;
      if (this.options.versionIndex) this.onChange?.({ key, before: versionDigest(current), after: undefined, seq });
      return true;
    });
  }

  /** Every key and record held, in key order (for transfers and anti-entropy). */
  async *scan(): AsyncIterable<[Buffer, StoredRecord]> {
    for await (const [storeKey, data] of this.store.entries(DATA_PREFIX, DATA_END)) {
      yield [storeKey.subarray(DATA_PREFIX.length), decodeRecord(data)];
    }
  }

  /**
   * Counts the keys held and notes which hold only tombstones; run once at start. Also builds the
   * version index if it is kept but not marked complete (a data dir written without it): each
   * entry is written under its key's lock from the record current then, so writes meanwhile agree.
   */
  async countKeys(): Promise<number> {
    const buildIndex = this.options.versionIndex === true && !(await this.store.get(INDEX_MARKER));
    let n = 0;
    let batch: Buffer[] = [];
    const indexBatch = async () => {
      const keys = batch;
      batch = [];
      await Promise.all(
        keys.map((key) =>
          this.withKeyLock(key.toString('latin1'), async () => {
            const data = await this.store.get(Buffer.concat([DATA_PREFIX, key]));
            if (data) await this.store.write([{ type: 'put', key: indexKey(key), value: Buffer.from(versionDigest(decodeRecord(data)), 'hex') }]);
          }),
        ),
      );
    };
    for await (const [k, data] of this.store.entries(DATA_PREFIX, DATA_END)) {
      n++;
      const key = k.subarray(DATA_PREFIX.length);
      if (isTombstone(decodeRecord(data))) this.tombstoneKeys.add(key.toString('latin1'));
      if (buildIndex) {
        batch.push(key);
        if (batch.length >= INDEX_BUILD_BATCH) await indexBatch();
      }
    }
    if (buildIndex) {
      await indexBatch();
      await this.store.write([{ type: 'put', key: INDEX_MARKER, value: Buffer.from('1') }]);
    }
    this.keys = n;
    return n;
  }

  /** The whole version index from one snapshot, with the commit number it reflects. */
  async versionSnapshot(): Promise<VersionSnapshot> {
    const snapshot = await this.store.snapshot();
    return { seq: snapshot.seq, entries: indexEntries(snapshot.entries(INDEX_START, INDEX_END)), close: () => snapshot.close() };
  }

  /** (key, version digest) pairs of keys whose ring hash is in [lo, hi], read live. */
  versions(lo: number, hi: number): AsyncIterable<[Buffer, string]> {
    const from = Buffer.from([0x76, 0, 0, 0, 0]);
    from.writeUInt32BE(lo, 1);
    const to = hi >= 0xffffffff ? INDEX_END : Buffer.from([0x76, 0, 0, 0, 0]);
    if (hi < 0xffffffff) to.writeUInt32BE(hi + 1, 1);
    return indexEntries(this.store.entries(from, to));
  }

  /** Keys whose record holds only tombstones, with their records. */
  async *tombstones(): AsyncIterable<[Buffer, StoredRecord]> {
    for (const latin of [...this.tombstoneKeys]) {
      const key = Buffer.from(latin, 'latin1');
      const record = await this.read(key, false);
      if (record && isTombstone(record)) yield [key, record];
    }
  }

  private withKeyLock<T>(cacheKey: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(cacheKey, fn);
  }
}

async function* indexEntries(raw: AsyncIterable<[Buffer, Buffer]>): AsyncIterable<[Buffer, string]> {
  for await (const [k, digest] of raw) yield [k.subarray(5), digest.toString('hex')];
}
