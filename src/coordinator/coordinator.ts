/**
 * The quorum coordinator engine (Dynamo §4.5): any node takes any request. A write is applied at
 * one of the key's replicas (forwarded to one if this node is not), which creates the new version
 * with its own dot, then sent to the other N-1 replicas; the client is answered once W of them
 * (the coordinating replica included) acknowledged, or told KV_QUORUM_NOT_MET with how many did.
 * A read asks all N replicas, answers with the merge of the first R replies, and afterwards
 * writes the merged record back to replicas that were stale or missing it (read repair).
 *
 * A write without a context (a plain put or delete) supersedes what a read at R would see at that
 * moment: the coordinating replica gathers the version vectors of R replicas (itself included,
 * under the key's lock as it writes) and writes with their merge. With W+R>N a plain write that
 * follows an acknowledged one, through any coordinator, supersedes it; writes that overlap in time
 * through different coordinators still become siblings. `keepSiblings` writes with no context at
 * all (the new version is a sibling of everything there), for shopping-cart style merges.
 *
 * A write that misses its quorum is not rolled back: the replicas that took it keep it (as in
 * Dynamo and Riak), and a later read may see it.
 */

import { emptyVector, mergeRecords, mergeVectors, type VersionVector, versionDigest } from '../clock/index.js';
import type { Consistency } from '../config.js';
import type { Clock, Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';
import { KvError, toKvError } from '../errors.js';
import type { HintStore } from '../handoff/hint-store.js';
import type { PeerReplies, ReplicaItem } from '../protocol/peer.js';
import { isUnreachable } from '../protocol/transport.js';
import { type QuorumState, type QuorumSummary, WriteQuorum } from '../quorum/quorum.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import type { StoredRecord } from '../storage/record-format.js';
import { ClockGather } from './clock-gather.js';

export interface CoordinatorDeps extends EngineDeps {
  hints: HintStore;
}

export interface WriteOutcome {
  record: StoredRecord;
  existed: boolean;
  quorum: QuorumSummary;
  /** Down replicas a fallback took the write for (sloppy quorum), each with a hint. */
  hinted: string[];
}

export interface ReadOutcome {
  record: StoredRecord | undefined;
  quorum: QuorumSummary;
  /** Fallbacks that answered for down replicas (sloppy): the result may be stale. */
  fallbacks: string[];
}

/** Who takes a copy: a replica itself, or a fallback holding a hint for a down replica. */
interface Slot {
  holder: string;
  hintFor: string | undefined;
}

export interface WriteOptions {
  w?: number;
  consistency?: Consistency;
  /** Without a context: supersede nothing (the new version is a sibling of what is there). */
  keepSiblings?: boolean;
  /** A write another node sent us to coordinate (never forwarded again). */
  forwarded?: boolean;
}

export class Coordinator {
  readonly counters = { forwarded: 0, readRepairs: 0, quorumFailures: 0 };

  constructor(private readonly deps: CoordinatorDeps) {}

  /** Copies each key has: N, or fewer while the ring has fewer distinct nodes (down ones included). */
  copiesPerKey(): number {
    const { ring, settings } = this.deps.state;
    return Math.max(1, Math.min(settings.n, ring.members.length));
  }

  /** W or R for a request: 1..N, capped at the copies each key has while the ring is smaller than N. */
  private quorumSize(field: 'w' | 'r', requested: number | undefined): number {
    const { n } = this.deps.state.settings;
    const value = requested ?? this.deps.state.settings[field];
    if (value < 1 || value > n) {
      throw new KvError('KV_INVALID_QUORUM', `${field}=${value} must be between 1 and N=${n}`, { field, value, n });
    }
    return Math.min(value, this.copiesPerKey());
  }

  /** True when this node is the ring's only member: every key's one copy is here. */
  private alone(): boolean {
    const { ring } = this.deps.state;
    return ring.members.length === 1 && ring.members[0]?.name === this.deps.self;
  }

  private isUp(name: string): boolean {
    return this.deps.state.table.isUp(name, this.deps.clock.now());
  }

  /** The replicas a request uses: the key's reachable primaries, and fallbacks standing in for down ones when sloppy. */
  private plan(key: Buffer, mode: Consistency, needed: number, field: 'w' | 'r'): { primaries: string[]; slots: Slot[] } {
    const { self, state } = this.deps;
    const prefs = state.ring.preferenceList(key, state.settings.n);
    if (prefs.length === 0) throw new KvError('KV_NOT_MEMBER', 'this node has no ring to place keys on (it left the cluster)');
    // Plain loops: this runs on every request, and closures made per call were recompiled again and again.
    const primaries: string[] = [];
    const spare: string[] = [];
    const slots: Slot[] = [];
    const down: string[] = [];
    for (const p of prefs) {
      if (p.role === 'primary') {
        primaries.push(p.name);
        if (p.name === self || this.isUp(p.name)) slots.push({ holder: p.name, hintFor: undefined });
        else down.push(p.name);
      } else if (mode === 'sloppy' && (p.name === self || this.isUp(p.name))) spare.push(p.name);
    }
    if (mode === 'strict' && slots.length < needed) {
      throw new KvError(
        'KV_QUORUM_UNAVAILABLE',
        `strict ${field.toUpperCase()}=${needed} needs ${needed} of the key's replicas; only ${slots.length} of ${primaries.length} are reachable (down: ${down.join(', ')})`,
        { needed, reachable: slots.length, replicas: primaries, down },
      );
    }
    if (mode === 'sloppy') {
      for (const hintFor of down) {
        const holder = spare.shift();
        if (holder) slots.push({ holder, hintFor });
      }
    }
    return { primaries, slots };
  }

  /** Writes (value null: delete); see the module header for what a write without a context supersedes. */
  async write(key: Buffer, value: Buffer | null, context: VersionVector | undefined, options: WriteOptions = {}): Promise<WriteOutcome> {
    const w = this.quorumSize('w', options.w);
    const mode = options.consistency ?? this.deps.state.settings.consistency;
    const { self } = this.deps;
    const plain = context === undefined && (value === null || options.keepSiblings !== true);
    if (this.alone()) {
      // Every key's only replica is here: no plan, quorum or timer (measured ~1 µs and ~1.7 KB of garbage per put).
      const local = await this.deps.replica.write(key, value, context, plain);
      return { record: local.record, existed: local.existed, quorum: { needed: w, replied: 1, failed: 0, replicas: 1, answered: [self] }, hinted: [] };
    }
    const { primaries, slots } = this.plan(key, mode, w, 'w');
    if (!primaries.includes(self) && !options.forwarded) {
      const forwarded = await this.forward(key, value, context, options, primaries);
      if (forwarded) return forwarded;
    }
    const seen = plain ? await this.gatherClocks(key, slots) : context;
    const local = await this.deps.replica.write(key, value, seen, plain);
    const quorum = new WriteQuorum(
      slots.map((s) => s.holder),
      w,
    );
    if (slots.some((s) => s.holder === self && !s.hintFor)) quorum.ack(self);
    const tasks = slots
      .filter((s) => !(s.holder === self && !s.hintFor))
      .map((slot) => ({
        name: slot.holder,
        run: () =>
          slot.holder === self
            ? this.deps.hints.add(slot.hintFor as string, key, local.record, this.deps.clock.now())
            : this.deps.peers.replicate(slot.holder, { key, record: local.record, hintFor: slot.hintFor }),
      }));
    const state = await this.decide(tasks, quorum);
    if (state !== 'met') throw this.quorumError('w', quorum.summary(), primaries.length);
    return { record: local.record, existed: local.existed, quorum: quorum.summary(), hinted: slots.filter((s) => s.hintFor).map((s) => s.hintFor as string) };
  }

  /**
   * The merged version vectors of R of the key's replicas, for a plain write: this node counts as
   * one when it holds a copy (its own vector is merged in under the key's lock as it writes), the
   * others are asked with kv.clocks until enough answered, all answered, or the deadline passed.
   * Fewer answers than R only make the write less likely to supersede a version it could have: it
   * then becomes a sibling, and nothing is lost.
   */
  private gatherClocks(key: Buffer, slots: Slot[]): Promise<VersionVector> {
    const { self } = this.deps;
    const selfCounts = slots.some((s) => s.holder === self && !s.hintFor);
    const others = [...new Set(slots.map((s) => s.holder).filter((name) => name !== self))];
    const needed = Math.min(this.quorumSize('r', undefined) - (selfCounts ? 1 : 0), others.length);
    if (needed <= 0) return Promise.resolve(emptyVector);
    const gather = new ClockGather(needed, others.length, this.deps.clock, this.deps.requestTimeoutMs);
    for (const name of others) {
      this.deps.peers.clockOf(name, key).then(
        (clock) => gather.answer(clock),
        () => gather.fail(),
      );
    }
    return gather.decided;
  }

  /**
   * Reads at R, then repairs stale primaries in the background. One replica (this node when it is
   * one) sends its record and the others only a digest of their versions (Cassandra's digest
   * reads): a replica whose digest matches the record holds exactly those versions and counts
   * toward R without sending them. A mismatch, or a failed record read, fetches that replica's full
   * record instead. Replicas left behind are sent the merge once everyone answered.
   */
  async read(key: Buffer, options: { r?: number; consistency?: Consistency }): Promise<ReadOutcome> {
    const r = this.quorumSize('r', options.r);
    const mode = options.consistency ?? this.deps.state.settings.consistency;
    const { primaries, slots } = this.plan(key, mode, r, 'r');
    const holders = [...slots].sort((a, b) => Number(b.holder === this.deps.self) - Number(a.holder === this.deps.self)).map((s) => s.holder);
    const digestRead = new DigestRead(this, key, holders, r);
    const outcome = await digestRead.run(this.deps.clock, this.deps.requestTimeoutMs);
    const merged = outcome.record;
    if (merged) {
      const want = versionDigest(merged);
      const repairIfStale = (name: string, digest: string | null) => {
        if (digest !== want && primaries.includes(name)) void this.repair(name, key, merged);
      };
      for (const [name, digest] of outcome.digests) repairIfStale(name, digest);
      digestRead.onLateDigest(repairIfStale); // replicas that answer after the reply still get repaired
    }
    if (outcome.answered.length < r) {
      throw this.quorumError(
        'r',
        { needed: r, replied: outcome.answered.length, failed: outcome.failed, replicas: holders.length, answered: outcome.answered },
        primaries.length,
      );
    }
    let record = merged;
    if (!record && this.deps.state.previousRing) record = await this.readFormerOwners(key, primaries);
    const fallbacks = slots.filter((s) => s.hintFor).map((s) => s.holder);
    return {
      record,
      quorum: { needed: r, replied: outcome.answered.length, failed: outcome.failed, replicas: holders.length, answered: outcome.answered },
      fallbacks,
    };
  }

  /** A replica's full record (this node: local data and hints). */
  fetchRecord(name: string, key: Buffer): Promise<StoredRecord | undefined> {
    return name === this.deps.self ? this.localRecord(key) : this.deps.peers.read(name, key);
  }

  /** A replica's version digest (null: it holds nothing for the key). */
  async fetchDigest(name: string, key: Buffer): Promise<string | null> {
    if (name === this.deps.self) {
      const record = await this.localRecord(key);
      return record ? versionDigest(record) : null;
    }
    return (await this.deps.peers.digest(name, key)) ?? null;
  }

  /** Our data for the key merged with any hints we hold for it. */
  private async localRecord(key: Buffer): Promise<StoredRecord | undefined> {
    const [data, hinted] = await Promise.all([this.deps.replica.read(key, false), this.deps.hints.forKey(key)]);
    if (data && hinted) return mergeRecords(data, hinted);
    return data ?? hinted;
  }

  /** During an ownership transfer, a key may still be only at its former owners. */
  private async readFormerOwners(key: Buffer, replicas: string[]): Promise<StoredRecord | undefined> {
    const { previousRing, previousN, settings } = this.deps.state;
    // After N was raised the former replicas are among the current ones, but their answer may not
    // have been among the first R: ask every former replica but this node, whose record was read.
    const former = previousRing?.primaries(key, previousN ?? settings.n).filter((name) => name !== this.deps.self) ?? [];
    const records = await Promise.all(
      former.map((name) => (name === this.deps.self ? this.deps.replica.read(key, false) : this.deps.peers.read(name, key).catch(() => undefined))),
    );
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

  private async forward(
    key: Buffer,
    value: Buffer | null,
    context: VersionVector | undefined,
    options: WriteOptions,
    replicas: string[],
  ): Promise<WriteOutcome | undefined> {
    for (const name of replicas) {
      if (!this.isUp(name)) continue;
      try {
        const reply = await this.deps.peers.coordinate(name, {
          key,
          value,
          context,
          w: options.w,
          consistency: options.consistency,
          keepSiblings: options.keepSiblings === true,
        });
        this.counters.forwarded++;
        return reply;
      } catch (err) {
        if (!isUnreachable(err)) throw err; // the replica's own answer (quorum not met, bad request) stands
      }
    }
    return undefined; // no replica reachable: coordinate here, and let the quorum tell the truth
  }

  /**
   * Runs every task and resolves the write quorum's state as soon as it is decided or the request
   * deadline passes (see QuorumWait).
   */
  private decide(tasks: { name: string; run: () => Promise<unknown> }[], quorum: WriteQuorum): Promise<QuorumState> {
    if (tasks.length === 0) return Promise.resolve(quorum.state()); // a single node: decided without a timer
    const wait = new QuorumWait(quorum, tasks.length, this.deps.clock, this.deps.requestTimeoutMs);
    for (const task of tasks) {
      task.run().then(
        () => wait.settled(quorum.ack(task.name)),
        (err: unknown) => wait.settled(quorum.fail(task.name, (err as KvError).code ?? String(err))),
      );
    }
    return wait.decided;
  }

  private quorumError(field: 'w' | 'r', summary: QuorumSummary, replicas: number): KvError {
    this.counters.quorumFailures++;
    const verb = field === 'w' ? 'acknowledged the write' : 'answered the read';
    return new KvError('KV_QUORUM_NOT_MET', `only ${summary.replied} of ${replicas} replicas ${verb}; ${field.toUpperCase()}=${summary.needed} needed`, {
      ...summary,
      replicas,
    });
  }

  /** Peer op kv.read: our record for the key (hints we hold for it included), or only its digest. */
  async handleRead(key: Buffer, digestOnly: boolean): Promise<PeerReplies['kv.read']> {
    const record = await this.localRecord(key);
    if (digestOnly) return { record: undefined, digest: record ? versionDigest(record) : undefined };
    return { record, digest: undefined };
  }

  /** Peer op kv.clocks: the version vector we hold for each key (hints included). */
  async handleClocks(keys: Buffer[]): Promise<PeerReplies['kv.clocks']> {
    return { clocks: await Promise.all(keys.map((key) => this.localClock(key))) };
  }

  private async localClock(key: Buffer): Promise<VersionVector | undefined> {
    const [data, hinted] = await Promise.all([this.deps.replica.clockOf(key), this.deps.hints.forKey(key)]);
    if (data && hinted) return mergeVectors(data, hinted.clock);
    return data ?? hinted?.clock;
  }

  /** Peer op kv.replicate: merge the record into ours, or keep it as a hint for `hintFor`. */
  async handleReplicate(item: ReplicaItem): Promise<PeerReplies['kv.replicate']> {
    await this.storeReplica(item);
    return {};
  }

  private storeReplica({ key, record, hintFor }: ReplicaItem): Promise<unknown> {
    if (hintFor && hintFor !== this.deps.self) return this.deps.hints.add(hintFor, key, record, this.deps.clock.now());
    return this.deps.replica.merge(key, record);
  }

  /** Peer op kv.replicate.many: each item as kv.replicate, concurrently; a result per item (undefined: stored). */
  async handleReplicateMany(items: ReplicaItem[]): Promise<PeerReplies['kv.replicate.many']> {
    const outcomes = await Promise.allSettled(items.map((item) => this.storeReplica(item)));
    return { results: outcomes.map((outcome) => (outcome.status === 'fulfilled' ? undefined : toKvError(outcome.reason))) };
  }

  /** Peer op kv.coordinate: another node asks us, a replica, to coordinate a write. */
  async handleCoordinate(key: Buffer, value: Buffer | null, context: VersionVector | undefined, options: WriteOptions): Promise<PeerReplies['kv.coordinate']> {
    const outcome = await this.write(key, value, context, { ...options, forwarded: true });
    return { record: outcome.record, existed: outcome.existed, quorum: outcome.quorum, hinted: outcome.hinted };
  }
}

/**
 * A write waiting for its replicas: `decided` resolves with the quorum state as soon as it is met,
 * once it has failed and every replica answered (so the error says truthfully how many took the
 * write), or at the deadline. State in fields and methods rather than closures made per write,
 * which V8 kept recompiling.
 */
class QuorumWait {
  private remaining: number;
  private done = false;
  private readonly resolve: (state: QuorumState) => void;
  private readonly timer: Timer;
  readonly decided: Promise<QuorumState>;

  constructor(
    private readonly quorum: WriteQuorum,
    tasks: number,
    clock: Clock,
    timeoutMs: number,
  ) {
    this.remaining = tasks;
    const { promise, resolve } = withResolvers<QuorumState>();
    this.decided = promise;
    this.resolve = resolve;
    this.timer = clock.setTimer(timeoutMs, () => this.finish(this.quorum.state()));
    this.check(quorum.state());
  }

  /** A task finished, leaving the quorum in `state`. */
  settled(state: QuorumState): void {
    this.remaining--;
    this.check(state);
  }

  private check(state: QuorumState): void {
    if (state === 'met' || (state === 'failed' && this.remaining === 0)) this.finish(state);
  }

  private finish(state: QuorumState): void {
    if (this.done) return;
    this.done = true;
    this.timer.cancel();
    this.resolve(state);
  }
}

/**
 * One digest read (see Coordinator.read). Each replica is in one state: waiting for its digest or
 * its record, holding a digest not yet compared, answered (its versions are in the result), or
 * failed. Resolves as soon as a record arrived and R replicas are answered, when nothing is left to
 * wait for, or at the deadline.
 */
type ReplicaState = 'digest?' | 'record?' | 'digest' | 'answered' | 'failed';

class DigestRead {
  private merged: StoredRecord | undefined;
  private haveRecord = false;
  private readonly state = new Map<string, ReplicaState>();
  /** Digest each replica reported, or of the record it sent (for read repair). */
  readonly digests = new Map<string, string | null>();
  private finish: (() => void) | undefined;
  /** Called for digests that arrive after the read was answered. */
  private lateHandler: ((name: string, digest: string | null) => void) | undefined;
  /** Digests that arrived after the read was decided and before a handler was set. */
  private readonly late: [string, string | null][] = [];

  constructor(
    private readonly coordinator: Coordinator,
    private readonly key: Buffer,
    private readonly holders: string[],
    private readonly r: number,
  ) {}

  /** Handles digests that arrive after the read was decided, including any that already did. */
  onLateDigest(handler: (name: string, digest: string | null) => void): void {
    this.lateHandler = handler;
    for (const [name, digest] of this.late.splice(0)) handler(name, digest);
  }

  run(clock: Clock, timeoutMs: number): Promise<{ record: StoredRecord | undefined; answered: string[]; failed: number; digests: Map<string, string | null> }> {
    return new Promise((resolve) => {
      const timer = clock.setTimer(timeoutMs, () => this.finish?.());
      this.finish = () => {
        this.finish = undefined;
        timer.cancel();
        const names = (s: ReplicaState) => [...this.state].filter(([, x]) => x === s).map(([n]) => n);
        resolve({ record: this.merged, answered: names('answered'), failed: names('failed').length, digests: this.digests });
      };
      const [first, ...rest] = this.holders;
      if (!first) return this.finish();
      this.askRecord(first);
      for (const name of rest) this.askDigest(name);
    });
  }

  private askRecord(name: string): void {
    this.state.set(name, 'record?');
    this.coordinator.fetchRecord(name, this.key).then(
      (record) => {
        this.haveRecord = true;
        if (record) this.merged = this.merged ? mergeRecords(this.merged, record) : record;
        this.digests.set(name, record ? versionDigest(record) : null);
        this.state.set(name, 'answered');
        this.compare();
      },
      () => {
        this.state.set(name, 'failed');
        this.compare();
      },
    );
  }

  private askDigest(name: string): void {
    this.state.set(name, 'digest?');
    this.coordinator.fetchDigest(name, this.key).then(
      (digest) => {
        if (!this.finish) {
          if (this.lateHandler) this.lateHandler(name, digest);
          else this.late.push([name, digest]);
          return;
        }
        this.digests.set(name, digest);
        if (this.state.get(name) === 'digest?') this.state.set(name, 'digest');
        this.compare();
      },
      () => {
        if (this.state.get(name) === 'digest?') this.state.set(name, 'failed');
        this.compare();
      },
    );
  }

  /** Digests equal to the result's count as answers; others (or, with no record yet, one of them) send their record. */
  private compare(): void {
    const waiting = [...this.state.values()].includes('record?');
    if (!this.haveRecord) {
      const next = [...this.state].find(([, s]) => s === 'digest')?.[0];
      if (!waiting && next) this.askRecord(next);
    } else {
      const want = this.merged ? versionDigest(this.merged) : null;
      for (const [name, s] of this.state) {
        if (s !== 'digest') continue;
        if (this.digests.get(name) === want) this.state.set(name, 'answered');
        else this.askRecord(name);
      }
    }
    const states = [...this.state.values()];
    const answered = states.filter((s) => s === 'answered').length;
    const pending = states.some((s) => s === 'record?' || s === 'digest?' || (s === 'digest' && this.haveRecord));
    if ((this.haveRecord && answered >= this.r) || !pending) this.finish?.();
  }
}
