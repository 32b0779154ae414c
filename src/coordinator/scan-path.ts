/**
 * The scan path: drives the pure k-way merge (quorum/scan-merge.ts) over every node's stream of
 * records for a key range, asking a node (this one locally, the others with kv.scan) for its
 * next page when the merge needs it (or is about to: see the merge). Each key the merge yields is the merge
 * of its replicas' records, as a read merges them; keys whose records hold no live value
 * (tombstones) are left out. At most one page per node is read ahead of what the caller pulls: a
 * caller that stops pulling stops the scan on every node. Read repair is not done here.
 */
import type { CausalRecord } from '../clock/index.js';
import { KvError, toKvError } from '../errors.js';
import { MAX_PEER_SCAN_KEYS, PEER_SCAN_PAGE_BYTES, type ScanRequest } from '../protocol/scan.js';
import { quorumSize } from '../quorum/plan.js';
import { mergeScanned, type PageAsk, ScanMerge } from '../quorum/scan-merge.js';
import type { StoredRecord } from '../storage/record-format.js';
import { type CoordinatorDeps, failureReason } from './outcomes.js';

/** One key of a scan: its merged record (values decoded when asked), and which replicas answered. */
export interface ScannedKey {
  key: Buffer;
  record: StoredRecord;
  /** The versions a read returns now: neither deleted nor expired. */
  visible: StoredRecord['siblings'][number][];
  /** Raw bytes of each visible value, when the scan asked for values. */
  values: Buffer[] | undefined;
  /** The whole record with every value raw (deleted and expired versions too), when the scan asked for versions. */
  versions: CausalRecord<Buffer> | undefined;
  answered: string[];
  /** Fewer than R replicas answered (sloppy): the key may be stale, or more may be missing. */
  maybeStale: boolean;
}

export class ScanRun {
  private readonly merge: ScanMerge<StoredRecord>;
  private cancelled = false;
  /** Resolves when a page in flight arrives or fails. */
  private wake: (() => void) | undefined;
  /** Live keys yielded so far, and the last key the merge yielded (live or not). */
  yielded = 0;
  lastKey: Buffer | undefined;
  private readonly maxPeerKeys: number;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly request: ScanRequest,
  ) {
    const { state, self, clock } = deps;
    const n = state.settings.n;
    const r = quorumSize(state.settings, state.ring.members.length, 'r', request.r);
    const mode = request.consistency ?? state.settings.consistency;
    if (state.ring.members.length === 0) throw new KvError('KV_NOT_MEMBER', 'this node has no ring to place keys on (it left the cluster)');
    const nodes = state.ring.members.map((m) => m.name);
    const now = clock.now();
    const down = new Set(nodes.filter((name) => name !== self && !state.table.isUp(name, now)));
    const primarySets = state.ring.primarySets(n);
    this.merge = new ScanMerge<StoredRecord>({
      nodes,
      down,
      range: request.range,
      after: request.after,
      replicasOf: (key) => state.ring.primaries(key, n),
      covered: (answering) => primarySets.every((set) => set.reduce((count, name) => count + (answering.has(name) ? 1 : 0), 0) >= r),
      r,
      mode,
    });
    // A small limit needs small pages; a page is never below a few dozen keys, as tombstones are skipped.
    this.maxPeerKeys = Math.min(MAX_PEER_SCAN_KEYS, Math.max(64, request.limit ?? MAX_PEER_SCAN_KEYS));
    this.lastKey = request.after;
  }

  /** The next live key, or undefined once the range (or the limit) is done. Throws the error that ends the scan. */
  async next(): Promise<ScannedKey | undefined> {
    const { limit, values } = this.request;
    for (;;) {
      if (this.cancelled) throw new KvError('KV_SHUTTING_DOWN', 'scan cancelled');
      if (limit !== undefined && this.yielded >= limit) return undefined;
      const step = this.merge.next();
      switch (step.kind) {
        case 'fetch':
          for (const ask of step.asks) this.ask(ask);
          break;
        case 'wait':
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          break;
        case 'done':
          return undefined;
        case 'failed':
          throw step.error;
        case 'key': {
          this.lastKey = step.key;
          const shown = mergeScanned(step.records, this.deps.clock.now());
          if (!shown) break;
          this.yielded++;
          const { record, visible } = shown;
          return {
            key: step.key,
            record,
            visible,
            // An export item carries every version (versions): the visible values alone would be decoded for nothing.
            values: values && !this.request.versions ? await this.deps.replica.values({ clock: record.clock, siblings: visible }) : undefined,
            versions: this.request.versions ? await this.rawRecord(record) : undefined,
            answered: step.answered,
            maybeStale: step.maybeStale,
          };
        }
      }
    }
  }

  /** The record with each value decoded (tombstones stay null). */
  private async rawRecord(record: StoredRecord): Promise<CausalRecord<Buffer>> {
    const raw = await this.deps.replica.values(record);
    let next = 0;
    return { clock: record.clock, siblings: record.siblings.map((s) => (s.value === null ? { ...s, value: null } : { ...s, value: raw[next++] as Buffer })) };
  }

  /** True when the scan stopped because it yielded as many keys as its limit (more may follow). */
  get stoppedAtLimit(): boolean {
    return this.request.limit !== undefined && this.yielded >= this.request.limit;
  }

  /** Stops asking; pages in flight are dropped when they come. */
  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }

  private ask(ask: PageAsk): void {
    const scan = {
      from: ask.from,
      inclusive: ask.inclusive,
      end: this.request.range.end,
      maxKeys: this.maxPeerKeys,
      maxBytes: PEER_SCAN_PAGE_BYTES,
      values: this.request.values,
    };
    const page = ask.node === this.deps.self ? this.deps.replica.scanPage(scan) : this.deps.peers.scanPage(ask.node, scan);
    page.then(
      (reply) => {
        if (this.cancelled) return;
        this.merge.page(ask.node, reply.entries, reply.exhausted);
        this.woken();
      },
      (err: unknown) => {
        if (this.cancelled) return;
        this.merge.failed(ask.node, failureReason(toKvError(err)));
        this.woken();
      },
    );
  }

  private woken(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
