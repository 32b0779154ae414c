/** A Store in memory, for unit tests and the simulator. Same contract as LevelStore. */
import type { Store, StoreOp } from './store.js';

export class MemoryStore implements Store {
  private readonly data = new Map<string, Buffer>();

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.data.get(key.toString('latin1'));
  }

  async write(ops: StoreOp[], _options?: { sync?: boolean }): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.data.set(op.key.toString('latin1'), Buffer.from(op.value));
      else this.data.delete(op.key.toString('latin1'));
    }
  }

  async *keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer> {
    for await (const [key] of this.entries(gte, lt)) yield key;
  }

  async *entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const from = gte.toString('latin1');
    const to = lt.toString('latin1');
    const keys = [...this.data.keys()].filter((k) => k >= from && k < to).sort();
    for (const k of keys) {
      const v = this.data.get(k);
      if (v) yield [Buffer.from(k, 'latin1'), v];
    }
  }

  async diskBytes(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}
