/**
 * What a simulated client knows of its writes, and the values the cluster therefore owes it: every
 * acknowledged value must stay readable unless a causal successor replaced it.
 *
 * Which writes may replace a value:
 * - a write carrying the context of a read replaces exactly the values that read returned (its
 *   context covers their dots);
 * - a plain write (no context) replaces what a read at R would see as it is coordinated, which
 *   the client does not know: any plain write of the key that had not been acknowledged when the
 *   value's write was issued may have. A write that failed may still be coordinated after the
 *   client was told (a forwarded write, a replica that took it), so it may replace any value;
 * - a `keepSiblings` write replaces nothing.
 *
 * A value is accounted for when it is present, or when a write that may have replaced it was
 * acknowledged (only for writes with a read's context, whose successors are exact) or is itself
 * accounted for. A write that failed is not rolled back (a replica that took it keeps it), so it
 * may have replaced what it saw: if it did, it is present, or replaced in turn. The values it saw
 * stay owed until then. An acknowledged value that is not accounted for is lost.
 */

export interface LedgerWrite {
  readonly key: string;
  readonly value: string;
  readonly issuedAt: number;
  /** Virtual time its reply or failure came (infinity while in flight). */
  settledAt: number;
  acked: boolean;
  /** The values the read before it returned; 'plain': a write without context; []: keepSiblings. */
  readonly replaces: readonly string[] | 'plain';
}

export class AckLedger {
  private readonly byKey = new Map<string, LedgerWrite[]>();
  /** Keys with writes acknowledged since the last `takeAcked()`. */
  private acked = new Set<string>();
  ackedCount = 0;
  failedCount = 0;

  /** Notes a write as the client sends it. */
  issue(key: string, value: string, replaces: readonly string[] | 'plain', now: number): LedgerWrite {
    const write: LedgerWrite = { key, value, issuedAt: now, settledAt: Number.POSITIVE_INFINITY, acked: false, replaces };
    let writes = this.byKey.get(key);
    if (!writes) this.byKey.set(key, (writes = []));
    writes.push(write);
    return write;
  }

  /** Notes the reply (acked) or failure of a write. */
  settle(write: LedgerWrite, acked: boolean, now: number): void {
    write.settledAt = now;
    write.acked = acked;
    if (acked) {
      this.ackedCount++;
      this.acked.add(write.key);
    } else {
      this.failedCount++;
    }
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** Keys with writes acknowledged since the last call. */
  takeAcked(): Set<string> {
    const keys = this.acked;
    this.acked = new Set();
    return keys;
  }

  /** Acknowledged writes of `key` whose values are neither present nor accounted for by a successor. */
  lost(key: string, present: ReadonlySet<string>): LedgerWrite[] {
    const writes = this.byKey.get(key) ?? [];
    const byValue = new Map(writes.map((w) => [w.value, w]));
    const accounted = new Set<LedgerWrite>();
    const queue: LedgerWrite[] = [];
    const account = (w: LedgerWrite | undefined) => {
      if (!w || accounted.has(w)) return;
      accounted.add(w);
      queue.push(w);
    };
    for (const w of writes) {
      if (present.has(w.value)) account(w);
      if (w.acked && w.replaces !== 'plain') for (const v of w.replaces) account(byValue.get(v));
    }
    // Backwards from what is accounted for to what it may have replaced.
    while (queue.length > 0) {
      const successor = queue.pop() as LedgerWrite;
      if (successor.replaces === 'plain') {
        const effectiveUntil = successor.acked ? successor.settledAt : Number.POSITIVE_INFINITY;
        for (const w of writes) if (w !== successor && w.replaces === 'plain' && effectiveUntil >= w.issuedAt) account(w);
      } else {
        for (const v of successor.replaces) account(byValue.get(v));
      }
    }
    return writes.filter((w) => w.acked && !accounted.has(w));
  }
}
