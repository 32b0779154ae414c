/** A Store in memory, for unit tests and the simulator. Same contract as LevelStore. */
import type { Store, StoreOp, StoreSnapshot } from './store.js';

export class MemoryStore implements Store {
  private readonly data = new Map<string, Buffer>();
  private seq = 0;

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.data.get(key.toString('latin1'));
  }

  async write(ops: StoreOp[], _options?: { sync?: boolean }): Promise<number> {
    for (const op of ops) {
      if (op.type === 'put') this.data.set(op.key.toString('latin1'), Buffer.from(op.value));
      else this.data.delete(op.key.toString('latin1'));
    }
    return ++this.seq;
  }

  entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    return rangeOf(this.data, gte, lt);
  }

  async *keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer> {
    for await (const [key] of rangeOf(this.data, gte, lt)) yield key;
  }

  async snapshot(): Promise<StoreSnapshot> {
    const copy = new Map(this.data);
    return { seq: this.seq, entries: (gte, lt) => rangeOf(copy, gte, lt), close: async () => {} };
  }

  async diskBytes(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

async function* rangeOf(data: Map<string, Buffer>, gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
  const from = gte.toString('latin1');
  const to = lt.toString('latin1');
  const keys = [...data.keys()].filter((k) => k >= from && k < to).sort();
  for (const k of keys) {
    const v = data.get(k);
    if (v) yield [Buffer.from(k, 'latin1'), v];
  }
}
