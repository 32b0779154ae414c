/**
 * The quorum coordinator engine (Dynamo §4.5): any node takes any request. A write is applied at
 * one of the key's replicas (forwarded to one if this node is not), which creates the new version
 * with its own dot, then sent to the other N-1 replicas; the client is answered once W of them
 * (the coordinating replica included) acknowledged, or told KV_QUORUM_NOT_MET with how many did.
 * A read asks all N replicas, answers with the merge of the first R replies, and afterwards
 * writes the merged record back to replicas that were stale or missing it (read repair).
 *
 * A write that misses its quorum is not rolled back: the replicas that took it keep it (as in
 * Dynamo and Riak), and a later read may see it.
 */
import { emptyVector, encodeContext, mergeRecords, type VersionVector } from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/logger.js';
import { KvError } from '../errors.js';
import type { ClusterState } from '../membership/cluster-state.js';
import { isUnreachable, type Transport } from '../net/transport.js';
import type { LocalReplica } from '../node/local-replica.js';
import { recordFromWire, recordToWire } from '../node/record-wire.js';
import type { StoredValue } from '../storage/codec.js';
import type { StoredRecord } from '../storage/record-format.js';
import { type QuorumState, type QuorumSummary, ReadQuorum, WriteQuorum } from './quorum.js';

export interface CoordinatorDeps {
  self: string;
  replica: LocalReplica;
  state: ClusterState;
  transport: Transport;
  clock: Clock;
  logger: Logger;
  requestTimeoutMs: number;
}

export interface WriteOutcome {
  record: StoredRecord;
  existed: boolean;
  quorum: QuorumSummary;
}

export interface ReadOutcome {
  record: StoredRecord | undefined;
  quorum: QuorumSummary;
}

export class Coordinator {
  readonly counters = { forwarded: 0, readRepairs: 0, quorumFailures: 0 };

  constructor(private readonly deps: CoordinatorDeps) {}

  private quorumSize(field: 'w' | 'r', requested: number | undefined): number {
    const { n } = this.deps.state.settings;
    const value = requested ?? this.deps.state.settings[field];
    if (value < 1 || value > n) {
      throw new KvError('KV_INVALID_QUORUM', `${field}=${value} must be between 1 and N=${n}`, { field, value, n });
    }
    return value;
  }

  private replicasOf(key: Buffer): string[] {
    const replicas = this.deps.state.ring.primaries(key, this.deps.state.settings.n);
    if (replicas.length === 0) throw new KvError('KV_NOT_MEMBER', 'this node has no ring to place keys on (it left the cluster)');
    return replicas;
  }

  private isUp(name: string): boolean {
    return this.deps.state.table.isUp(name, this.deps.clock.now());
  }

  /** Writes (value null: delete). `forwarded` marks a write another node sent us to coordinate. */
  async write(key: Buffer, value: Buffer | null, context: VersionVector | undefined, options: { w?: number; forwarded?: boolean } = {}): Promise<WriteOutcome> {
    const w = this.quorumSize('w', options.w);
    const replicas = this.replicasOf(key);
    const { self } = this.deps;
    if (!replicas.includes(self) && !options.forwarded) {
      const forwarded = await this.forward(key, value, context, options.w, replicas);
      if (forwarded) return forwarded;
    }
    // A delete without a context removes what a read quorum sees now (as Riak's delete does).
    const seen = value === null && context === undefined ? ((await this.read(key, {})).record?.clock ?? emptyVector) : context;
    const local = await this.deps.replica.write(key, value, seen);
    const quorum = new WriteQuorum(replicas, w);
    if (replicas.includes(self)) quorum.ack(self);
    const wire = recordToWire(local.record);
    const sends = replicas
      .filter((name) => name !== self)
      .map((name) => () => this.send(name, { op: 'kv.replicate', key: key.toString('base64'), record: wire }));
    const state = await this.decide(
      sends.map((send, i) => ({ name: replicas.filter((r) => r !== self)[i] as string, run: send })),
      (name, ok, reason) => (ok ? quorum.ack(name) : quorum.fail(name, reason)),
      () => quorum.state(),
    );
    if (state !== 'met') throw this.quorumError('w', quorum.summary());
    return { record: local.record, existed: local.existed, quorum: quorum.summary() };
  }

  /** Reads at R, then repairs stale replicas in the background. */
  async read(key: Buffer, options: { r?: number }): Promise<ReadOutcome> {
    const r = this.quorumSize('r', options.r);
    const replicas = this.replicasOf(key);
    const quorum = new ReadQuorum<StoredValue>(replicas, r);
    const asks = replicas.map((name) => ({
      name,
      run: async () => (name === this.deps.self ? this.deps.replica.read(key, false) : this.fetch(name, key)),
    }));
    const state = await this.decide(
      asks,
      (name, ok, reason, record) => (ok ? quorum.reply(name, record as StoredRecord | undefined) : quorum.fail(name, reason)),
      () => quorum.state(),
      () => {
        // Every replica answered (or the deadline passed): write the merge back where it was missing.
        const merged = quorum.result();
        if (merged) for (const name of quorum.repairTargets()) void this.repair(name, key, merged);
      },
    );
    if (state !== 'met') throw this.quorumError('r', quorum.summary());
    let record = quorum.result();
    if (!record && this.deps.state.previousRing) record = await this.readFormerOwners(key, replicas);
    return { record, quorum: quorum.summary() };
  }

