/**
 * Quorum accumulators, pure (riak_kv_put_core / riak_kv_get_core style): the coordinator engine
 * feeds them replies and failures and asks whether the request is decided. W+R > N makes every
 * read quorum intersect every write quorum, which is what gives read-your-writes.
 */
import { type CausalRecord, mergeRecords, sameVersions } from '../clock/index.js';

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

  constructor(
    readonly replicas: readonly string[],
    readonly needed: number,
  ) {
    if (needed < 1) throw new RangeError('a write quorum needs at least one ack');
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

export class ReadQuorum<V> {
  private readonly replies = new Map<string, CausalRecord<V> | undefined>();
  private readonly failures = new Map<string, string>();
  private merged: CausalRecord<V> | undefined;

  constructor(
    readonly replicas: readonly string[],
    readonly needed: number,
  ) {
    if (needed < 1) throw new RangeError('a read quorum needs at least one reply');
  }

  /** A replica's record (undefined: it holds nothing for the key). */
  reply(name: string, record: CausalRecord<V> | undefined): QuorumState {
    if (this.replies.has(name) || this.failures.has(name)) return this.state();
    this.replies.set(name, record);
    if (record) this.merged = this.merged ? mergeRecords(this.merged, record) : record;
    return this.state();
  }

  fail(name: string, reason: string): QuorumState {
    if (!this.replies.has(name)) this.failures.set(name, reason);
    return this.state();
  }

  state(): QuorumState {
    if (this.replies.size >= this.needed) return 'met';
    const outstanding = this.replicas.length - this.replies.size - this.failures.size;
    return this.replies.size + outstanding < this.needed ? 'failed' : 'pending';
  }

  /** Everything heard so far, merged; undefined when no replica holds the key. */
  result(): CausalRecord<V> | undefined {
    return this.merged;
  }

  /** True once every replica replied or failed. */
  complete(): boolean {
    return this.replies.size + this.failures.size >= this.replicas.length;
  }

  /** Replicas that replied with less than the merged record: read repair sends it to them. */
  repairTargets(): string[] {
    const merged = this.merged;
    if (!merged) return [];
    return [...this.replies].filter(([, record]) => !record || !sameVersions(record, merged)).map(([name]) => name);
  }

  summary(): QuorumSummary {
    return { needed: this.needed, replied: this.replies.size, failed: this.failures.size, replicas: this.replicas.length, answered: [...this.replies.keys()] };
  }
}
