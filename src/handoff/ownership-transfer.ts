/**
 * Ownership transfer when the placement changes (a node joins, leaves or changes weight, or the
 * cluster's N is changed). Each node
 * scans its data and, per key, compares the key's replicas on the ring it last handed off for with
 * those on the current ring:
 * - if it is no longer a replica, it sends the record to every current replica, and forgets its
 *   copy once all of them acknowledged (so nothing is lost, even if they had missed writes);
 * - otherwise, if it is the first live former replica, it sends the record to the new replicas.
 * Records are merged on arrival (idempotent), so a transfer interrupted by a crash or a further
 * ring change is simply run again: the ring it last completed is kept in its store.
 */
import type { Timer } from '../env/clock.js';
import type { KvError } from '../errors.js';
import { ringFingerprint } from '../membership/cluster-state.js';
import { isRecordRefused, printableKey } from '../protocol/record-size.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import { Ring, type RingMember } from '../ring/index.js';
import type { StoredRecord } from '../storage/record-format.js';

export interface TransferDeps extends EngineDeps {
  /** Wait before retrying keys whose new owners were unreachable. */
  retryDelayMs: number;
  /** The placement (ring membership and N) this node last finished handing off for (persisted). */
  loadHandedOff: () => Promise<HandedOff | undefined>;
  saveHandedOff: (placement: HandedOff) => Promise<void>;
  /**
   * Moves this node to a new clock actor; awaited once per run, before the first key is forgotten.
   * A forgotten key takes with it the counters this node minted for it; coordinating it again
   * later under the same actor would mint them again (see node/identity.ts).
   */
  freshActor: () => Promise<void>;
}

/** A placement as persisted: the ring's members and N (absent in data dirs from before N could change: the current N). */
export interface HandedOff {
  members: RingMember[];
  n?: number;
}

const CONCURRENT_SENDS = 32;
/** Unsendable keys remembered for logging at most (then forgotten, and logged again if met again). */
const MAX_LOGGED_UNSENDABLE = 10_000;

export class OwnershipTransfer {
  private handedOff: Ring | undefined;
  private handedOffN = 0;
  private running = false;
  private rerun = false;
  private timer: Timer | undefined;
  private stopped = false;
  /** Keys found to need sending in the current run and not yet acknowledged. */
  pending = 0;
  sentKeys = 0;
  forgottenKeys = 0;
  failedKeys = 0;
  /** Records a new owner refused for good (too large to send, or over its limits): kept here, not retried. */
  unsendableRecords = 0;
  /** Keys already logged as unsendable (bounded), so a rerun does not log them again. */
  private readonly loggedUnsendable = new Set<string>();
  /** Resolves listeners waiting for the transfer to be complete (leave). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: TransferDeps) {}

  async init(): Promise<void> {
    const placement = await this.deps.loadHandedOff();
    this.handedOff = placement ? new Ring(placement.members, this.deps.state.vnodesPerWeight) : undefined;
    this.handedOffN = placement?.n ?? this.deps.state.settings.n;
  }

  /** Fingerprint of the ring this node has fully handed off for (gossiped). */
  get handoffRing(): string | undefined {
    return this.handedOff ? ringFingerprint(this.handedOff, this.handedOffN) : undefined;
  }

  /** True when this node has handed off for the current ring. */
  get done(): boolean {
    const { ring, settings } = this.deps.state;
    return !this.running && this.handedOff?.id === ring.id && this.handedOffN === settings.n;
  }

