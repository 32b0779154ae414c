/**
 * Durable hints (Dynamo §4.6): a write taken by a fallback on behalf of a down replica, kept under
 * `h<target>\0<key>` in the node's store and fsynced before the write is acknowledged. Several
 * hints for one (target, key) merge into one record. An in-memory index (built at start) gives the
 * backlog per target and the hints per key (a fallback answers sloppy reads from them).
 *
 * Caps per target: bytes (a hint that would exceed it is dropped, and add() says so: the write is
 * not counted toward W, nor reported as hinted) and age (older hints are dropped at delivery time and left to anti-entropy). A merged
 * hint is held to the limits of the replica's own records (siblings, clock entries): the target
 * would refuse anything larger, and the hint would never be delivered.
 */
import { mergeOverBounds, mergeRecords } from '../clock/index.js';
import { KeyedLock } from '../env/keyed-lock.js';
import { KvError } from '../errors.js';
import { clockFilledError } from '../replica/local-replica.js';
import { decodeRecord, encodeRecord, type StoredRecord } from '../storage/record-format.js';
import type { Store } from '../storage/store.js';

const PREFIX = 'h';
const SEP = 0;

export interface HintCaps {
  maxBytesPerTarget: number;
  maxAgeMs: number;
}

export const defaultHintCaps: HintCaps = { maxBytesPerTarget: 64 * 1024 * 1024, maxAgeMs: 60 * 60 * 1000 };

/** What became of a hint: stored durably (fsynced), or dropped because the target's byte cap was reached. */
export type HintKept = 'stored' | 'dropped';

/** The refusal a fallback answers with for a hint it dropped at the cap (a peer's write does not count it). */
export function hintDroppedError(target: string, maxBytes: number): KvError {
  return new KvError('KV_HINTS_FULL', `hints held for ${target} would exceed ${maxBytes} bytes; this hint was dropped`, { target, limit: maxBytes });
}

interface HintMeta {
  bytes: number;
  storedAt: number;
  /** Bumped on every add: a delivery removes the hint only if nothing merged into it since. */
  seq: number;
}

function storeKey(target: string, key: Buffer): Buffer {
  return Buffer.concat([Buffer.from(PREFIX + target), Buffer.from([SEP]), key]);
}

/** Hint value: u48 storedAt ms, then the encoded record. */
function encodeHint(record: StoredRecord, storedAt: number): Buffer {
  const head = Buffer.alloc(6);
  head.writeUIntBE(storedAt, 0, 6);
  return Buffer.concat([head, encodeRecord(record)]);
}

function decodeHint(data: Buffer): { record: StoredRecord; storedAt: number } {
  return { storedAt: data.readUIntBE(0, 6), record: decodeRecord(data.subarray(6)) };
}

export class HintStore {
  /** target -> key (latin1) -> meta */
  private readonly index = new Map<string, Map<string, HintMeta>>();
  readonly counters = { stored: 0, delivered: 0, droppedOverBytes: 0, droppedOverAge: 0, unsendableRecords: 0 };
  private seq = 0;

  constructor(
    private readonly store: Store,
    readonly caps: HintCaps,
    /** Concurrent values one hint may hold (the node's --max-siblings). */
    private readonly maxSiblings: number,
  ) {}

  /** Rebuilds the index from the store (at start: hints survive restarts). */
  async load(): Promise<void> {
    this.index.clear();
    for await (const [k, v] of this.store.entries(Buffer.from(PREFIX), Buffer.from(String.fromCharCode(PREFIX.charCodeAt(0) + 1)))) {
      const sep = k.indexOf(SEP, 1);
      const target = k.toString('utf8', 1, sep);
      const key = k.subarray(sep + 1).toString('latin1');
      this.indexFor(target).set(key, { bytes: v.length, storedAt: v.readUIntBE(0, 6), seq: ++this.seq });
    }
  }

  private indexFor(target: string): Map<string, HintMeta> {
    let m = this.index.get(target);
    if (!m) {
      m = new Map();
      this.index.set(target, m);
    }
    return m;
  }

  backlog(target: string): { hints: number; bytes: number } {
    const m = this.index.get(target);
    let bytes = 0;
    for (const meta of m?.values() ?? []) bytes += meta.bytes;
    return { hints: m?.size ?? 0, bytes };
  }

