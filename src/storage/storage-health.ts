/**
 * Whether the store takes writes, and how it gets back to taking them on its own.
 *
 * LevelDB remembers the first error of a background flush or compaction (a full disk, an I/O
 * error) and fails every later write with it until the database is opened again, even once the
 * disk works. A failed append to its log is not remembered, but it may leave a torn record that a
 * later recovery reads past, dropping what follows. So after any storage fault the store is
 * `degraded`: it refuses writes (KV_STORAGE) instead of acknowledging any on that log, and retries
 * at a backoff: once there is room on the disk again it closes and opens LevelDB (a fresh log, the
 * remembered error gone), re-applies the writes it must, checks a small write, and is `up` again.
 *
 * Pure: time comes from the injected clock, the store's actions are injected.
 */
import type { Clock, Timer } from '../env/clock.js';
import type { Logger } from '../env/logger.js';

export type StorageFault = 'no-space' | 'io' | 'corruption';

export interface StorageStatus {
  state: 'up' | 'degraded';
  /** While degraded: what failed first (the storage engine's message, bounded) and what kind of fault. */
  cause?: string;
  fault?: StorageFault;
  /** While degraded: since when (ms since the epoch). */
  since?: number;
  /** While degraded: recovery attempts so far, and why the latest one failed. */
  attempts?: number;
  lastError?: string;
  /** Since the process started: times the store became degraded, and times it reopened LevelDB. */
  episodes: number;
  reopens: number;
}

/** Longest cause kept and shown (status, log); gossip carries a shorter one. */
export const MAX_CAUSE_CHARS = 300;

/** The delays between recovery attempts: the first, doubled after each failure up to the last. */
export interface RecoverySettings {
  firstRetryMs: number;
  maxRetryMs: number;
}

export const DEFAULT_RECOVERY: RecoverySettings = { firstRetryMs: 250, maxRetryMs: 10_000 };

/**
 * `text` as one line of printable ASCII of at most `max` characters; a longer one keeps its start
 * and its end (where LevelDB says what went wrong, after the file's path) around an ellipsis.
 */