  /** Runs a transfer soon (debounced); a run in progress restarts afterwards. */
  schedule(delayMs = 100): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimer(delayMs, () => void this.run());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Resolves once the node has handed off everything for the current ring. */
  whenDone(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    this.rerun = false;
    this.freshActorOfRun = undefined;
    const target = this.deps.state.ring;
    const targetN = this.deps.state.settings.n;
    const placement = this.deps.state.placementId;
    const from = this.handedOff;
    const fromN = this.handedOffN;
    let failures = 0;
    let aborted = false;
    this.pending = 0;
    try {
      if (from?.id !== target.id || fromN !== targetN) {
        let batch: Promise<void>[] = [];
        for await (const [key, record] of this.deps.replica.scan()) {
          if (this.stopped || this.deps.state.placementId !== placement) {
            aborted = true;
            break;
          }
          const plan = this.plan(key, from, fromN, target, targetN);
          if (!plan) continue;
          this.pending++;
          batch.push(
            this.transfer(key, record, plan).then((ok) => {
              this.pending--;
              if (!ok) failures++;
            }),
          );
          if (batch.length >= CONCURRENT_SENDS) {
            await Promise.all(batch);
            batch = [];
          }
        }
        await Promise.all(batch);
      }
    } catch (err) {
      failures++;
      this.deps.logger.log('error', 'transfer.failed', 'ownership transfer failed', { message: (err as Error).message });
    } finally {
      this.running = false;
    }
    if (!aborted && failures === 0 && !this.stopped) {
      this.handedOff = target;
      this.handedOffN = targetN;
      await this.deps.saveHandedOff({ members: [...target.members], n: targetN });
      this.deps.logger.log('info', 'transfer.complete', 'ownership transfer complete', { ring: ringFingerprint(target, targetN), sentKeys: this.sentKeys });
    } else if (failures > 0) {
      this.failedKeys += failures;
      this.deps.logger.log('warn', 'transfer.incomplete', 'ownership transfer incomplete; will retry', { failures });
      this.schedule(this.deps.retryDelayMs);
      return;
    }
    if (this.rerun || this.deps.state.placementId !== placement) this.schedule(0);
    else if (this.done) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Which nodes must receive the key, and whether we drop out of its replicas. */
  private plan(key: Buffer, from: Ring | undefined, fromN: number, to: Ring, toN: number): { targets: string[]; forget: boolean } | undefined {
    const { self, state } = this.deps;
    const newReplicas = to.primaries(key, toN);
    const oldReplicas = from ? from.primaries(key, fromN) : [self];
    if (!newReplicas.includes(self)) {
      const targets = newReplicas.filter((name) => name !== self);
      return targets.length > 0 ? { targets, forget: true } : undefined;
    }
    const now = this.deps.clock.now();
    const firstLive = oldReplicas.find((name) => name === self || state.table.isUp(name, now));
    if (firstLive !== self) return undefined;
    const targets = newReplicas.filter((name) => name !== self && !oldReplicas.includes(name));
    return targets.length > 0 ? { targets, forget: false } : undefined;
  }

  /** The fresh actor of the current run, once asked for. */
  private freshActorOfRun: Promise<void> | undefined;

  /**
   * Sends the key to its new owners; false when one was unreachable (the run is tried again). An
   * owner that refuses the record for good (too large for a line or for its limits) is counted
   * and logged once, and not retried; our copy is then kept, so nothing is lost.
   */
  private async transfer(key: Buffer, record: StoredRecord, plan: { targets: string[]; forget: boolean }): Promise<boolean> {
    const results = await Promise.all(
      plan.targets.map((name) =>
        this.deps.peers.replicate(name, { key, record }).then(
          () => 'sent' as const,
          (err: unknown) => {
            if (!isRecordRefused(err)) return 'failed' as const;
            this.skipUnsendable(name, key, err as KvError);
            return 'refused' as const;
          },
        ),
      ),
    );
    if (results.includes('failed')) return false;
    if (results.includes('refused')) return true;
    this.sentKeys++;
    if (plan.forget) {
      await (this.freshActorOfRun ??= this.deps.freshActor());
      if (await this.deps.replica.forget(key, record)) this.forgottenKeys++;
    }
    return true;
  }

  private skipUnsendable(target: string, key: Buffer, err: KvError): void {
    this.unsendableRecords++;
    const id = `${target}\n${key.toString('base64')}`;
    if (this.loggedUnsendable.has(id)) return;
    if (this.loggedUnsendable.size >= MAX_LOGGED_UNSENDABLE) this.loggedUnsendable.clear();
    this.loggedUnsendable.add(id);
    this.deps.logger.log('warn', 'transfer.record_skipped', 'ownership transfer skips a record its new owner refuses', {
      target,
      key: printableKey(key),
      code: err.code,
      message: err.message,
    });
  }
}
