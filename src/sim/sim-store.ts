/**
 * A node's disk in the simulator, modelled on what LevelStore promises (see level-store.ts) and on
 * FoundationDB's simulated files: data in memory in two layers, a synced one (on the platter) and
 * an unsynced one (the log's pages in the OS page cache, not yet written back).
 *
 * - A write without sync is applied at once to the unsynced layer and resolves at once: LevelDB
 *   has appended it to its log in the page cache.
 * - A write with sync (or any write to a disk opened with `sync`, as the daemon's `--sync`) is
 *   applied to the unsynced layer at once and resolves after `fsyncMs` of virtual time, when it
 *   and everything written before it (the log is one file) move to the synced layer.
 * - The OS writes dirty pages back on its own: at a power loss, batches older than `writebackMs`
 *   count as synced (Linux's dirty_expire_centisecs is 30 s).
 *
 * What survives:
 * - a process crash (kill -9, `crash()`): everything written, synced or not; an fsync under way
 *   completes (the kernel finishes it) but is never reported to the dead process;
 * - a machine crash (power loss, `powerLoss()`): the synced layer, plus batches older than
 *   `writebackMs`; the rest of the unsynced layer is lost, or with `partial` only a random suffix
 *   of it (the log is replayed up to its first torn record, so what survives is a prefix).
 *
 * Hence, for a cluster of such disks with N replicas and W acknowledgements (W >= 2):
 * - sync: an acknowledged write is on W synced disks: it survives any power losses short of
 *   losing all W disks.
 * - no sync: an acknowledged write survives process crashes of any number of nodes, and the power
 *   loss of fewer than W of its replicas within `writebackMs` of it (each other replica still
 *   holds it, and a read at R with W+R>N still sees it). Power losses of W replicas within that
 *   window can lose it.
 *   A node that lost a key's latest writes this way must not mint their clock counters again:
 *   it starts under a new clock epoch after a machine restart (node/identity.ts; the sweep's
 *   `--power-loss` found the reuse before there were epochs).
 *
 * Each process life gets its own handle (`open()`); a crash fences it. A fenced handle's calls,
 * and the calls it had under way, never settle, and its writes never land: a killed process runs
 * no more code, and a rejection would run the dead process's error paths (a retry, a log line, a
 * message sent under the address its successor now serves), which a kill -9 never does. This is
 * also how SimNetwork treats a crashed node's own requests.
 */
import type { Clock } from '../env/clock.js';
import type { Random } from '../env/random.js';
import type { Store, StoreOp } from '../storage/store.js';

export interface SimDiskOptions {
  /** Every write fsynced, as the daemon's `--sync` (LevelStore's `sync`). */
  sync: boolean;
  /** The cluster's clock (not a process's: an fsync outlives the process that asked for it). */
  clock: Clock;
  /** Draws how much of the unsynced layer a `partial` power loss keeps. */
  random: Random;
  /** Virtual ms an fsync takes; default 2. */
  fsyncMs?: number;
  /** Age after which the OS has written an unsynced batch back; default 30 s. */
  writebackMs?: number;
}

/** One write call's operations, in the unsynced layer. */
interface LogBatch {
  seq: number;
  at: number;
  ops: StoreOp[];
}

/** What a power loss dropped. */
export interface PowerLossReport {
  /** Write calls whose effects were lost. */
  batches: number;
  /** Store keys they touched (latin1). */
  keys: string[];
}

/** Told of each key whose content changed (its new value; undefined when deleted or lost). */
export type DiskListener = (key: string, value: Buffer | undefined) => void;

