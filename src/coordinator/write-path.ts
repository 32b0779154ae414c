/**
 * The write path (Dynamo §4.5, riak_kv_put_fsm's role): a write is applied at one of the key's
 * replicas (forwarded to one if this node is not), which creates the new version with its own dot,
 * then sent to the other replicas; the client is answered once W of them (the coordinating
 * replica included) acknowledged, or told KV_QUORUM_NOT_MET with how many did. The quorum
 * decisions are the pure WriteQuorum's; this engine sends, waits and times out.
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
 *
 * A replica that fails (an error, or in sloppy mode no answer within its own deadline, a share of
 * the request's) is remembered for a few seconds (RecentFailures), so the writes after it plan
 * around it before gossip notices; in sloppy mode the next healthy node after the key's primaries
 * stands in for it within the same write, with a hint, in the time left. `hinted` lists only the
 * hints stored durably; a hint a fallback dropped at its cap counts for nothing and is reported.
 */
import { type CausalRecord, emptyVector } from '../clock/index.js';
import type { Consistency } from '../config.js';
import type { Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';
import type { KvError } from '../errors.js';
import { hintDroppedError } from '../handoff/hint-store.js';
import { clockTextBytes, MAX_RECORD_META_BYTES, recordTooLarge } from '../protocol/record-size.js';
import { isUnreachable } from '../protocol/transport.js';
import { nextStandIn, planReplicas, quorumSize, replicaDeadlineMs, type Slot, standInMayHelp } from '../quorum/plan.js';
import { type QuorumState, type QuorumSummary, WriteQuorum } from '../quorum/quorum.js';
import type { RecentFailures } from '../quorum/recent-failures.js';
import type { PreferenceSequence } from '../ring/index.js';
import type { StoredRecord } from '../storage/record-format.js';
import { ClockGather, type GatheredClocks } from './clock-gather.js';
import {
  type CoordinatorCounters,
  type CoordinatorDeps,
  failureReason,
  missedDeadline,
  quorumError,
  type WriteOptions,
  type WriteOutcome,
  type WriteRequest,
} from './outcomes.js';

export class WritePath {
  /** What a replication reads of this path. */
  readonly settings: { self: string; requestTimeoutMs: number; counters: CoordinatorCounters; recent: RecentFailures };

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly counters: CoordinatorCounters,
    private readonly recent: RecentFailures,
  ) {
    this.settings = { self: deps.self, requestTimeoutMs: deps.requestTimeoutMs, counters, recent };
  }

  /** Writes (value null: delete); see the module header for what a write without a context supersedes. */
  async write({ key, value, context, options }: WriteRequest): Promise<WriteOutcome> {
    const { self, state } = this.deps;
    const ringSize = state.ring.members.length;
    const w = quorumSize(state.settings, ringSize, 'w', options.w);
    const mode = options.consistency ?? state.settings.consistency;
    const plain = context === undefined && (value === null || options.keepSiblings !== true);
    // The record this write makes holds the context's clock: one too large for a record is refused here, before it is forwarded.
    const contextBytes = context ? clockTextBytes(context) : 0;
    if (contextBytes > MAX_RECORD_META_BYTES) throw recordTooLarge(key, 'metadata', contextBytes, MAX_RECORD_META_BYTES);
    if (ringSize === 1 && state.ring.members[0]?.name === self) {
      // Every key's only replica is here: no plan, quorum or timer (measured ~1 µs and ~1.7 KB of garbage per put).
      const local = await this.deps.replica.write(key, value, context, plain, options.expiresAt);
      return {
        record: local.record,
        existed: local.existed,
        quorum: { needed: w, replied: 1, failed: 0, replicas: 1, answered: [self] },
        hinted: [],
        hintsDropped: [],
      };
    }
    const prefs = state.ring.preferences(key, state.settings.n);
    // Sloppy: a replica that just failed is planned around like a down one (a fallback takes a hint for it).
    const usable = mode === 'sloppy' ? this.healthy : this.isUp;
    let { primaries, slots } = planReplicas(prefs, self, usable, mode, w, 'w');
    // Not a replica, or one whose own storage cannot take the write: a healthy replica coordinates it.
    if ((!primaries.includes(self) || !this.isUp(self)) && !options.forwarded) {
      const forwarded = await this.forward({ key, value, context, options }, primaries);
      if (forwarded) return forwarded;
    }
    let seen = context;
    if (plain) {
      const gathered = await this.gatherClocks(key, slots, mode);
      seen = gathered.clock;
      // Replicas that missed the gather's deadline are remembered now: a sloppy write replaces them before sending.
      if (gathered.missed.length > 0 && mode === 'sloppy') ({ slots } = planReplicas(prefs, self, usable, mode, w, 'w'));
    }
    const local = await this.deps.replica.write(key, value, seen, plain, options.expiresAt);
    const quorum = new WriteQuorum(
      slots.map((s) => s.holder),
      w,
    );
    if (slots.some((s) => s.holder === self && !s.hintFor)) quorum.ack(self);
    const replication = new Replication(this, { key, record: local.record, prefs, primaries, mode, quorum }, slots);
    const decided = await replication.decided;
    if (decided !== 'met') throw quorumError(this.counters, 'w', quorum.summary(), primaries.length, quorum.failed());
    const { hinted, hintsDropped } = replication.hints();
    return { record: local.record, existed: local.existed, quorum: quorum.summary(), hinted, hintsDropped };
  }

  /**
   * Imports a key's whole record (a line of an export): merged into each of the key's replicas as
   * replication merges, answered once W of them took it. Merging is idempotent and commutative,
   * so importing a record twice, or into the cluster it came from, changes nothing. Its values are
   * encoded (compressed) here, once, as a put's are.
   */
  async importRecord(key: Buffer, raw: CausalRecord<Buffer>, options: Pick<WriteOptions, 'w' | 'consistency'>): Promise<QuorumSummary> {
    const { self, state } = this.deps;
    const ringSize = state.ring.members.length;
    const w = quorumSize(state.settings, ringSize, 'w', options.w);
    const mode = options.consistency ?? state.settings.consistency;
    const record = await this.deps.replica.encodeRecord(raw);
    const prefs = state.ring.preferences(key, state.settings.n);
    const usable = mode === 'sloppy' ? this.healthy : this.isUp;
    const { primaries, slots } = planReplicas(prefs, self, usable, mode, w, 'w');
    const quorum = new WriteQuorum(
      slots.map((s) => s.holder),
      w,
    );
    if (slots.some((s) => s.holder === self && !s.hintFor)) {
      await this.deps.replica.merge(key, record);
      quorum.ack(self);
    }
    const replication = new Replication(this, { key, record, prefs, primaries, mode, quorum }, slots);
    const decided = await replication.decided;
    if (decided !== 'met') throw quorumError(this.counters, 'w', quorum.summary(), primaries.length, quorum.failed());
    return quorum.summary();
  }

  /** Up in gossip and taking writes: a node whose storage is degraded is planned around like a down one (reads still use it). */
  readonly isUp = (name: string): boolean => this.deps.state.table.acceptsWrites(name, this.deps.clock.now());

  /** Taking writes and not just failed one of this node's requests (this node unless its own storage is degraded). */
  readonly healthy = (name: string): boolean => (name === this.deps.self ? this.isUp(name) : this.isUp(name) && !this.recent.has(name, this.deps.clock.now()));

  /**
   * The merged version vectors of R of the key's replicas, for a plain write: this node counts as
   * one when it holds a copy (its own vector is merged in under the key's lock as it writes), the
   * others are asked with kv.clocks until enough answered, all answered, or their deadline passed
   * (those that missed it are remembered). Fewer answers than R only make the write less likely
   * to supersede a version it could have: it then becomes a sibling, and nothing is lost.
   */
  private async gatherClocks(key: Buffer, slots: Slot[], mode: Consistency): Promise<GatheredClocks> {
    const { self, state } = this.deps;
    const selfCounts = slots.some((s) => s.holder === self && !s.hintFor);
    const others = [...new Set(slots.map((s) => s.holder).filter((name) => name !== self))];
    const r = quorumSize(state.settings, state.ring.members.length, 'r', undefined);
    const needed = Math.min(r - (selfCounts ? 1 : 0), others.length);
    if (needed <= 0) return { clock: emptyVector, missed: [] };
    const gather = new ClockGather(needed, others, this.deps.clock, replicaDeadlineMs(this.deps.requestTimeoutMs, mode));
    for (const name of others) {
      this.deps.peers.clockOf(name, key).then(
        (clock) => {
          this.recent.answered(name);
          gather.answer(name, clock);
        },
        (err: unknown) => {
          if (isUnreachable(err)) this.failedNow(name);
          gather.fail(name);
        },
      );
    }
    const gathered = await gather.decided;
    for (const name of gathered.missed) this.missedDeadline(name);
    return gathered;
  }

  /** `name` failed a request of this node: routed around for a while. */
  failedNow(name: string): void {
    this.recent.failed(name, this.deps.clock.now());
  }

  /** `name` did not answer within its deadline. */
  missedDeadline(name: string): void {
    this.counters.replicaDeadlinesMissed++;
    this.failedNow(name);
  }

  /** Asks the key's replicas, in order (those that just failed last), to coordinate the write; undefined when none is reachable. */
  private async forward(write: WriteRequest, replicas: string[]): Promise<WriteOutcome | undefined> {
    const { key, value, context, options } = write;
    const now = this.deps.clock.now();
    const order = [...replicas].sort((a, b) => Number(this.recent.has(a, now)) - Number(this.recent.has(b, now)));
    for (const name of order) {
      if (!this.isUp(name)) continue;
      try {
        const reply = await this.deps.peers.coordinate(name, {
          key,
          value,
          context,
          w: options.w,
          consistency: options.consistency,
          keepSiblings: options.keepSiblings === true,
          ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
        });
        this.counters.forwarded++;
        return reply;
      } catch (err) {
        if (!isUnreachable(err)) throw err; // the replica's own answer (quorum not met, bad request) stands
        this.failedNow(name);
      }
    }
    return undefined; // no replica reachable: coordinate here, and let the quorum tell the truth
  }

  /** Sends the record to one slot: a replica, or a fallback keeping a hint (this node's own hint store included). */
  send(slot: Slot, key: Buffer, record: StoredRecord): Promise<unknown> {
    if (slot.holder !== this.deps.self) return this.deps.peers.replicate(slot.holder, { key, record, hintFor: slot.hintFor });
    const target = slot.hintFor as string;
    return this.deps.hints.add(target, key, record, this.deps.clock.now()).then((kept) => {
      if (kept === 'dropped') throw hintDroppedError(target, this.deps.hints.caps.maxBytesPerTarget);
    });
  }

  setTimer(ms: number, fn: () => void): Timer {
    return this.deps.clock.setTimer(ms, fn);
  }
}

