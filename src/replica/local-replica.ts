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
  clockOverfilled,
  deadFrom,
  emptyRecord,
  emptyVector,
  MAX_FILLED_CLOCK_ENTRIES,
  mergeOverBounds,
  mergeRecords,
  mergeVectors,
  pruneClock,
  sameVersions,
  unheldClaim,
  type VersionVector,
  versionDigest,
} from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import { KeyedLock } from '../env/keyed-lock.js';
import { KvError } from '../errors.js';
import type { PeerScan } from '../protocol/peer.js';
import { knownValueBytes, MAX_RECORD_META_BYTES, printableKey, recordMetaBytes, recordTooLarge } from '../protocol/record-size.js';
import { CODEC_RAW, type StoredValue, type ValueCodec } from '../storage/codec.js';
import type { LruCache } from '../storage/lru-cache.js';
import { decodeRecord, encodeRecord, recordMemoryBytes, type StoredRecord } from '../storage/record-format.js';
import type { Store } from '../storage/store.js';

/** Data keys live under this prefix; other prefixes hold node metadata (identity, later hints). */
const DATA_PREFIX = Buffer.from('d');
const DATA_END = Buffer.from('e');
/** A committed change of one key: its version digest now (undefined: dropped). */
export interface ReplicaChange {
  key: Buffer;
  digest: string | undefined;
}

export interface LocalReplicaOptions {
  /** The clock actor to mint under at first: name, incarnation and epoch (node/identity.ts). */
  actor: string;
  maxSiblings: number;
  /** Clock entries kept per key before retired actors' entries are pruned. */
  maxClockEntries?: number;
  /** True for clock actors that will never write again (see pruneClock). */
  isRetiredActor?: (actor: string) => boolean;
  /** Whether to report each committed change with its version digest (while there are replicas to compare trees with). */
  reportChanges?: () => boolean;
  /** Bytes of values one record may hold (protocol/record-size.ts); unbounded when omitted. */
  maxRecordBytes?: number;
  /** Longest value: a compressed value's raw size is taken to be at most this until decoded. */
  maxValueBytes?: number;
}

