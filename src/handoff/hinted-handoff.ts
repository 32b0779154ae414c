/**
 * Delivers hints (Dynamo §4.6): every `intervalMs`, and as soon as gossip sees a node come back,
 * each hint for a node that is up is sent to it (batched with other records for it) and deleted once it acknowledged.
 * Hints older than the age cap are dropped with a counter and left to anti-entropy. Hints for a
 * node removed from the cluster (kvctl remove) go to the key's current replicas instead.
 */
import { every, type Periodic } from '../env/clock.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import type { StoredRecord } from '../storage/record-format.js';
import type { HintStore } from './hint-store.js';

export interface HintedHandoffDeps extends Pick<EngineDeps, 'self' | 'replica' | 'state' | 'peers' | 'clock' | 'logger'> {
  hints: HintStore;
  intervalMs: number;
}

export class HintedHandoff {
  private periodic: Periodic | undefined;
  private delivering = false;

  constructor(private readonly deps: HintedHandoffDeps) {}

  start(): void {
    this.periodic ??= every(
      this.deps.clock,
      this.deps.intervalMs,
      () => this.deliverAll(),
      (err) => this.deps.logger.log('warn', 'hint delivery failed', { message: (err as Error).message }),
    );
  }

  stop(): void {
    this.periodic?.stop();
    this.periodic = undefined;
  }

  /** Delivers what can be delivered now; safe to call at any time (one pass runs at once). */
  async deliverAll(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      const now = this.deps.clock.now();
      for (const target of this.deps.hints.targets()) {
        const up = this.deps.state.table.isUp(target, now);
        const removed = this.deps.state.table.get(target)?.status === 'removed';
        for await (const hint of this.deps.hints.forTarget(target)) {
          if (now - hint.storedAt > this.deps.hints.caps.maxAgeMs) {
            await this.deps.hints.remove(target, hint.key, hint.seq, 'expired');
            continue;
          }
          if (removed) {
            if (!(await this.toCurrentReplicas(hint.key, hint.record))) break;
            await this.deps.hints.remove(target, hint.key, hint.seq, 'delivered');
            continue;
          }
          if (!up) break;
          try {
            await this.deps.peers.replicate(target, { key: hint.key, record: hint.record });
            await this.deps.hints.remove(target, hint.key, hint.seq, 'delivered');
          } catch {
            break; // target unreachable after all: try again next round
          }
        }
      }
    } catch (err) {
      this.deps.logger.log('warn', 'hint delivery failed', { message: (err as Error).message });
    } finally {
      this.delivering = false;
    }
  }

  /** The target will never come back: the key's replicas on the current ring take the record. */
  private async toCurrentReplicas(key: Buffer, record: StoredRecord): Promise<boolean> {
    const { state, self } = this.deps;
    for (const name of state.ring.primaries(key, state.settings.n)) {
      if (name === self) {
        await this.deps.replica.merge(key, record);
        continue;
      }
      try {
        await this.deps.peers.replicate(name, { key, record });
      } catch {
        return false; // unreachable now: try again next round
      }
    }
    return true;
  }
}