interface ReplicationJob {
  key: Buffer;
  record: StoredRecord;
  prefs: PreferenceSequence;
  /** The key's replicas (the primaries of `prefs`). */
  primaries: readonly string[];
  mode: Consistency;
  quorum: WriteQuorum;
}

/**
 * One write's replication: sends the record to every slot, and resolves the write quorum's state
 * as soon as it is met, once it has failed and nothing is outstanding (so the error says
 * truthfully how many took the write), or at the request deadline. In sloppy mode a slot that
 * fails, or has not answered by its replica deadline, is replaced by a stand-in (the next healthy
 * node after the key's primaries), which keeps a hint for the replica the slot was for.
 */
class Replication {
  private outstanding = 0;
  private done = false;
  /** Slots sent and not settled yet, by holder. */
  private readonly pending = new Map<string, Slot>();
  /** Every node this write has used (primaries and holders): a stand-in is none of them. */
  private readonly used: Set<string>;
  private readonly hinted = new Set<string>();
  private readonly dropped = new Set<string>();
  private readonly resolve: (state: QuorumState) => void;
  private readonly timers: Timer[] = [];
  private readonly replicaDeadline: number;
  readonly decided: Promise<QuorumState>;

  constructor(
    private readonly path: WritePath,
    private readonly job: ReplicationJob,
    slots: readonly Slot[],
  ) {
    const { self, requestTimeoutMs } = path.settings;
    const { promise, resolve } = withResolvers<QuorumState>();
    this.decided = promise;
    this.resolve = resolve;
    this.used = new Set([...job.primaries, ...slots.map((s) => s.holder)]);
    this.replicaDeadline = replicaDeadlineMs(requestTimeoutMs, job.mode);
    // Hints first: a fallback at its cap answers without writing, so the reply can usually say a hint was dropped.
    const toSend = slots.filter((s) => !(s.holder === self && !s.hintFor)).sort((x, y) => Number(y.hintFor !== undefined) - Number(x.hintFor !== undefined));
    for (const slot of toSend) this.send(slot);
    this.check();
    if (this.done || toSend.length === 0) {
      this.finish(job.quorum.state()); // decided without a timer (a single node, or met at once)
      return;
    }
    if (this.replicaDeadline < requestTimeoutMs) this.timers.push(path.setTimer(this.replicaDeadline, () => this.replicaDeadlinePassed()));
    this.timers.push(path.setTimer(requestTimeoutMs, () => this.requestDeadlinePassed()));
  }

