/**
 * Delivers hints (Dynamo §4.6): every `intervalMs`, and as soon as gossip sees a node come back,
 * each hint for a node that is up is sent to it (batched with other records for it) and deleted once it acknowledged.
 * Hints older than the age cap are dropped with a counter and left to anti-entropy; so are hints
 * the target refuses for good (a record too large, or over its limits). Hints for a
 * node removed from the cluster (kvctl remove) go to the key's current replicas instead.
 */
import { every, type Periodic } from '../env/clock.js';
import type { KvError } from '../errors.js';
import { isRecordRefused, printableKey } from '../protocol/record-size.js';
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
      (err) => this.deps.logger.log('warn', 'handoff.delivery_failed', 'hint delivery failed', { message: (err as Error).message }),
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
            const outcome = await this.toCurrentReplicas(hint.key, hint.record);
            if (outcome === 'retry') break;
            await this.deps.hints.remove(target, hint.key, hint.seq, outcome);
            continue;
          }
          if (!up) break;
          try {
            await this.deps.peers.replicate(target, { key: hint.key, record: hint.record });
            await this.deps.hints.remove(target, hint.key, hint.seq, 'delivered');
          } catch (err) {
            if (!isRecordRefused(err)) break; // target unreachable after all: try again next round
            // Sending it again would be refused again, and would hold up the hints behind it.
            this.logUnsendable(target, hint.key, err as KvError);
            await this.deps.hints.remove(target, hint.key, hint.seq, 'unsendable');
          }
        }
      }
    } catch (err) {
      this.deps.logger.log('warn', 'handoff.delivery_failed', 'hint delivery failed', { message: (err as Error).message });
    } finally {
      this.delivering = false;
    }
  }

  /**
   * The target will never come back: the key's replicas on the current ring take the record.
   * 'unsendable' when one of them refused it for good (the others have it).
   */
  private async toCurrentReplicas(key: Buffer, record: StoredRecord): Promise<'delivered' | 'unsendable' | 'retry'> {
    const { state, self } = this.deps;
    let outcome: 'delivered' | 'unsendable' = 'delivered';
    for (const name of state.ring.primaries(key, state.settings.n)) {
      try {
        if (name === self) await this.deps.replica.merge(key, record);
        else await this.deps.peers.replicate(name, { key, record });
      } catch (err) {
        if (!isRecordRefused(err)) return 'retry'; // unreachable now: try again next round
        this.logUnsendable(name, key, err as KvError);
        outcome = 'unsendable';
      }
    }
    return outcome;
  }

  private logUnsendable(target: string, key: Buffer, err: KvError): void {
    this.deps.logger.log('warn', 'handoff.hint_dropped', 'hint dropped: its record cannot be delivered', {
      target,
      key: printableKey(key),
      code: err.code,
      message: err.message,
    });
  }
}
