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
   * may be committed together.
   */
  write(ops: StoreOp[], options?: { sync?: boolean }): Promise<void>;
  /** Entries with keys in [gte, lt), in key order. */
  entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]>;
  /** Keys in [gte, lt), in key order, without reading their values. */
  keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer>;
  /** Bytes the store occupies on disk (approximate), 0 for memory stores. */
  diskBytes(): Promise<number>;
  close(): Promise<void>;
}