  /** Targets with a durable hint, and targets whose hint was dropped and that no other fallback kept. */
  hints(): { hinted: string[]; hintsDropped: string[] } {
    return { hinted: [...this.hinted], hintsDropped: [...this.dropped].filter((t) => !this.hinted.has(t)) };
  }

  private send(slot: Slot): void {
    this.outstanding++;
    this.pending.set(slot.holder, slot);
    this.path.send(slot, this.job.key, this.job.record).then(
      () => this.acked(slot),
      (err: unknown) => this.failed(slot, err),
    );
  }

  private acked(slot: Slot): void {
    if (this.pending.get(slot.holder) !== slot) return; // counted as failed at its deadline already
    this.pending.delete(slot.holder);
    this.outstanding--;
    this.path.settings.recent.answered(slot.holder);
    if (slot.hintFor) this.hinted.add(slot.hintFor);
    this.job.quorum.ack(slot.holder);
    this.check();
  }

  private failed(slot: Slot, err: unknown): void {
    if (this.pending.get(slot.holder) !== slot) return;
    this.pending.delete(slot.holder);
    this.outstanding--;
    const code = (err as KvError | undefined)?.code;
    if (code === 'KV_HINTS_FULL' && slot.hintFor) this.dropped.add(slot.hintFor);
    if (isUnreachable(err)) this.path.failedNow(slot.holder);
    if (standInMayHelp(code)) this.replace(slot);
    this.job.quorum.fail(slot.holder, failureReason(err));
    this.check();
  }

