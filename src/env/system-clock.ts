/** The real clock: wall time from Date.now, timers from the event loop (the daemon's `Clock`). */
import type { Clock, Timer } from './clock.js';

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const handle = setTimeout(fn, delayMs);
    handle.unref(); // a pending timer never keeps the process alive on its own
    return { cancel: () => clearTimeout(handle) };
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }
}
