/**
 * The LevelDB store (classic-level) with group commit: writes that arrive while a batch is being
 * committed are joined into the next `db.batch`, one batch in flight at a time (which also keeps
 * LevelDB's apply order equal to arrival order). Measured here: ~33k awaited single puts/s versus
 * ~300k/s in batches of 100.
 *
 * Durability: without `sync`, a write is acknowledged once LevelDB has appended it to its log in
 * the OS page cache: it survives a crash of the daemon (kill -9), not of the OS. With `sync`, each
 * batch is fsynced before any of its writes is acknowledged.
 */
import { dirname } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { KvError } from '../errors.js';
import type { Store, StoreOp } from './store.js';

interface Pending {
  ops: StoreOp[];
  sync: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class LevelStore implements Store {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private queue: Pending[] = [];
  private committing = false;
  batches = 0;
  batchedOps = 0;

  private constructor(
    readonly location: string,
    private readonly sync: boolean,
  ) {
    this.db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  }

  /** Opens (creating if needed); a dir held by another process fails with KV_DATA_DIR_LOCKED. */
  static async open(location: string, options: { sync: boolean }): Promise<LevelStore> {
    const store = new LevelStore(location, options.sync);
    try {
      await store.db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new KvError('KV_DATA_DIR_LOCKED', `data dir ${dirname(location)} is in use by another kvctl daemon`, { location }, { cause: err });
      }
      throw new KvError('KV_STORAGE', `cannot open LevelDB at ${location}: ${(err as Error).message}`, { location }, { cause: err });
    }
    return store;
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(key);
  }

  /** `sync` fsyncs this write's batch (hints use it) even when the store is not in sync mode. */
  write(ops: StoreOp[], options: { sync?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, sync: options.sync === true, resolve, reject });
      if (!this.committing) void this.commitLoop();
    });
  }

  private async commitLoop(): Promise<void> {
    this.committing = true;
    // Let the rest of this tick's writes join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      const ops = group.length === 1 ? (group[0] as Pending).ops : group.flatMap((p) => p.ops);
      try {
        await this.db.batch(ops, { sync: this.sync || group.some((p) => p.sync) });
        this.batches++;
        this.batchedOps += ops.length;
        for (const p of group) p.resolve();
      } catch (err) {
        const error = new KvError('KV_STORAGE', `write failed: ${(err as Error).message}`, undefined, { cause: err });
        for (const p of group) p.reject(error);
      }
    }
    this.committing = false;
  }

  async *entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const iterator = this.db.iterator({ gte, lt });
    try {
      for (;;) {
        const chunk = await iterator.nextv(1000);
        if (chunk.length === 0) break;
        for (const entry of chunk) yield entry;
      }
    } finally {
      await iterator.close();
    }
  }

  diskBytes(): Promise<number> {
    return this.db.approximateSize(Buffer.alloc(0), Buffer.alloc(64, 0xff));
  }

  /** Waits for queued writes, then closes LevelDB (flushing its log). */
  async close(): Promise<void> {
    while (this.committing || this.queue.length > 0) await new Promise<void>((r) => setImmediate(r));
    await this.db.close();
  }
}
