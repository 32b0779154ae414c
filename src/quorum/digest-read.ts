/**
 * One read at R as a pure accumulator (riak_kv_get_core style, with Cassandra's digest reads):
 * the coordinator engine feeds it what replicas answered and performs the actions it returns.
 *
 * One replica (the first holder: the coordinating node when it is one) is asked for its record,
 * the others only for a digest of their versions. A replica whose digest equals the digest of
 * the merged result holds exactly those versions and counts toward R without sending them. A
 * mismatch, or a failed record read, asks that replica for its full record instead. The read is
 * decided once a record arrived and R replicas are answered, or nothing is left to wait for; the
 * engine decides at its deadline too (`decide`).
 *
 * Replicas whose digest differs from the result are stale: read repair sends them the merge. A
 * digest that arrives after the decision is still checked, so late stale replicas are repaired.
 */
import { type CausalRecord, mergeRecords, versionDigest } from '../clock/index.js';

/** What the engine does next: ask a replica for its record or digest, or repair a stale one. */
export type ReadAction = { kind: 'askRecord'; name: string } | { kind: 'askDigest'; name: string } | { kind: 'repair'; name: string };

/** Each replica is waiting for its digest or record, holds a digest not yet compared, answered, or failed. */
type ReplicaState = 'digest?' | 'record?' | 'digest' | 'answered' | 'failed';

export interface ReadResult<V> {
  /** The merge of every record heard; undefined when no replica holds the key. */
  record: CausalRecord<V> | undefined;
  /** Replicas whose versions are in the result (by record or matching digest). */
  answered: string[];
  failed: number;
}

export class DigestRead<V> {
  private merged: CausalRecord<V> | undefined;
  private haveRecord = false;
  private readonly state = new Map<string, ReplicaState>();
  /** Digest each replica reported, or of the record it sent (null: it holds nothing). */
  private readonly digests = new Map<string, string | null>();
  private decidedAt: ReadResult<V> | undefined;
  /** The digest of `merged`, taken once per merge: a read compares it with every replica's, up to three times. */
  private mergedDigest: { of: CausalRecord<V>; digest: string } | undefined;

  constructor(
    private readonly holders: readonly string[],
    private readonly r: number,
  ) {
    if (r < 1) throw new RangeError('a read quorum needs at least one reply');
  }

  /** The first requests: the first holder's record, the others' digests. */
  start(): ReadAction[] {
    const [first, ...rest] = this.holders;
    if (!first) {
      this.decide();
      return [];
    }
    this.state.set(first, 'record?');
    for (const name of rest) this.state.set(name, 'digest?');
    return [{ kind: 'askRecord', name: first }, ...rest.map((name): ReadAction => ({ kind: 'askDigest', name }))];
  }

  get decided(): boolean {
    return this.decidedAt !== undefined;
  }

  /** A replica's record (undefined: it holds nothing for the key). */
  record(name: string, record: CausalRecord<V> | undefined): ReadAction[] {
    if (this.decided) return [];
    this.haveRecord = true;
    if (record) this.merged = this.merged ? mergeRecords(this.merged, record) : record;
    // The first record is the merge: its digest is the one every replica is compared with.
    this.digests.set(name, record ? (record === this.merged ? this.wanted() : versionDigest(record)) : null);
    this.state.set(name, 'answered');
    return this.compare();
  }

  /** A replica's digest (null: it holds nothing). After the decision, only checks whether it is stale. */
  digest(name: string, digest: string | null): ReadAction[] {
    if (this.decided) return !this.merged || digest === this.wanted() ? [] : [{ kind: 'repair', name }];
    this.digests.set(name, digest);
    if (this.state.get(name) === 'digest?') this.state.set(name, 'digest');
    return this.compare();
  }

  /**
   * A stand-in joins the read (sloppy mode: it takes the place of a replica that failed). It is
   * asked for its record when no record is on its way, else for its digest.
   */
  add(name: string): ReadAction[] {
    if (this.decided || this.state.has(name)) return [];
    if (!this.haveRecord && ![...this.state.values()].includes('record?')) {
      this.state.set(name, 'record?');
      return [{ kind: 'askRecord', name }];
    }
    this.state.set(name, 'digest?');
    return [{ kind: 'askDigest', name }];
  }

  /**
   * The record asked for is late: ask a replica whose digest has come for its record too (the
   * late one may still answer, and counts if it does). Nothing when a record is in already.
   */
  hedge(): ReadAction[] {
    if (this.decided || this.haveRecord) return [];
    const next = [...this.state].find(([, s]) => s === 'digest')?.[0];
    if (next === undefined) return [];
    this.state.set(next, 'record?');
    return [{ kind: 'askRecord', name: next }];
  }

  /** Replicas asked and not answered yet. */
  waiting(): string[] {
    return [...this.state].filter(([, s]) => s === 'record?' || s === 'digest?').map(([name]) => name);
  }

  /** A request to a replica failed (record or digest). */
  failed(name: string): ReadAction[] {
    if (this.decided) return [];
    const state = this.state.get(name);
    if (state === 'record?' || state === 'digest?') this.state.set(name, 'failed');
    return this.compare();
  }

  /**
   * Decides now (also at the engine's deadline) with what was heard, and returns the repairs of
   * replicas known stale. Later calls return the same result and no repairs.
   */
  decide(): { result: ReadResult<V>; repairs: ReadAction[] } {
    if (this.decidedAt) return { result: this.decidedAt, repairs: [] };
    const names = (s: ReplicaState) => [...this.state].filter(([, x]) => x === s).map(([n]) => n);
    this.decidedAt = { record: this.merged, answered: names('answered'), failed: names('failed').length };
    const want = this.wanted();
    const repairs: ReadAction[] = [];
    if (this.merged) for (const [name, digest] of this.digests) if (digest !== want) repairs.push({ kind: 'repair', name });
    return { result: this.decidedAt, repairs };
  }

  private wanted(): string | null {
    const merged = this.merged;
    if (!merged) return null;
    if (this.mergedDigest?.of !== merged) this.mergedDigest = { of: merged, digest: versionDigest(merged) };
    return this.mergedDigest.digest;
  }

  /** Digests equal to the result's count as answers; others (or, with no record yet, one of them) are asked for their record. */
  private compare(): ReadAction[] {
    const actions: ReadAction[] = [];
    const waitingForRecord = [...this.state.values()].includes('record?');
    if (!this.haveRecord) {
      const next = [...this.state].find(([, s]) => s === 'digest')?.[0];
      if (!waitingForRecord && next) {
        this.state.set(next, 'record?');
        actions.push({ kind: 'askRecord', name: next });
      }
    } else {
      const want = this.wanted();
      for (const [name, s] of this.state) {
        if (s !== 'digest') continue;
        if (this.digests.get(name) === want) this.state.set(name, 'answered');
        else {
          this.state.set(name, 'record?');
          actions.push({ kind: 'askRecord', name });
        }
      }
    }
    const states = [...this.state.values()];
    const answered = states.filter((s) => s === 'answered').length;
    const pending = states.some((s) => s === 'record?' || s === 'digest?' || (s === 'digest' && this.haveRecord));
    if ((this.haveRecord && answered >= this.r) || !pending) actions.push(...this.decide().repairs);
    return actions;
  }
}
