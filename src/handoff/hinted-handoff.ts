/**
 * Delivers hints (Dynamo §4.6): every `intervalMs`, and as soon as gossip sees a node come back,
 * each hint for a node that is up is sent to it (kv.replicate) and deleted once it acknowledged.
 * Hints older than the age cap are dropped with a counter and left to anti-entropy.
 */
import { every, type Periodic } from '../env/clock.js';
import type { EngineDeps } from '../node/engine-deps.js';
import { recordToWire } from '../node/record-wire.js';
import type { HintStore } from './hint-store.js';

export interface HintedHandoffDeps extends Pick<EngineDeps, 'state' | 'transport' | 'clock' | 'logger' | 'requestTimeoutMs'> {
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
        const addr = this.deps.state.addrOf(target);
        const up = this.deps.state.table.isUp(target, now);
        for await (const hint of this.deps.hints.forTarget(target)) {
          if (now - hint.storedAt > this.deps.hints.caps.maxAgeMs) {
            await this.deps.hints.remove(target, hint.key, hint.seq, 'expired');
            continue;
          }
          if (!up || !addr) break;
          try {
            await this.deps.transport.request(
              addr,
              { op: 'kv.replicate', key: hint.key.toString('base64'), record: recordToWire(hint.record) },
              this.deps.requestTimeoutMs,
            );
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
}
