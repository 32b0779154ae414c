/**
 * The read path (riak_kv_get_fsm's role): runs a pure DigestRead accumulator (quorum/digest-read)
 * against the key's replicas, performs the requests and read repairs it asks for, and decides at
 * the request deadline. One replica (this node when it is one) sends its record and the others
 * only a digest of their versions; stale primaries are sent the merge in the background, also
 * when their digest arrives after the reply.
 *
 * Replicas that just failed one of this node's requests (RecentFailures) are asked last, and in
 * sloppy mode not at all (fallbacks stand in, as for down ones). Within a read, a replica that
 * fails, or in sloppy mode has not answered by its replica deadline (a share of the request's),
 * is remembered; in sloppy mode the next healthy node after the key's primaries stands in for it
 * in the time left. In strict mode a record that is late is also asked of a replica whose digest
 * came (the late one still counts if it answers).
 */
import { mergeRecords, versionDigest } from '../clock/index.js';
import type { Consistency } from '../config.js';
import type { KvError } from '../errors.js';
import { isUnreachable } from '../protocol/transport.js';
import { DigestRead, type ReadAction, type ReadResult } from '../quorum/digest-read.js';
import { nextStandIn, planReplicas, quorumSize, readOrder, replicaDeadlineMs, standInMayHelp } from '../quorum/plan.js';
import type { RecentFailures } from '../quorum/recent-failures.js';
import type { PreferenceSequence } from '../ring/index.js';
import type { StoredValue } from '../storage/codec.js';
import type { StoredRecord } from '../storage/record-format.js';
import type { LocalCopy } from './local-copy.js';
import { type CoordinatorCounters, type CoordinatorDeps, failureReason, missedDeadline, quorumError, type ReadOutcome } from './outcomes.js';

/** One read as the engine runs it: the key, its preference list, and who has been asked. */
interface ReadJob {
  key: Buffer;
  prefs: PreferenceSequence;
  mode: Consistency;
  primaries: string[];
  /** Every node this read has used (primaries and holders): a stand-in is none of them. */
  used: Set<string>;
  /** Fallbacks asked in place of primaries (they may hold only hints: the result may be stale). */
  fallbacks: string[];
  /** Why replicas failed, for the error. */
  failures: Map<string, string>;
  /** Nodes asked so far (holders, then stand-ins). */
  asked: number;
}

