/**
 * A least-recently-used cache bounded in bytes, not entries: the caller says what each entry
 * weighs. Map keeps insertion order, so the first key is the least recently used. Pure; O(1).
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, { value: V; bytes: number }>();
  private usedBytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly budgetBytes: number) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Looks up without counting a hit or miss and without refreshing recency (for writers). */
  peek(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Inserts or replaces; an entry larger than the whole budget is not cached at all. */
  set(key: K, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.budgetBytes) return;
    this.entries.set(key, { value, bytes });
    this.usedBytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.usedBytes <= this.budgetBytes) break;
      this.entries.delete(oldest);
      this.usedBytes -= entry.bytes;
    }
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.usedBytes -= entry.bytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.usedBytes;
  }

  /** Hits over lookups, 0 before the first lookup. */
  get hitRatio(): number {
    const total = this.hits + this.misses;
    return total === 0 ? 0 : this.hits / total;
  }
}