  /** During an ownership transfer, a key may still be only at its former owners. */
  private async readFormerOwners(key: Buffer, replicas: string[]): Promise<StoredRecord | undefined> {
    const former = this.deps.state.previousRing?.primaries(key, this.deps.state.settings.n).filter((name) => !replicas.includes(name)) ?? [];
    const records = await Promise.all(
      former.map((name) => (name === this.deps.self ? this.deps.replica.read(key, false) : this.fetch(name, key).catch(() => undefined))),
    );
    let merged: StoredRecord | undefined;
    for (const rec of records) if (rec) merged = merged ? mergeRecords(merged, rec) : rec;
    if (merged) for (const name of replicas) void this.repair(name, key, merged);
    return merged;
  }

  private async fetch(name: string, key: Buffer): Promise<StoredRecord | undefined> {
    const reply = await this.send(name, { op: 'kv.read', key: key.toString('base64') });
    return reply.record ? recordFromWire(reply.record) : undefined;
  }

  private async repair(name: string, key: Buffer, record: StoredRecord): Promise<void> {
    this.counters.readRepairs++;
    try {
      if (name === this.deps.self) await this.deps.replica.merge(key, record);
      else await this.send(name, { op: 'kv.replicate', key: key.toString('base64'), record: recordToWire(record) });
    } catch (err) {
      this.deps.logger.log('debug', 'read repair failed', { peer: name, code: (err as KvError).code });
    }
  }

  private async forward(
    key: Buffer,
    value: Buffer | null,
    context: VersionVector | undefined,
    w: number | undefined,
    replicas: string[],
  ): Promise<WriteOutcome | undefined> {
    for (const name of replicas) {
      if (!this.isUp(name)) continue;
      try {
        const reply = await this.send(name, {
          op: 'kv.coordinate',
          key: key.toString('base64'),
          ...(value === null ? { delete: true } : { value: value.toString('base64') }),
          ...(context ? { context: encodeContext(context) } : {}),
          ...(w ? { w } : {}),
        });
        this.counters.forwarded++;
        return { record: recordFromWire(reply.record), existed: reply.existed === true, quorum: reply.quorum as QuorumSummary };
      } catch (err) {
        if (!isUnreachable(err)) throw err; // the replica's own answer (quorum not met, bad request) stands
      }
    }
    return undefined; // no replica reachable: coordinate here, and let the quorum tell the truth
  }

  private send(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const addr = this.deps.state.addrOf(name);
    if (!addr) return Promise.reject(new KvError('KV_UNREACHABLE', `no address known for ${name}`));
    if (!this.isUp(name)) return Promise.reject(new KvError('KV_UNREACHABLE', `${name} is down`));
    return this.deps.transport.request(addr, body, this.deps.requestTimeoutMs);
  }

  /**
   * Runs every task, feeding results to `onResult`, and resolves the quorum state as soon as it
   * is decided or the request deadline passes; `onSettled` runs once every task finished.
   */
  private decide(
    tasks: { name: string; run: () => Promise<unknown> }[],
    onResult: (name: string, ok: boolean, reason: string, value?: unknown) => QuorumState,
    current: () => QuorumState,
    onSettled?: () => void,
  ): Promise<QuorumState> {
    return new Promise((resolve) => {
      let decided = false;
      let remaining = tasks.length;
      const timer = this.deps.clock.setTimer(this.deps.requestTimeoutMs, () => finish(current()));
      const finish = (state: QuorumState) => {
        if (decided) return;
        decided = true;
        timer.cancel();
        resolve(state);
      };
      // Success answers at once; failure waits for the stragglers (or the deadline), so the error
      // says truthfully how many replicas took the write.
      const check = (state: QuorumState) => {
        if (state === 'met' || (state === 'failed' && remaining === 0)) finish(state);
      };
      check(current());
      if (tasks.length === 0) onSettled?.();
      for (const task of tasks) {
        task
          .run()
          .then(
            (value) => check(onResult(task.name, true, '', value)),
            (err: unknown) => check(onResult(task.name, false, (err as KvError).code ?? String(err))),
          )
          .finally(() => {
            remaining--;
            if (remaining === 0) {
              check(current());
              onSettled?.();
            }
          });
      }
    });
  }

  private quorumError(field: 'w' | 'r', summary: QuorumSummary): KvError {
    this.counters.quorumFailures++;
    const verb = field === 'w' ? 'acknowledged the write' : 'answered the read';
    return new KvError(
      'KV_QUORUM_NOT_MET',
      `only ${summary.replied} of ${summary.replicas} replicas ${verb}; ${field.toUpperCase()}=${summary.needed} needed`,
      {
        ...summary,
      },
    );
  }

  /** Peer op kv.read: our record for the key, in wire form. */
  async handleRead(key: Buffer): Promise<Record<string, unknown>> {
    const record = await this.deps.replica.read(key, false);
    return { record: record ? recordToWire(record) : null };
  }

  /** Peer op kv.replicate: merge the record into ours. */
  async handleReplicate(key: Buffer, wire: unknown): Promise<Record<string, unknown>> {
    await this.deps.replica.merge(key, recordFromWire(wire));
    return {};
  }

  /** Peer op kv.coordinate: another node asks us, a replica, to coordinate a write. */
  async handleCoordinate(key: Buffer, value: Buffer | null, context: VersionVector | undefined, w: number | undefined): Promise<Record<string, unknown>> {
    const outcome = await this.write(key, value, context, { w, forwarded: true });
    return { record: recordToWire(outcome.record), existed: outcome.existed, quorum: outcome.quorum };
  }
}
