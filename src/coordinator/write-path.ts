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
 */
import { emptyVector, type VersionVector } from '../clock/index.js';
import type { Clock, Timer } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';
import type { KvError } from '../errors.js';
import { clockTextBytes, MAX_RECORD_META_BYTES, recordTooLarge } from '../protocol/record-size.js';
import { isUnreachable } from '../protocol/transport.js';
import { planReplicas, quorumSize, type Slot } from '../quorum/plan.js';
import { type QuorumState, WriteQuorum } from '../quorum/quorum.js';
import { ClockGather } from './clock-gather.js';
import { type CoordinatorCounters, type CoordinatorDeps, quorumError, type WriteOutcome, type WriteRequest } from './outcomes.js';

export class WritePath {
  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly counters: CoordinatorCounters,
  ) {}

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
      const local = await this.deps.replica.write(key, value, context, plain);
      return { record: local.record, existed: local.existed, quorum: { needed: w, replied: 1, failed: 0, replicas: 1, answered: [self] }, hinted: [] };
    }
    const { primaries, slots } = planReplicas(state.ring.preferenceList(key, state.settings.n), self, this.isUp, mode, w, 'w');
    if (!primaries.includes(self) && !options.forwarded) {
      const forwarded = await this.forward({ key, value, context, options }, primaries);
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
    const decided = await this.decide(tasks, quorum);
    if (decided !== 'met') throw quorumError(this.counters, 'w', quorum.summary(), primaries.length);
    return { record: local.record, existed: local.existed, quorum: quorum.summary(), hinted: slots.filter((s) => s.hintFor).map((s) => s.hintFor as string) };
  }

  private readonly isUp = (name: string): boolean => this.deps.state.table.isUp(name, this.deps.clock.now());

  /**
   * The merged version vectors of R of the key's replicas, for a plain write: this node counts as
   * one when it holds a copy (its own vector is merged in under the key's lock as it writes), the
   * others are asked with kv.clocks until enough answered, all answered, or the deadline passed.
   * Fewer answers than R only make the write less likely to supersede a version it could have: it
   * then becomes a sibling, and nothing is lost.
   */
  private gatherClocks(key: Buffer, slots: Slot[]): Promise<VersionVector> {
    const { self, state } = this.deps;
    const selfCounts = slots.some((s) => s.holder === self && !s.hintFor);
    const others = [...new Set(slots.map((s) => s.holder).filter((name) => name !== self))];
    const r = quorumSize(state.settings, state.ring.members.length, 'r', undefined);
    const needed = Math.min(r - (selfCounts ? 1 : 0), others.length);
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

  /** Asks the key's replicas, in order, to coordinate the write; undefined when none is reachable. */
  private async forward(write: WriteRequest, replicas: string[]): Promise<WriteOutcome | undefined> {
    const { key, value, context, options } = write;
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