  /** Hints held for every target. */
  total(): number {
    let n = 0;
    for (const m of this.index.values()) n += m.size;
    return n;
  }

  targets(): string[] {
    return [...this.index].filter(([, m]) => m.size > 0).map(([t]) => t);
  }

  /** Serializes read-merge-write per hint, so two hints for one key arriving together both count. */
  private readonly lock = new KeyedLock();

  /**
   * Stores (merging with an existing hint), fsynced before it resolves 'stored'; beyond the byte
   * cap the hint is dropped and it resolves 'dropped'. Throws for a hint the target would refuse
   * (too many siblings, a clock too full) and for storage failures.
   */
  add(target: string, key: Buffer, record: StoredRecord, now: number): Promise<HintKept> {
    return this.lock.run(`${target}\u0000${key.toString('latin1')}`, () => this.addLocked(target, key, record, now));
  }

  private async addLocked(target: string, key: Buffer, record: StoredRecord, now: number): Promise<HintKept> {
    const k = storeKey(target, key);
    const existing = await this.store.get(k);
    const held = existing ? decodeHint(existing).record : undefined;
    const merged = held ? mergeRecords(held, record) : record;
    const over = mergeOverBounds(held, merged, this.maxSiblings);
    if (over === 'siblings') {
      throw new KvError(
        'KV_TOO_MANY_SIBLINGS',
        `a hint for ${target} would hold ${merged.siblings.length} concurrent values of one key (limit ${this.maxSiblings})`,
        { target, siblings: merged.siblings.length, limit: this.maxSiblings },
      );
    }
    if (over === 'clock') throw clockFilledError(merged.clock.size);
    const value = encodeHint(merged, now);
    const index = this.indexFor(target);
    const previous = index.get(key.toString('latin1'))?.bytes ?? 0;
    if (this.backlog(target).bytes - previous + value.length > this.caps.maxBytesPerTarget) {
      this.counters.droppedOverBytes++;
      return 'dropped';
    }
    await this.store.write([{ type: 'put', key: k, value }], { sync: true });
    index.set(key.toString('latin1'), { bytes: value.length, storedAt: now, seq: ++this.seq });
    this.counters.stored++;
    return 'stored';
  }

  /** Hints held for this key (for any target), merged; undefined when none. */
  async forKey(key: Buffer): Promise<StoredRecord | undefined> {
    let merged: StoredRecord | undefined;
    const latin = key.toString('latin1');
    for (const [target, m] of this.index) {
      if (!m.has(latin)) continue;
      const data = await this.store.get(storeKey(target, key));
      if (data) merged = merged ? mergeRecords(merged, decodeHint(data).record) : decodeHint(data).record;
    }
    return merged;
  }

  /** The hints for a target, oldest first is not guaranteed; each with its age. */
  async *forTarget(target: string): AsyncIterable<{ key: Buffer; record: StoredRecord; storedAt: number; seq: number }> {
    const index = this.index.get(target);
    for (const latin of [...(index?.keys() ?? [])]) {
      const key = Buffer.from(latin, 'latin1');
      const seq = index?.get(latin)?.seq ?? -1;
      const data = await this.store.get(storeKey(target, key));
      if (data) yield { key, seq, ...decodeHint(data) };
    }
  }

  /**
   * Removes a hint once delivered, expired, or refused for good by its target (`unsendable`: too
   * large to send, or over the target's limits); only if nothing was merged into it since it was read.
   */
  remove(target: string, key: Buffer, seq: number, reason: 'delivered' | 'expired' | 'unsendable'): Promise<void> {
    return this.lock.run(`${target}\u0000${key.toString('latin1')}`, async () => {
      const index = this.index.get(target);
      const latin = key.toString('latin1');
      if (index?.get(latin)?.seq !== seq) return;
      await this.store.write([{ type: 'del', key: storeKey(target, key) }]);
      index.delete(latin);
      if (reason === 'delivered') this.counters.delivered++;
      else if (reason === 'unsendable') this.counters.unsendableRecords++;
      else this.counters.droppedOverAge++;
    });
  }
}
