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

/** One timer of a VirtualClock: fires at `at`, ties broken by `seq` (creation order). */
interface TimerEntry {
  at: number;
  seq: number;
  fn: (() => void) | undefined;
  /** Still to fire: false once fired or cancelled (cancelled entries stay in the heap until popped or compacted). */
  live: boolean;
}

function earlier(a: TimerEntry, b: TimerEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Compaction runs once the heap holds at least this many entries... */
const COMPACT_MIN_ENTRIES = 1024;

/**
 * A clock that moves only when told to; timers fire in time order, ties in creation order.
 *
 * Timers sit in a binary min-heap keyed by (at, creation order): setting one and firing the next
 * cost O(log n), so a simulation with a thousand nodes and their hundreds of thousands of pending
 * timeouts does not scan them all per timer fired. Cancelling only marks the entry (most timeouts
 * are cancelled by the reply they waited for); marked entries are skipped when they reach the top,
 * and the heap is rebuilt without them once they are more than half of it, so memory stays
 * proportional to the timers still pending.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: TimerEntry[] = [];
  private cancelledInHeap = 0;

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.heap.length - this.cancelledInHeap;
  }

  /** Entries held, cancelled ones not yet dropped included (for tests of the memory bound). */
  get heapEntries(): number {
    return this.heap.length;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const entry: TimerEntry = { at: this.current + Math.max(0, delayMs), seq: this.seq++, fn, live: true };
    this.push(entry);
    return { cancel: () => this.cancel(entry) };
  }

  defer(fn: () => void): void {
    this.setTimer(0, fn);
  }

  /** Advances to `now() + ms`, firing every timer that falls due on the way (including new ones). */
  advance(ms: number): void {
    const target = this.current + ms;
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0] as TimerEntry;
      if (!top.live) {
        this.pop();
        this.cancelledInHeap--;
        continue;
      }
      if (top.at > target) break;
      this.pop();
      const fn = top.fn as () => void;
      top.live = false;
      top.fn = undefined;
      this.current = top.at;
      fn();
    }
    this.current = target;
  }

  private cancel(entry: TimerEntry): void {
    if (!entry.live) return; // fired already, or cancelled twice
    entry.live = false;
    entry.fn = undefined; // let what the callback holds be collected now
    this.cancelledInHeap++;
    if (this.heap.length >= COMPACT_MIN_ENTRIES && this.cancelledInHeap * 2 > this.heap.length) this.compact();
  }

  /** Drops cancelled entries and restores the heap order bottom-up (O(n)). */
  private compact(): void {
    const heap = this.heap;
    let kept = 0;
    for (const entry of heap) if (entry.live) heap[kept++] = entry;
    heap.length = kept;
    this.cancelledInHeap = 0;
    for (let i = (kept >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private push(entry: TimerEntry): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as TimerEntry;
      if (!earlier(entry, above)) break;
      heap[i] = above;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as TimerEntry;
    if (heap.length === 0) return;
    heap[0] = last;
    this.siftDown(0);
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[from] as TimerEntry;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && earlier(heap[right] as TimerEntry, heap[left] as TimerEntry)) child = right;
      const below = heap[child] as TimerEntry;
      if (!earlier(below, entry)) break;
      heap[i] = below;
      i = child;
    }
    heap[i] = entry;
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