/** A merge refused because outside actors would fill the key's clock (see MAX_FILLED_CLOCK_ENTRIES). */
export function clockFilledError(entries: number): KvError {
  return new KvError(
    'KV_BAD_REQUEST',
    `a merged record would hold ${entries} clock entries, more than the ${MAX_FILLED_CLOCK_ENTRIES} others may fill a key's clock with`,
    {
      entries,
      limit: MAX_FILLED_CLOCK_ENTRIES,
    },
  );
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
  /** scanPages: kv.scan pages this node read for scans (its own coordinator's included). */
  readonly counters = { gets: 0, puts: 0, deletes: 0, merges: 0, scanPages: 0 };
  /** Keys held (tombstones included); counted once at start by `countKeys`, then kept up to date. */
  keys = 0;
  /**
   * Keys whose record is only tombstones and values with deadlines: what the reaper looks at,
   * without scanning everything. Held in memory, like the index of a store's expiring keys.
   */
  private readonly deadOrExpiringKeys = new Set<string>();
  /** Told of every committed change when changes are reported (Merkle trees follow the data this way). */
  onChange: ((change: ReplicaChange) => void) | undefined;
  /** The clock actor new versions are minted under; a new epoch of the node replaces it (node/identity.ts). */
  actor: string;

  constructor(
    private readonly store: Store,
    readonly codec: ValueCodec,
    readonly cache: LruCache<string, StoredRecord>,
    private readonly clock: Clock,
    private readonly options: LocalReplicaOptions,
  ) {
    this.actor = options.actor;
  }

  /**
   * Coordinates a write here: `value` null is a delete. The new version supersedes the versions
   * `context` covers; with `supersedeCurrent` it also supersedes every version this replica holds
   * at the moment of the write, decided under the key's lock, so two writes coordinated here one
   * after the other never become siblings (a plain put or delete). Without either, it supersedes
   * nothing and becomes a sibling of what is there.
   */
  async write(key: Buffer, value: Buffer | null, context: VersionVector | undefined, supersedeCurrent = false, expiresAt?: number): Promise<WriteResult> {
    // Values that will be stored raw skip an await (a microtask hop on every put).
    const stored = value === null ? null : (this.codec.encodeCheap(value) ?? (await this.codec.encode(value)));
    const cacheKey = key.toString('latin1');
    // The locked steps are methods, not closures made per call: V8 kept recompiling those.
    return this.withKeyLock(cacheKey, () => this.writeLocked(key, cacheKey, value === null, stored, context, supersedeCurrent, expiresAt));
  }

  /** A record with raw values, its values encoded (compressed or not) as a put would store them. */
  async encodeRecord(raw: CausalRecord<Buffer>): Promise<StoredRecord> {
    const siblings: StoredRecord['siblings'][number][] = [];
    for (const s of raw.siblings) {
      if (s.value === null) siblings.push({ ...s, value: null });
      else siblings.push({ ...s, value: this.codec.encodeCheap(s.value) ?? (await this.codec.encode(s.value)) });
    }
    return { clock: raw.clock, siblings };
  }

  private async writeLocked(
    key: Buffer,
    cacheKey: string,
    isDelete: boolean,
    stored: StoredValue | null,
    context: VersionVector | undefined,
    supersedeCurrent: boolean,
    expiresAt: number | undefined,
  ): Promise<WriteResult> {
    const existing = await this.currentLocked(key, cacheKey);
    const current = existing ?? emptyRecord<StoredValue>();
    // A client's context (the clocks a plain write gathered are the replicas' own) may claim high counters only as issued.
    const claim = context && !supersedeCurrent ? unheldClaim(context, current.clock) : undefined;
    if (claim) {
      const actor = claim[0].slice(0, 64);
      throw new KvError(
        'KV_BAD_CONTEXT',
        `context is out of bounds: it claims write ${claim[1]} by ${actor}, above 2^47 and more than this key has had; pass the context a get of this key returned`,
        { actor },
      );
    }
    // A delete without a context always means "what is there now" (as Riak's does).
    const supersede = supersedeCurrent || (isDelete && context === undefined);
    const seen = supersede ? (context ? mergeVectors(context, current.clock) : current.clock) : (context ?? emptyVector);
    const written = applyWrite(current, seen, this.actor, stored, this.clock.now(), expiresAt);
    const next = pruneClock(written, this.options.maxClockEntries ?? DEFAULT_MAX_CLOCK_ENTRIES, this.options.isRetiredActor ?? neverRetired);
    if (next.siblings.length > this.options.maxSiblings) throw this.tooManySiblings(key, current.siblings.length);
    await this.checkRecordSize(key, existing, next);
    if (clockOverfilled(current.clock, next.clock, this.actor)) {
      throw new KvError(
        'KV_BAD_CONTEXT',
        `the context names writers the key never had: its clock would hold ${next.clock.size} entries (at most ${MAX_FILLED_CLOCK_ENTRIES} from contexts); pass the context a get returned`,
        { entries: next.clock.size, limit: MAX_FILLED_CLOCK_ENTRIES },
      );
    }
    await this.commit(key, cacheKey, existing, next);
    if (isDelete) this.counters.deletes++;
    else this.counters.puts++;
    let existed = false;
    for (const s of current.siblings) existed ||= s.value !== null;
    return { record: next, existed };
  }

  /** Merges a record from another replica (replication, read repair, anti-entropy). */
  async merge(key: Buffer, incoming: StoredRecord): Promise<StoredRecord> {
    const cacheKey = key.toString('latin1');
    return this.withKeyLock(cacheKey, () => this.mergeLocked(key, cacheKey, incoming));
  }

  private async mergeLocked(key: Buffer, cacheKey: string, incoming: StoredRecord): Promise<StoredRecord> {
    const current = await this.currentLocked(key, cacheKey);
    if (current && sameVersions(current, incoming)) return current;
    const next = current ? mergeRecords(current, incoming) : incoming;
    // The limits hold on merges too; a merge that does not add siblings (it resolves some) always passes.
    const over = mergeOverBounds(current, next, this.options.maxSiblings);
    if (over === 'siblings') throw this.tooManySiblings(key, Math.max(current?.siblings.length ?? 0, incoming.siblings.length));
    if (over === 'clock') throw clockFilledError(next.clock.size);
    await this.checkRecordSize(key, current, next);
    await this.commit(key, cacheKey, current, next);
    this.counters.merges++;
    return next;
  }

  /** The record with every live value decoded, or undefined if the key was never written. */
  async read(key: Buffer, countAsGet = true): Promise<StoredRecord | undefined> {
    if (countAsGet) this.counters.gets++;
    const cacheKey = key.toString('latin1');
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    return this.withKeyLock(cacheKey, () => this.readLocked(key, cacheKey));
  }

  /**
   * The committed record with its values as stored (left compressed), without filling the cache:
   * what a peer is sent to store as it is (anti-entropy), where decoding would be work for nothing.
   */
  async storedRecord(key: Buffer): Promise<StoredRecord | undefined> {
    return this.currentLocked(key, key.toString('latin1'));
  }

  /**
   * The key's version vector (undefined: never written), without decoding values or filling the
   * cache: what a plain write's coordinator gathers from replicas.
   */
  async clockOf(key: Buffer): Promise<VersionVector | undefined> {
    const cacheKey = key.toString('latin1');
    const cached = this.cache.peek(cacheKey);
    if (cached) return cached.clock;
    const data = await this.store.get(Buffer.concat([DATA_PREFIX, key]));
    return data ? decodeRecord(data).clock : undefined;
  }

  /**
   * Refuses (KV_RECORD_TOO_LARGE) a record `after` whose values or metadata are over the limits,
   * unless it holds no more than `before` did (a write or merge that resolves siblings of a record
   * kept under larger limits always passes). Compressed values count by their raw size, which is
   * known without decoding them as long as a maximum-size value in their place would fit.
   */
  private async checkRecordSize(key: Buffer, before: StoredRecord | undefined, after: StoredRecord): Promise<void> {
    const meta = recordMetaBytes(after);
    if (meta > MAX_RECORD_META_BYTES && meta > (before ? recordMetaBytes(before) : 0)) {
      throw recordTooLarge(key, 'metadata', meta, MAX_RECORD_META_BYTES);
    }
    const limit = this.options.maxRecordBytes;
    if (limit === undefined) return;
    let known = knownValueBytes(after);
    const perUnknown = this.options.maxValueBytes ?? Number.POSITIVE_INFINITY;
    if (known.bytes + known.unknown * perUnknown <= limit) return;
    if (known.unknown > 0) {
      await this.values(after);
      known = knownValueBytes(after);
    }
    if (known.bytes <= limit) return;
    if (before) {
      await this.values(before);
      if (known.bytes <= knownValueBytes(before).bytes) return;
    }
    throw recordTooLarge(key, 'values', known.bytes, limit);
  }

  private tooManySiblings(key: Buffer, held: number): KvError {
    const shown = printableKey(key);
    return new KvError(
      'KV_TOO_MANY_SIBLINGS',
      `key ${JSON.stringify(shown)} already holds ${held} concurrent values (limit ${this.options.maxSiblings}); write with the context of a read, or without --keep-siblings, to resolve them`,
      { key: shown, siblings: held, limit: this.options.maxSiblings },
    );
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

  /**
   * The committed record a write or merge builds on: from the cache, else from the store without
   * decoding its values or filling the cache. An overwrite replaces the old value, so decompressing
   * it (and caching a record about to change) would be work for nothing.
   */
  private async currentLocked(key: Buffer, cacheKey: string): Promise<StoredRecord | undefined> {
    const cached = this.cache.peek(cacheKey);
    if (cached) return cached;
    const data = await this.store.get(Buffer.concat([DATA_PREFIX, key]));
    return data ? decodeRecord(data) : undefined;
  }

  /** Stores `record` for the key (`before`: what was there, undefined if nothing). */
  private async commit(key: Buffer, cacheKey: string, before: StoredRecord | undefined, record: StoredRecord): Promise<void> {
    await this.store.write([{ type: 'put', key: Buffer.concat([DATA_PREFIX, key]), value: encodeRecord(record) }]);

    if (!before) this.keys++;
    if (deadFrom(record) !== undefined) this.deadOrExpiringKeys.add(cacheKey);
    else this.deadOrExpiringKeys.delete(cacheKey);
    // Reported as soon as it is committed, before anything below can fail.
    if (this.options.reportChanges?.()) this.onChange?.({ key, digest: versionDigest(record) });
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
      const current = await this.currentLocked(key, cacheKey);
      if (!current || !sameVersions(current, handedOff)) return false;
      await this.store.write([{ type: 'del', key: Buffer.concat([DATA_PREFIX, key]) }]);
      this.cache.delete(cacheKey);
      this.deadOrExpiringKeys.delete(cacheKey);
      this.keys--;
      if (this.options.reportChanges?.()) this.onChange?.({ key, digest: undefined });
      return true;
    });
  }

  /** Every key and record held, in key order (for transfers and anti-entropy). */
  scan(): AsyncIterable<[Buffer, StoredRecord]> {
    return decodedRecords(this.store.entries(DATA_PREFIX, DATA_END));
  }

  /** Counts the keys held and notes which hold only tombstones; run once at start. */
  async countKeys(): Promise<number> {
    let n = 0;
    for await (const [k, data] of this.store.entries(DATA_PREFIX, DATA_END)) {
      n++;
      if (deadFrom(decodeRecord(data)) !== undefined) this.deadOrExpiringKeys.add(k.subarray(DATA_PREFIX.length).toString('latin1'));
    }
    this.keys = n;
    return n;
  }

  /**
   * The records whose key `match` accepts, in key order: a pass over the keys alone, reading only
   * the matching records (a leaf listing reads a few of 100,000 records, not all of them).
   */
  async *scanMatching(match: (key: Buffer) => boolean): AsyncIterable<[Buffer, StoredRecord]> {
    for await (const storeKey of this.store.keys(DATA_PREFIX, DATA_END)) {
      const key = storeKey.subarray(DATA_PREFIX.length);
      if (!match(key)) continue;
      const data = await this.store.get(storeKey);
      if (data) yield [key, decodeRecord(data)];
    }
  }

  /**
   * One page of a scan (peer op kv.scan): records with keys from `from` (included when
   * `inclusive`) up to `end` (excluded), in key order, at most `maxKeys` and about `maxBytes` of
   * them (at least one), read from the store with values as stored. Without `values` each live
   * value is left empty (what tells live from tombstone, and the clock and dots, stay).
   * `exhausted` when no key of the range follows the last one returned.
   */
  async scanPage(scan: PeerScan): Promise<{ entries: { key: Buffer; record: StoredRecord }[]; exhausted: boolean }> {
    // The first key after `from` in byte order is `from` followed by a zero byte.
    const gte = Buffer.concat([DATA_PREFIX, scan.from, scan.inclusive ? EMPTY : ZERO_BYTE]);
    const lt = scan.end === undefined ? DATA_END : Buffer.concat([DATA_PREFIX, scan.end]);
    this.counters.scanPages++;
    const entries: { key: Buffer; record: StoredRecord }[] = [];
    let bytes = 0;
    for await (const [storeKey, data] of this.store.entries(gte, lt)) {
      if (entries.length >= scan.maxKeys || bytes >= scan.maxBytes) return { entries, exhausted: false };
      const key = Buffer.from(storeKey.subarray(DATA_PREFIX.length));
      const stored = decodeRecord(data);
      const record = scan.values ? stored : withoutValues(stored);
      entries.push({ key, record });
      bytes += 8 + key.length + (scan.values ? data.length : 64);
    }
    return { entries, exhausted: true };
  }

  /**
   * Keys whose every version is a tombstone or a value with a deadline, with their records: what
   * the reaper may drop once all of them are dead and past its grace period.
   */
  async *deadOrExpiring(): AsyncIterable<[Buffer, StoredRecord]> {
    for (const latin of [...this.deadOrExpiringKeys]) {
      const key = Buffer.from(latin, 'latin1');
      const record = await this.read(key, false);
      if (record && deadFrom(record) !== undefined) yield [key, record];
    }
  }

  private withKeyLock<T>(cacheKey: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(cacheKey, fn);
  }
}

const EMPTY = Buffer.alloc(0);
const ZERO_BYTE = Buffer.from([0]);
const EMPTY_VALUE: StoredValue = Object.freeze({ codec: CODEC_RAW, stored: EMPTY, raw: EMPTY });

/** The record with every live value emptied: its clock, dots and which siblings are tombstones stay. */
function withoutValues(record: StoredRecord): StoredRecord {
  return { clock: record.clock, siblings: record.siblings.map((s) => (s.value === null ? s : { ...s, value: EMPTY_VALUE })) };
}

function neverRetired(): boolean {
  return false;
}

/** Data entries as (key, record). */
async function* decodedRecords(raw: AsyncIterable<[Buffer, Buffer]>): AsyncIterable<[Buffer, StoredRecord]> {
  for await (const [storeKey, data] of raw) yield [storeKey.subarray(DATA_PREFIX.length), decodeRecord(data)];
}
