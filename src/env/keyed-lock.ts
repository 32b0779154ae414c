/**
 * Mutual exclusion per key for async read-modify-write sequences: calls for one key run one after
 * another in arrival order; calls for different keys run concurrently. Holds nothing for idle keys.
 * An uncontended call costs one Map entry and an empty array (no promise of its own): the lock is
 * taken on every write, so this is on the hot path.
 */
export class KeyedLock {
  /** Keys held, each with the callers waiting for it in arrival order. */
  private readonly waiting = new Map<string, (() => void)[]>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const queue = this.waiting.get(key);
    if (queue) await new Promise<void>((resolve) => queue.push(resolve));
    else this.waiting.set(key, []);
    try {
      return await fn();
    } finally {
      // Hand the key straight to the next caller, or free it.
      const next = this.waiting.get(key)?.shift();
      if (next) next();
      else this.waiting.delete(key);
    }
  }
}