/** A promise that never settles; a fresh one each time, so its waiters are collected with it. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class SimDisk {
  /** What is on the platter. */
  private synced = new Map<string, Buffer>();
  /** What a process reads: the synced layer with the unsynced batches applied in order. */
  private current = new Map<string, Buffer>();
  /** The unsynced layer, oldest first. */
  private log: LogBatch[] = [];
  private seq = 0;
  /** Bumped by each power loss: an fsync under way then never completes. */
  private epoch = 0;
  private handle: SimStore | undefined;
  private readonly fsyncMs: number;
  readonly writebackMs: number;
  /** Told of every change of content (writes landing, power losses). */
  listener: DiskListener | undefined;

  constructor(private readonly options: SimDiskOptions) {
    this.fsyncMs = options.fsyncMs ?? 2;
    this.writebackMs = options.writebackMs ?? 30_000;
  }

  /** A new process life's handle over this disk; the previous life's handle is fenced. */
  open(): SimStore {
    this.handle?.fence();
    this.handle = new SimStore(this, this.options.sync);
    return this.handle;
  }

  /** kill -9 of the process using the disk: its handle is fenced, nothing written is lost. */
  crash(): void {
    this.handle?.fence();
    this.handle = undefined;
  }

  /**
   * Power loss: the process dies (its handle is fenced) and the unsynced writes the OS had not
   * written back are lost; with `partial`, only a random suffix of them.
   */
  powerLoss(options: { partial?: boolean } = {}): PowerLossReport {
    this.crash();
    const oldest = this.options.clock.now() - this.writebackMs;
    let keep = 0;
    while (keep < this.log.length && (this.log[keep] as LogBatch).at <= oldest) keep++;
    if (options.partial) keep += this.options.random.int(this.log.length - keep + 1);
    const lost = this.log.slice(keep);
    this.flushTo(keep);
    this.log = [];
    this.epoch++;
    const keys = new Set<string>();
    for (const batch of lost) for (const op of batch.ops) keys.add(op.key.toString('latin1'));
    this.current = new Map(this.synced);
    for (const key of keys) this.listener?.(key, this.current.get(key));
    return { batches: lost.length, keys: [...keys] };
  }

  /** The content of `key` (latin1) as a process would read it now, for checks outside any process. */
  peek(key: string): Buffer | undefined {
    return this.current.get(key);
  }

  /** Write calls not yet synced. */
  get unsyncedBatches(): number {
    return this.log.length;
  }

  /** @internal A handle's write: lands at once; resolves at once, or once fsynced. */
  apply(ops: StoreOp[], sync: boolean, from: SimStore): Promise<void> {
    const batch: LogBatch = { seq: ++this.seq, at: this.options.clock.now(), ops: ops.map(copyOp) };
    this.log.push(batch);
    for (const op of batch.ops) {
      const key = op.key.toString('latin1');
      if (op.type === 'put') this.current.set(key, op.value);
      else this.current.delete(key);
      this.listener?.(key, op.type === 'put' ? op.value : undefined);
    }
    if (!sync) return Promise.resolve();
    const epoch = this.epoch;
    return new Promise((resolve) => {
      this.options.clock.setTimer(this.fsyncMs, () => {
        if (this.epoch !== epoch) return; // the power went out first: lost, and never acknowledged
        const later = this.log.findIndex((b) => b.seq > batch.seq);
        this.flushTo(later < 0 ? this.log.length : later);
        if (!from.fenced) resolve();
      });
    });
  }

  /** @internal Entries in [gte, lt) now, in key order (a LevelDB iterator reads a snapshot). */
  snapshot(gte: Buffer, lt: Buffer): [Buffer, Buffer][] {
    const from = gte.toString('latin1');
    const to = lt.toString('latin1');
    const keys = [...this.current.keys()].filter((k) => k >= from && k < to).sort();
    return keys.map((k) => [Buffer.from(k, 'latin1'), this.current.get(k) as Buffer]);
  }

  /** Moves the first `count` unsynced batches to the synced layer. */
  private flushTo(count: number): void {
    const flushed = this.log.splice(0, count);
    for (const batch of flushed) {
      for (const op of batch.ops) {
        const key = op.key.toString('latin1');
        if (op.type === 'put') this.synced.set(key, op.value);
        else this.synced.delete(key);
      }
    }
  }
}

/** One process life's view of a SimDisk: the Store the node is built with. */
export class SimStore implements Store {
  fenced = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly sync: boolean,
  ) {}

  /** @internal Called by the disk when the process dies. */
  fence(): void {
    this.fenced = true;
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    if (this.fenced) return never();
    return Promise.resolve(this.disk.peek(key.toString('latin1')));
  }

  write(ops: StoreOp[], options?: { sync?: boolean }): Promise<void> {
    if (this.fenced) return never();
    return this.disk.apply(ops, this.sync || options?.sync === true, this);
  }

  async *entries(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
    if (this.fenced) await never();
    for (const entry of this.disk.snapshot(gte, lt)) {
      if (this.fenced) await never();
      yield entry;
    }
  }

  async *keys(gte: Buffer, lt: Buffer): AsyncIterable<Buffer> {
    for await (const [key] of this.entries(gte, lt)) yield key;
  }

  async diskBytes(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

/** Copies a put's value: the caller may reuse its buffer once the write resolved. */
function copyOp(op: StoreOp): StoreOp {
  return op.type === 'put' ? { type: 'put', key: Buffer.from(op.key), value: Buffer.from(op.value) } : { type: 'del', key: Buffer.from(op.key) };
}
