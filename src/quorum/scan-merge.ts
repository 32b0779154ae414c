/**
 * The merge behind a scan, pure: every node streams the records it holds for the range in key
 * order, a page at a time; this k-way merge says which page to ask for next, and yields each key
 * once every node still answering has gone past it, with the records of the key's replicas and
 * which of them answered. A node's stream "passed" a key when a page of it reached the key or
 * beyond (a replica without the key answered "nothing"), or the node said its range was
 * exhausted. A node is asked for its next page when the merge cannot go on without it, or, one
 * page ahead, once less than half of its last page is left (so the round trip overlaps the merge
 * of what is left); memory is at most two pages per node, and a scan that is not pulled asks for
 * nothing more.
 *
 * Quorum, as reads decide it: a key counts the replicas (its preference list's primaries) whose
 * streams passed it. Strict: fewer than R is KV_QUORUM_NOT_MET (KV_QUORUM_UNAVAILABLE for nodes
 * already down when the scan began). Keys no node answered cannot be counted one by one, so once a
 * node that stopped answering is left behind, the scan goes on only while `covered` says every
 * key still has R replicas among the nodes that answer. Sloppy: such keys are yielded marked
 * maybeStale, and nothing fails.
 */
import { type CausalRecord, mergeRecords, type Sibling, visibleSiblings } from '../clock/index.js';
import type { Consistency } from '../config.js';
import { KvError } from '../errors.js';

/** The keys merged: [start, end), end undefined for none (the wire's KeyRange, protocol/scan.ts). */
export interface MergeRange {
  start: Buffer;
  end: Buffer | undefined;
}

export interface ScanMergeOptions {
  /** The nodes whose streams are merged (every node of the ring). */
  nodes: readonly string[];
  /** Nodes already known to be down: not asked, as if they failed before answering. */
  down: ReadonlySet<string>;
  range: MergeRange;
  /** Resume strictly after this key. */
  after: Buffer | undefined;
  /** A key's replicas (primaries). */
  replicasOf: (key: Buffer) => readonly string[];
  /** True when every key of the ring has at least R replicas among `answering`. */
  covered: (answering: ReadonlySet<string>) => boolean;
  r: number;
  mode: Consistency;
}

/** A page to ask a node for: keys from `from` (included when `inclusive`). */
export interface PageAsk {
  node: string;
  from: Buffer;
  inclusive: boolean;
}

export type ScanStep<R> =
  /** Ask these nodes for their next page (each at most once in flight). */
  | { kind: 'fetch'; asks: PageAsk[] }
  /** Pages are in flight: wait for one of them. */
  | { kind: 'wait' }
  /** A key every answering stream passed: its replicas' records (none: all of them said nothing). */
  | { kind: 'key'; key: Buffer; records: R[]; answered: string[]; maybeStale: boolean }
  | { kind: 'done' }
  | { kind: 'failed'; error: KvError };

interface NodeStream<R> {
  name: string;
  buffer: { key: Buffer; record: R }[];
  head: number;
  /** The last key a page reached (undefined: none yet, beyond `after`). */
  frontier: Buffer | undefined;
  exhausted: boolean;
  failed: boolean;
  /** Failed before answering anything because gossip had it down. */
  downAtStart: boolean;
  asking: boolean;
  reason: string | undefined;
  /** Keys in the last page: below half of it left, the next page is asked for ahead. */
  lastPageKeys: number;
}

export class ScanMerge<R> {
  private readonly streams: NodeStream<R>[];
  private readonly byName = new Map<string, NodeStream<R>>();
  private finished: ScanStep<R> | undefined;

  constructor(private readonly options: ScanMergeOptions) {
    this.streams = options.nodes.map((name) => ({
      name,
      buffer: [],
      head: 0,
      frontier: options.after,
      exhausted: false,
      failed: options.down.has(name),
      downAtStart: options.down.has(name),
      asking: false,
      reason: options.down.has(name) ? 'down' : undefined,
      lastPageKeys: 0,
    }));
    for (const s of this.streams) this.byName.set(s.name, s);
  }

  /** A node's page: its records in key order, and whether its range ends there. */
  page(node: string, entries: readonly { key: Buffer; record: R }[], exhausted: boolean): void {
    const stream = this.stream(node);
    stream.asking = false;
    if (stream.failed) return;
    // What is left of the page before (this one was asked for ahead of it) comes first.
    stream.buffer = stream.head < stream.buffer.length ? [...stream.buffer.slice(stream.head), ...entries] : [...entries];
    stream.head = 0;
    stream.lastPageKeys = entries.length;
    const last = entries.at(-1);
    if (last) stream.frontier = last.key;
    stream.exhausted = exhausted;
  }

  /** A node failed to give its next page: it answers for what its pages reached, and no further. */
  failed(node: string, reason: string): void {
    const stream = this.stream(node);
    stream.asking = false;
    stream.failed = true;
    stream.reason = reason;
  }

