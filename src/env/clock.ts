/**
 * Time as an injected dependency, so engines run on real time in the daemon (SystemClock, in
 * src/env/system-clock.ts) and on virtual time in the simulator (VirtualClock, here; memberlist's
 * tests sleep because its clock is not injected; ours need not).
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (wall clock, for timestamps shown to people). */
  now(): number;
  /** Runs `fn` once after `delayMs`; the returned timer cancels it. */
  setTimer(delayMs: number, fn: () => void): Timer;
  /**
   * Runs `fn` once the work already under way has run (on real time: after this event-loop turn's
   * promise continuations and I/O callbacks; on virtual time: at this instant, on the next advance).
   * For batching what one turn produces, without a timer's delay.
   */
  defer(fn: () => void): void;
}

/** A clock that moves only when told to; timers fire in time order, ties in creation order. */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const id = this.seq++;
    this.timers.set(id, { at: this.current + Math.max(0, delayMs), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  defer(fn: () => void): void {
    this.setTimer(0, fn);
  }

  /** Advances to `now() + ms`, firing every timer that falls due on the way (including new ones). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const [id, timer] of this.timers) {
        if (timer.at < nextAt || (timer.at === nextAt && id < nextId)) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId < 0 || nextAt > target) break;
      const timer = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.current = nextAt;
      timer?.fn();
    }
    this.current = target;
  }
}

export interface Periodic {
  stop(): void;
}

/**
 * Runs `task` every `intervalMs` on `clock`, the next run scheduled only once the previous one has
 * settled (so a slow run never overlaps the next). A throwing or rejecting run is reported to
 * `onError` and does not stop the schedule.
 */
export function every(clock: Clock, intervalMs: number, task: () => unknown, onError: (err: unknown) => void): Periodic {
  let timer: Timer | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = clock.setTimer(intervalMs, () => {
      let run: unknown;
      try {
        run = task();
      } catch (err) {
        onError(err);
      }
      // A synchronous task is rescheduled at once (virtual time can advance through many rounds).
      if (run instanceof Promise) void run.catch(onError).finally(schedule);
      else schedule();
    });
  };
  schedule();
  return {
    stop() {
      stopped = true;
      timer?.cancel();
    },
  };
}
