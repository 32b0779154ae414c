/**
 * The contract between engines and a byte store (LevelDB in the daemon, a Map in tests and the
 * simulator). Keys and values are bytes; ordering is bytewise. `write` is atomic per call.
 */

export type StoreOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface Store {
  /** The value, or undefined when absent. */
  get(key: Buffer): Promise<Buffer | undefined>;
  /**
   * Applies `ops` atomically. Resolves once the store's durability policy is met (for LevelStore:
   * handed to the OS, or fsynced with the store's `sync` or this call's `sync`); concurrent calls
   * may be committed together. Resolves the commit's sequence number (see `snapshot`).
   */
  write(ops: StoreOp[], options?: { sync?: boolean }): Promise<number>;
  /** Entries with keys in [gte, lt), in key order. */
  entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]>;
  /** Keys in [gte, lt), in key order, without reading their values. */
  keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer>;
  /**
   * A consistent read view: it holds exactly the writes whose sequence number is at most `seq`.
   * Whoever keeps state derived from the store rebuilds it from a snapshot and then replays the
   * changes numbered above `seq`, without missing or double-counting a write in flight.
   */
  snapshot(): Promise<StoreSnapshot>;
  /** Bytes the store occupies on disk (approximate), 0 for memory stores. */
  diskBytes(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreSnapshot {
  readonly seq: number;
  entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]>;
  close(): Promise<void>;
}