  /** What to do next. */
  next(): ScanStep<R> {
    if (this.finished) return this.finished;
    let candidate: Buffer | undefined;
    for (const s of this.streams) {
      const head = s.buffer[s.head];
      if (head && (candidate === undefined || Buffer.compare(head.key, candidate) < 0)) candidate = head.key;
    }
    // Streams still answering that have not passed the candidate (or the end) hold the merge up.
    const asks: PageAsk[] = [];
    let waiting = false;
    for (const s of this.streams) {
      if (s.failed || passed(s, candidate)) continue;
      if (s.asking) waiting = true;
      else {
        s.asking = true;
        asks.push(
          s.frontier === undefined ? { node: s.name, from: this.options.range.start, inclusive: true } : { node: s.name, from: s.frontier, inclusive: false },
        );
      }
    }
    if (asks.length > 0) return { kind: 'fetch', asks };
    if (waiting) return { kind: 'wait' };
    const uncovered = this.uncoveredCheck(candidate);
    if (uncovered) return this.finish({ kind: 'failed', error: uncovered });
    if (candidate === undefined) return this.finish({ kind: 'done' });
    for (const s of this.streams) {
      const left = s.buffer.length - s.head;
      if (!s.failed && !s.asking && !s.exhausted && s.frontier !== undefined && left > 0 && left * 2 < s.lastPageKeys) {
        s.asking = true;
        asks.push({ node: s.name, from: s.frontier, inclusive: false });
      }
    }
    if (asks.length > 0) return { kind: 'fetch', asks };
    return this.emit(candidate);
  }

  private emit(key: Buffer): ScanStep<R> {
    const replicas = this.options.replicasOf(key);
    const records: R[] = [];
    for (const s of this.streams) {
      const head = s.buffer[s.head];
      if (!head?.key.equals(key)) continue;
      s.buffer[s.head++] = undefined as unknown as { key: Buffer; record: R }; // let the record go once merged
      if (s.head === s.buffer.length) {
        s.buffer = [];
        s.head = 0;
      }
      if (replicas.includes(s.name)) records.push(head.record);
    }
    const answered = replicas.filter((name) => {
      const s = this.byName.get(name);
      return s !== undefined && passed(s, key);
    });
    const { r, mode } = this.options;
    if (answered.length < r && mode === 'strict') {
      return this.finish({
        kind: 'failed',
        error: this.quorumError(
          replicas.filter((n) => !answered.includes(n)),
          answered.length,
          replicas.length,
        ),
      });
    }
    return { kind: 'key', key, records, answered, maybeStale: answered.length < r };
  }

  /**
   * Strict: when a failed node's stream stops before `key` (or before the end), keys nobody
   * yielded may lie beyond it: the scan goes on only if every key keeps R replicas among the rest.
   */
  private uncoveredCheck(key: Buffer | undefined): KvError | undefined {
    if (this.options.mode !== 'strict') return undefined;
    const behind = this.streams.filter((s) => s.failed && !passed(s, key));
    if (behind.length === 0) return undefined;
    const answering = new Set(this.streams.filter((s) => !behind.includes(s)).map((s) => s.name));
    if (this.options.covered(answering)) return undefined;
    return this.quorumError(
      behind.map((s) => s.name),
      undefined,
      undefined,
    );
  }

  private quorumError(missing: string[], replied: number | undefined, replicas: number | undefined): KvError {
    const streams = missing.map((name) => this.stream(name));
    const failures = Object.fromEntries(streams.map((s) => [s.name, s.reason ?? 'no answer']));
    const { r } = this.options;
    const what = replied === undefined ? 'some keys of the range' : `a key (${replied} of its ${replicas} replicas answered)`;
    const details = { needed: r, missing, failures, ...(replied === undefined ? {} : { replied, replicas }) };
    if (streams.every((s) => s.downAtStart)) {
      return new KvError(
        'KV_QUORUM_UNAVAILABLE',
        `strict R=${r}: ${what} would have fewer than ${r} reachable replicas (down: ${missing.join(', ')})`,
        details,
      );
    }
    const why = streams.map((s) => `${s.name}: ${s.reason ?? 'no answer'}`).join('; ');
    return new KvError('KV_QUORUM_NOT_MET', `strict R=${r}: ${what} would be answered by fewer than ${r} replicas (${why})`, details);
  }

  private finish(step: ScanStep<R>): ScanStep<R> {
    this.finished = step;
    for (const s of this.streams) s.buffer = [];
    return step;
  }

  private stream(node: string): NodeStream<R> {
    const stream = this.byName.get(node);
    if (!stream) throw new KvError('KV_INTERNAL', `scan merge: ${node} is not one of its nodes`);
    return stream;
  }
}

/**
 * What a scan shows of a key at `now`: its replicas' records merged as a read merges them, with
 * the versions a read would return, or undefined when none is left (never written, deleted or
 * expired: hidden as a get hides them).
 */
export function mergeScanned<V>(records: readonly CausalRecord<V>[], now: number): { record: CausalRecord<V>; visible: Sibling<V>[] } | undefined {
  let merged: CausalRecord<V> | undefined;
  for (const r of records) merged = merged ? mergeRecords(merged, r) : r;
  if (!merged) return undefined;
  const visible = visibleSiblings(merged, now);
  return visible.length === 0 ? undefined : { record: merged, visible };
}

/** Whether a stream went past `key` (undefined: past the end of the range). */
function passed(s: NodeStream<unknown>, key: Buffer | undefined): boolean {
  if (s.exhausted) return true;
  if (key === undefined || s.frontier === undefined) return false;
  return Buffer.compare(s.frontier, key) >= 0;
}
