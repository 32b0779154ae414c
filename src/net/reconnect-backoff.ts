/**
 * When a link to an address may be tried again after it could not be made: a delay per address
 * that starts short and doubles with each failure in a row, up to a ceiling, and is forgotten on
 * the first success. Pure: the time is passed in.
 */

export interface BackoffSettings {
  /** Wait after the first failure in a row, ms. */
  initialMs: number;
  /** Longest wait, ms. */
  maxMs: number;
}

/**
 * 50 ms, 100 ms, 200 ms … up to 1 s: a peer that is down costs one connect attempt a second, and
 * one that comes back is reached again within a second (sooner than gossip would call it down).
 */
export const defaultBackoff: BackoffSettings = { initialMs: 50, maxMs: 1000 };

export class ReconnectBackoff {
  private readonly state = new Map<string, { failures: number; retryAt: number }>();

  constructor(readonly settings: BackoffSettings = defaultBackoff) {}

  /** An attempt at `addr` failed at `now`: the next one waits longer. */
  failed(addr: string, now: number): void {
    const failures = (this.state.get(addr)?.failures ?? 0) + 1;
    const wait = Math.min(this.settings.maxMs, this.settings.initialMs * 2 ** Math.min(failures - 1, 30));
    this.state.set(addr, { failures, retryAt: now + wait });
  }

  /** An attempt at `addr` succeeded: the next failure starts from the shortest wait again. */
  succeeded(addr: string): void {
    this.state.delete(addr);
  }

  /** How long until `addr` may be tried (0: now). */
  waitMs(addr: string, now: number): number {
    const s = this.state.get(addr);
    return s ? Math.max(0, s.retryAt - now) : 0;
  }

  /** Failures in a row at `addr`. */
  failures(addr: string): number {
    return this.state.get(addr)?.failures ?? 0;
  }
}
