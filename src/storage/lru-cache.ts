/**
 * A least-recently-used cache bounded in bytes, not entries: the caller says what each entry
 * weighs. Pure; O(1) per operation: a Map finds entries, a doubly linked list keeps their order
 * (head: least recently used). A Map alone, evicting its first key, is not O(1) in V8: deleted
 * entries stay as holes until the table is rebuilt, and every scan from the front skips them
 * (measured: 23 µs per miss with a full 64 MiB cache of 1.4 KB records under churn, now ~1).
 */
interface Entry<K, V> {
  key: K;
  value: V;
  bytes: number;
  older: Entry<K, V> | undefined;
  newer: Entry<K, V> | undefined;
}

export class LruCache<K, V> {
  private readonly entries = new Map<K, Entry<K, V>>();
  private oldest: Entry<K, V> | undefined;
  private newest: Entry<K, V> | undefined;
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
    this.unlink(entry);
    this.append(entry);
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
    const entry: Entry<K, V> = { key, value, bytes, older: undefined, newer: undefined };
    this.entries.set(key, entry);
    this.append(entry);
    this.usedBytes += bytes;
    while (this.usedBytes > this.budgetBytes && this.oldest) this.remove(this.oldest);
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(entry);
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

  private remove(entry: Entry<K, V>): void {
    this.entries.delete(entry.key);
    this.unlink(entry);
    this.usedBytes -= entry.bytes;
  }

  private append(entry: Entry<K, V>): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry<K, V>): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = undefined;
    entry.newer = undefined;
  }
}
