/**
 * The write quorum accumulator, pure (riak_kv_put_core style): the write path feeds it acks and
 * failures and asks whether the write is decided (reads: digest-read.ts). W+R > N makes every
 * read quorum intersect every write quorum, which is what gives read-your-writes.
 */

export type QuorumState = 'pending' | 'met' | 'failed';

export interface QuorumSummary {
  needed: number;
  replied: number;
  failed: number;
  replicas: number;
  answered: string[];
}

export class WriteQuorum {
  private readonly acked = new Set<string>();
  private readonly failures = new Map<string, string>();
  private readonly replicas: string[];

  constructor(
    replicas: readonly string[],
    readonly needed: number,
  ) {
    if (needed < 1) throw new RangeError('a write quorum needs at least one ack');
    this.replicas = [...replicas];
  }

  /** A stand-in joins the write (sloppy mode: it takes the place of a replica that failed). */
  add(name: string): QuorumState {
    if (!this.replicas.includes(name)) this.replicas.push(name);
    return this.state();
  }

  /** Whether `name` has acknowledged or failed. */
  settled(name: string): boolean {
    return this.acked.has(name) || this.failures.has(name);
  }

  /** Replicas that failed, each with why (for the error that reports a missed quorum). */
  failed(): ReadonlyMap<string, string> {
    return this.failures;
  }

  ack(name: string): QuorumState {
    if (!this.failures.has(name)) this.acked.add(name);
    return this.state();
  }

  fail(name: string, reason: string): QuorumState {
    if (!this.acked.has(name)) this.failures.set(name, reason);
    return this.state();
  }

  state(): QuorumState {
    if (this.acked.size >= this.needed) return 'met';
    const outstanding = this.replicas.length - this.acked.size - this.failures.size;
    return this.acked.size + outstanding < this.needed ? 'failed' : 'pending';
  }

  summary(): QuorumSummary {
    return { needed: this.needed, replied: this.acked.size, failed: this.failures.size, replicas: this.replicas.length, answered: [...this.acked] };
  }
}