export class ReadPath {
  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly counters: CoordinatorCounters,
    private readonly local: LocalCopy,
    private readonly recent: RecentFailures,
  ) {}

  /** Reads at R, then repairs stale primaries in the background (see the module header). */
  async read(key: Buffer, options: { r?: number; consistency?: Consistency }): Promise<ReadOutcome> {
    const { self, state } = this.deps;
    const r = quorumSize(state.settings, state.ring.members.length, 'r', options.r);
    const mode = options.consistency ?? state.settings.consistency;
    const prefs = state.ring.preferences(key, state.settings.n);
    const { primaries, slots } = planReplicas(prefs, self, mode === 'sloppy' ? this.healthy : this.isUp, mode, r, 'r');
    const now = this.deps.clock.now();
    const holders = readOrder(
      slots.map((s) => s.holder),
      self,
      (name) => this.recent.has(name, now),
    );
    const job: ReadJob = {
      key,
      prefs,
      mode,
      primaries,
      used: new Set([...primaries, ...holders]),
      fallbacks: slots.filter((s) => s.hintFor).map((s) => s.holder),
      failures: new Map(),
      asked: holders.length,
    };
    const result = await this.run(job, new DigestRead<StoredValue>(holders, r));
    const quorum = { needed: r, replied: result.answered.length, failed: result.failed, replicas: job.asked, answered: result.answered };
    if (result.answered.length < r) throw quorumError(this.counters, 'r', quorum, primaries.length, job.failures);
    let record = result.record;
    if (!record && state.previousRing) record = await this.readFormerOwners(key, primaries);
    return { record, quorum, fallbacks: job.fallbacks };
  }

  private readonly isUp = (name: string): boolean => this.deps.state.table.isUp(name, this.deps.clock.now());

  /** Up in gossip and not just failed one of this node's requests (this node always is). */
  private readonly healthy = (name: string): boolean => name === this.deps.self || (this.isUp(name) && !this.recent.has(name, this.deps.clock.now()));

  /**
   * Drives a digest read: performs its actions until it decides, or decides it at the deadline.
   * Sloppy: replicas still silent at their deadline fail and stand-ins are asked; strict: a late
   * record is asked of another replica too.
   */
  private run(job: ReadJob, digestRead: DigestRead<StoredValue>): Promise<ReadResult<StoredValue>> {
    const { clock, requestTimeoutMs } = this.deps;
    const replicaDeadline = replicaDeadlineMs(requestTimeoutMs, job.mode);
    return new Promise((resolve) => {
      let merged: StoredRecord | undefined;
      let settled = false;
      /** Replicas counted as failed at their deadline: a late answer does not clear their failure. */
      const late = new Set<string>();
      const settle = () => {
        if (settled) return;
        settled = true;
        timer.cancel();
        replicaTimer?.cancel();
        const { result, repairs } = digestRead.decide();
        merged = result.record;
        resolve(result);
        perform(repairs);
      };
      /** Sloppy: the next healthy node after the primaries joins the read in place of `name`. */
      const standIn = (): ReadAction[] => {
        if (job.mode !== 'sloppy' || digestRead.decided) return [];
        const name = nextStandIn(job.prefs, job.used, this.deps.self, this.healthy);
        if (name === undefined) return [];
        job.used.add(name);
        job.fallbacks.push(name);
        job.asked++;
        this.counters.standIns++;
        return digestRead.add(name);
      };
      const failed = (name: string, err: unknown) => {
        if (isUnreachable(err)) this.recent.failed(name, clock.now());
        if (digestRead.decided || !digestRead.waiting().includes(name)) return [];
        job.failures.set(name, failureReason(err));
        // The stand-in joins before the failure is counted: a read with nothing left to wait for decides.
        const actions = standInMayHelp((err as KvError | undefined)?.code) ? standIn() : [];
        return [...actions, ...digestRead.failed(name)];
      };
      const answered = (name: string) => {
        if (!late.has(name)) this.recent.answered(name);
      };
      const perform = (actions: ReadAction[]) => {
        if (digestRead.decided) settle(); // decided by these answers: reply first, then repair
        for (const action of actions) {
          if (action.kind === 'askRecord') {
            this.fetchRecord(action.name, job.key).then(
              (record) => {
                answered(action.name);
                perform(digestRead.record(action.name, record));
              },
              (err: unknown) => perform(failed(action.name, err)),
            );
          } else if (action.kind === 'askDigest') {
            this.fetchDigest(action.name, job.key).then(
              (digest) => {
                answered(action.name);
                perform(digestRead.digest(action.name, digest));
              },
              (err: unknown) => perform(failed(action.name, err)),
            );
          } else if (merged && job.primaries.includes(action.name)) void this.repair(action.name, job.key, merged);
        }
      };
      const replicaDeadlinePassed = () => {
        if (digestRead.decided) return;
        if (job.mode !== 'sloppy') {
          perform(digestRead.hedge());
          return;
        }
        const actions: ReadAction[] = [];
        for (const name of digestRead.waiting()) {
          late.add(name);
          this.missedDeadline(name);
          job.failures.set(name, missedDeadline(replicaDeadline));
          actions.push(...standIn(), ...digestRead.failed(name));
        }
        perform(actions);
      };
      const requestDeadlinePassed = () => {
        for (const name of digestRead.waiting()) {
          this.missedDeadline(name);
          job.failures.set(name, missedDeadline(requestTimeoutMs));
        }
        settle();
      };
      const timer = clock.setTimer(requestTimeoutMs, requestDeadlinePassed);
      // Strict reads hedge a late record at half the request time, sloppy ones replace late replicas at their deadline.
      const replicaTimer = clock.setTimer(job.mode === 'sloppy' ? replicaDeadline : Math.floor(requestTimeoutMs / 2), replicaDeadlinePassed);
      perform(digestRead.start());
    });
  }

  /** `name` did not answer within its deadline: counted, and routed around for a while. */
  private missedDeadline(name: string): void {
    this.counters.replicaDeadlinesMissed++;
    this.recent.failed(name, this.deps.clock.now());
  }

  /** A replica's full record (this node: local data and hints). */
  private fetchRecord(name: string, key: Buffer): Promise<StoredRecord | undefined> {
    return name === this.deps.self ? this.local.record(key) : this.deps.peers.read(name, key);
  }

  /** A replica's version digest (null: it holds nothing for the key). */
  private async fetchDigest(name: string, key: Buffer): Promise<string | null> {
    if (name === this.deps.self) {
      const record = await this.local.record(key);
      return record ? versionDigest(record) : null;
    }
    return (await this.deps.peers.digest(name, key)) ?? null;
  }

  /** During an ownership transfer, a key may still be only at its former owners. */
  private async readFormerOwners(key: Buffer, replicas: string[]): Promise<StoredRecord | undefined> {
    const { previousRing, previousN, settings } = this.deps.state;
    // After N was raised the former replicas are among the current ones, but their answer may not
    // have been among the first R: ask every former replica but this node, whose record was read.
    const former = previousRing?.primaries(key, previousN ?? settings.n).filter((name) => name !== this.deps.self) ?? [];
    const records = await Promise.all(former.map((name) => this.deps.peers.read(name, key).catch(() => undefined)));
    let merged: StoredRecord | undefined;
    for (const rec of records) if (rec) merged = merged ? mergeRecords(merged, rec) : rec;
    if (merged) for (const name of replicas) void this.repair(name, key, merged);
    return merged;
  }

  private async repair(name: string, key: Buffer, record: StoredRecord): Promise<void> {
    this.counters.readRepairs++;
    try {
      if (name === this.deps.self) await this.deps.replica.merge(key, record);
      else await this.deps.peers.replicate(name, { key, record });
    } catch (err) {
      this.deps.logger.log('debug', 'read.repair_failed', 'read repair failed', { peer: name, code: (err as KvError).code });
    }
  }
}