  /** Sloppy: the slots still waiting count as failed for this write, and stand-ins take their places. */
  private replicaDeadlinePassed(): void {
    if (this.done) return;
    for (const slot of [...this.pending.values()]) {
      this.pending.delete(slot.holder);
      this.outstanding--;
      this.path.missedDeadline(slot.holder);
      this.replace(slot);
      this.job.quorum.fail(slot.holder, missedDeadline(this.replicaDeadline));
    }
    this.check();
  }

  /** The write is decided with what was heard; replicas still silent count as failed, and are remembered. */
  private requestDeadlinePassed(): void {
    if (this.done) return;
    const { requestTimeoutMs } = this.path.settings;
    for (const slot of this.pending.values()) {
      this.path.missedDeadline(slot.holder);
      this.job.quorum.fail(slot.holder, missedDeadline(requestTimeoutMs));
    }
    this.finish(this.job.quorum.state());
  }

  /** Sloppy: asks the next healthy node after the key's primaries to stand in for `slot`, with a hint. */
  private replace(slot: Slot): void {
    if (this.done || this.job.mode !== 'sloppy') return;
    const { self, counters } = this.path.settings;
    const name = nextStandIn(this.job.prefs, this.used, self, this.path.healthy);
    if (name === undefined) return;
    this.used.add(name);
    counters.standIns++;
    this.job.quorum.add(name);
    this.send({ holder: name, hintFor: slot.hintFor ?? slot.holder });
  }

  private check(): void {
    const state = this.job.quorum.state();
    if (state === 'met' || (state === 'failed' && this.outstanding === 0)) this.finish(state);
  }

  private finish(state: QuorumState): void {
    if (this.done) return;
    this.done = true;
    for (const timer of this.timers) timer.cancel();
    this.resolve(state);
  }
}
