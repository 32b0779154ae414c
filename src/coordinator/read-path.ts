/**
 * The read path (riak_kv_get_fsm's role): runs a pure DigestRead accumulator (quorum/digest-read)
 * against the key's replicas, performs the requests and read repairs it asks for, and decides at
 * the request deadline. One replica (this node when it is one) sends its record and the others
 * only a digest of their versions; stale primaries are sent the merge in the background, also
 * when their digest arrives after the reply.
 */
import { mergeRecords, versionDigest } from '../clock/index.js';
import type { Consistency } from '../config.js';
import type { KvError } from '../errors.js';
import { DigestRead, type ReadAction, type ReadResult } from '../quorum/digest-read.js';
import { planReplicas, quorumSize } from '../quorum/plan.js';
import type { StoredValue } from '../storage/codec.js';
import type { StoredRecord } from '../storage/record-format.js';
import type { LocalCopy } from './local-copy.js';
import { type CoordinatorCounters, type CoordinatorDeps, quorumError, type ReadOutcome } from './outcomes.js';

export class ReadPath {
  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly counters: CoordinatorCounters,
    private readonly local: LocalCopy,
  ) {}

  /** Reads at R, then repairs stale primaries in the background (see the module header). */
  async read(key: Buffer, options: { r?: number; consistency?: Consistency }): Promise<ReadOutcome> {
    const { self, state } = this.deps;
    const r = quorumSize(state.settings, state.ring.members.length, 'r', options.r);
    const mode = options.consistency ?? state.settings.consistency;
    const isUp = (name: string) => state.table.isUp(name, this.deps.clock.now());
    const { primaries, slots } = planReplicas(state.ring.preferenceList(key, state.settings.n), self, isUp, mode, r, 'r');
    const holders = [...slots].sort((a, b) => Number(b.holder === self) - Number(a.holder === self)).map((s) => s.holder);
    const result = await this.run(key, new DigestRead<StoredValue>(holders, r), primaries);
    const quorum = { needed: r, replied: result.answered.length, failed: result.failed, replicas: holders.length, answered: result.answered };
    if (result.answered.length < r) throw quorumError(this.counters, 'r', quorum, primaries.length);
    let record = result.record;
    if (!record && state.previousRing) record = await this.readFormerOwners(key, primaries);
    return { record, quorum, fallbacks: slots.filter((s) => s.hintFor).map((s) => s.holder) };
  }

  /** Drives a digest read: performs its actions until it decides, or decides it at the deadline. */
  private run(key: Buffer, digestRead: DigestRead<StoredValue>, primaries: string[]): Promise<ReadResult<StoredValue>> {
    return new Promise((resolve) => {
      let merged: StoredRecord | undefined;
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        timer.cancel();
        const { result, repairs } = digestRead.decide();
        merged = result.record;
        resolve(result);
        perform(repairs);
      };
      const perform = (actions: ReadAction[]) => {
        if (digestRead.decided) settle(); // decided by these answers: reply first, then repair
        for (const action of actions) {
          if (action.kind === 'askRecord') {
            this.fetchRecord(action.name, key).then(
              (record) => perform(digestRead.record(action.name, record)),
              () => perform(digestRead.failed(action.name)),
            );
          } else if (action.kind === 'askDigest') {
            this.fetchDigest(action.name, key).then(
              (digest) => perform(digestRead.digest(action.name, digest)),
              () => perform(digestRead.failed(action.name)),
            );
          } else if (merged && primaries.includes(action.name)) void this.repair(action.name, key, merged);
        }
      };
      const timer = this.deps.clock.setTimer(this.deps.requestTimeoutMs, settle);
      perform(digestRead.start());
    });
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
      this.deps.logger.log('debug', 'read repair failed', { peer: name, code: (err as KvError).code });
    }
  }
}