export function boundedText(text: string, max: number): string {
  const line =
    text
      .replace(/\s+/g, ' ')
      .replace(/[^\x20-\x7e]/g, '?')
      .trim() || 'unknown error';
  if (line.length <= max) return line;
  const tail = Math.floor((max - 3) / 2);
  return `${line.slice(0, max - 3 - tail)}...${line.slice(line.length - tail)}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error the storage engine gave, under any wrapping KvError. */
function rootOf(err: unknown): unknown {
  let e = err;
  for (let depth = 0; depth < 5 && e instanceof Error && e.cause !== undefined && (e as { code?: string }).code === 'KV_STORAGE'; depth++) e = e.cause;
  return e;
}

/** Codes abstract-level gives a write it refuses before any I/O: the write's own fault, not the disk's. */
const REQUEST_FAULTS = new Set(['LEVEL_INVALID_KEY', 'LEVEL_INVALID_VALUE', 'LEVEL_INVALID_PREFIX', 'LEVEL_HOOK_ERROR', 'LEVEL_NOT_SUPPORTED']);

/**
 * What a failed write says about the store: a fault of the disk or the data (the store degrades),
 * or of the request itself (only that write fails). Anything unknown counts as an I/O fault:
 * refusing writes for a while is safer than acknowledging them on a store in an unknown state.
 */
export function classifyStoreError(err: unknown): StorageFault | 'bad-request' {
  const root = rootOf(err);
  const code = (root as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && REQUEST_FAULTS.has(code)) return 'bad-request';
  if (root instanceof TypeError || root instanceof RangeError) return 'bad-request';
  const message = messageOf(root);
  if (code === 'ENOSPC' || /no space left|ENOSPC|disk full|quota exceeded/i.test(message)) return 'no-space';
  if (code === 'LEVEL_CORRUPTION' || /corruption/i.test(message)) return 'corruption';
  return 'io';
}

/** What the recovery asks of the store. */
export interface RecoveryActions {
  /**
   * Resolves when reopening may work now; rejects saying why not (little free space on the disk).
   * Asked only while LevelDB is open: closing it when it cannot open again would stop reads too.
   */
  roomToReopen(): Promise<void>;
  /** Closes and opens LevelDB again and re-applies the writes that must be; rejects when it cannot. */
  reopen(): Promise<void>;
  /** A small write through the reopened store: resolves once writes work. */
  probe(): Promise<void>;
  /** Whether LevelDB is open (a failed reopen leaves it closed: then only reopening helps). */
  isOpen(): boolean;
}

export class StorageRecovery {
  private current: StorageStatus = { state: 'up', episodes: 0, reopens: 0 };
  private delayMs: number;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Told after every change of state (up to degraded, degraded to up). */
  onChange: ((status: StorageStatus) => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly actions: RecoveryActions,
    private readonly logger: Logger,
    private readonly settings: RecoverySettings = DEFAULT_RECOVERY,
  ) {
    this.delayMs = settings.firstRetryMs;
  }

  get degraded(): boolean {
    return this.current.state === 'degraded';
  }

  status(): StorageStatus {
    return { ...this.current };
  }

  /** A write failed with a storage fault: degraded from now (if not already), recovery scheduled. */
  fail(err: unknown): void {
    if (this.current.state === 'degraded') return; // the first cause stands; recovery is under way
    const fault = classifyStoreError(err);
    const cause = boundedText(messageOf(rootOf(err)), MAX_CAUSE_CHARS);
    this.current = {
      state: 'degraded',
      cause,
      fault: fault === 'bad-request' ? 'io' : fault,
      since: this.clock.now(),
      attempts: 0,
      episodes: this.current.episodes + 1,
      reopens: this.current.reopens,
    };
    this.delayMs = this.settings.firstRetryMs;
    this.logger.log('warn', 'storage.degraded', 'storage degraded: writes are refused until the disk works again; retrying on its own', {
      cause,
      fault: this.current.fault,
      retryInMs: this.delayMs,
    });
    this.onChange?.(this.status());
    this.schedule();
  }

  /** Stops retrying (the store is closing); waits for an attempt under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.delayMs, () => {
      this.timer = undefined;
      this.running = this.attempt().finally(() => {
        this.running = undefined;
      });
    });
  }

  /** One recovery attempt: room on the disk, reopen, a write that works; otherwise the next one later. */
  private async attempt(): Promise<void> {
    if (this.stopped || this.current.state !== 'degraded') return;
    this.current.attempts = (this.current.attempts ?? 0) + 1;
    try {
      if (this.actions.isOpen()) await this.actions.roomToReopen();
      await this.actions.reopen();
      this.current.reopens++;
      await this.actions.probe();
    } catch (err) {
      const lastError = boundedText(messageOf(rootOf(err)), MAX_CAUSE_CHARS);
      if (lastError !== this.current.lastError) {
        this.logger.log('warn', 'storage.still_degraded', 'storage still degraded', { cause: this.current.cause, lastError, attempts: this.current.attempts });
      }
      this.current.lastError = lastError;
      this.delayMs = Math.min(this.delayMs * 2, this.settings.maxRetryMs);
      this.schedule();
      return;
    }
    const degradedMs = this.clock.now() - (this.current.since ?? this.clock.now());
    this.logger.log('info', 'storage.recovered', 'storage recovered: writes are taken again', {
      cause: this.current.cause,
      degradedMs,
      attempts: this.current.attempts,
      reopens: this.current.reopens,
    });
    this.current = { state: 'up', episodes: this.current.episodes, reopens: this.current.reopens };
    this.delayMs = this.settings.firstRetryMs;
    this.onChange?.(this.status());
  }
}
