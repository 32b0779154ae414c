/**
 * Ownership transfer when the ring changes (a node joins, leaves or changes weight). Each node
 * scans its data and, per key, compares the key's replicas on the ring it last handed off for with
 * those on the current ring:
 * - if it is no longer a replica, it sends the record to every current replica, and forgets its
 *   copy once all of them acknowledged (so nothing is lost, even if they had missed writes);
 * - otherwise, if it is the first live former replica, it sends the record to the new replicas.
 * Records are merged on arrival (idempotent), so a transfer interrupted by a crash or a further
 * ring change is simply run again: the ring it last completed is kept in its store.
 */
import type { Timer } from '../env/clock.js';
import { ringFingerprint } from '../membership/cluster-state.js';
import type { EngineDeps } from '../node/engine-deps.js';
import { recordToWire } from '../node/record-wire.js';
import { Ring, type RingMember } from '../ring/index.js';

export interface TransferDeps extends EngineDeps {
  /** Wait before retrying keys whose new owners were unreachable. */
  retryDelayMs: number;
  /** The membership of the ring this node last finished handing off for (persisted). */
  loadHandedOff: () => Promise<RingMember[] | undefined>;
  saveHandedOff: (members: RingMember[]) => Promise<void>;
}

const CONCURRENT_SENDS = 32;

export class OwnershipTransfer {
  private handedOff: Ring | undefined;
  private running = false;
  private rerun = false;
  private timer: Timer | undefined;
  private stopped = false;
  /** Keys found to need sending in the current run and not yet acknowledged. */
  pending = 0;
  sentKeys = 0;
  forgottenKeys = 0;
  failedKeys = 0;
  /** Resolves listeners waiting for the transfer to be complete (leave). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: TransferDeps) {}

  async init(): Promise<void> {
    const members = await this.deps.loadHandedOff();
    this.handedOff = members ? new Ring(members, this.deps.state.vnodesPerWeight) : undefined;
  }

  /** Fingerprint of the ring this node has fully handed off for (gossiped). */
  get handoffRing(): string | undefined {
    return this.handedOff ? ringFingerprint(this.handedOff) : undefined;
  }

  /** True when this node has handed off for the current ring. */
  get done(): boolean {
    return !this.running && this.handedOff?.id === this.deps.state.ring.id;
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
    const target = this.deps.state.ring;
    const from = this.handedOff;
    let failures = 0;
    let aborted = false;
    this.pending = 0;
    try {
      if (from?.id !== target.id) {
        let batch: Promise<void>[] = [];
        for await (const [key, record] of this.deps.replica.scan()) {
          if (this.stopped || this.deps.state.ring.id !== target.id) {
            aborted = true;
            break;
          }
          const plan = this.plan(key, from, target);
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
      this.deps.logger.log('error', 'ownership transfer failed', { message: (err as Error).message });
    } finally {
      this.running = false;
    }
    if (!aborted && failures === 0 && !this.stopped) {
      this.handedOff = target;
      await this.deps.saveHandedOff([...target.members]);
      this.deps.logger.log('info', 'ownership transfer complete', { ring: ringFingerprint(target), sentKeys: this.sentKeys });
    } else if (failures > 0) {
      this.failedKeys += failures;
      this.deps.logger.log('warn', 'ownership transfer incomplete; will retry', { failures });
      this.schedule(this.deps.retryDelayMs);
      return;
    }
    if (this.rerun || this.deps.state.ring.id !== target.id) this.schedule(0);
    else if (this.done) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Which nodes must receive the key, and whether we drop out of its replicas. */
  private plan(key: Buffer, from: Ring | undefined, to: Ring): { targets: string[]; forget: boolean } | undefined {
    const { self, state } = this.deps;
    const n = state.settings.n;
    const newReplicas = to.primaries(key, n);
    const oldReplicas = from ? from.primaries(key, n) : [self];
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

  private async transfer(key: Buffer, record: Parameters<typeof recordToWire>[0], plan: { targets: string[]; forget: boolean }): Promise<boolean> {
    const body = { op: 'kv.replicate', key: key.toString('base64'), record: recordToWire(record) };
    const results = await Promise.all(
      plan.targets.map(async (name) => {
        const addr = this.deps.state.addrOf(name);
        if (!addr) return false;
        try {
          await this.deps.transport.request(addr, body, this.deps.requestTimeoutMs);
          return true;
        } catch {
          return false;
        }
      }),
    );
    if (!results.every(Boolean)) return false;
    this.sentKeys++;
    if (plan.forget && (await this.deps.replica.forget(key, record))) this.forgottenKeys++;
    return true;
  }
}
