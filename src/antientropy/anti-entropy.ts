/**
 * Merkle anti-entropy between two replicas (Dynamo §4.7), range by range over the ranges of the ring
 * both replicate (tree-set.ts): compare the roots of their trees; where they differ, compare the 32
 * segment hashes, then the leaf hashes of differing segments, then the (key, digest) lists of
 * differing leaves; transfer only the keys that differ, with their clocks, both ways, merging on
 * arrival (so siblings and tombstones come out right). A range the peer holds with other bounds
 * (its ring differs for now) is left for a later exchange. Runs in the background on an interval
 * against one random peer, with a rate limit, and on demand (`kvctl repair`).
 */
import type { AntiEntropySettings } from '../config.js';
import { every, type Periodic } from '../env/clock.js';
import { type Random, sample } from '../env/random.js';
import { type KvError, toKvError } from '../errors.js';
import { type LeafEntries, MAX_HASHED_RANGES, MAX_LISTED_LEAVES, type PeerReplies, type TreeLeaf, type TreeRange } from '../protocol/peer.js';
import { isRecordRefused, printableKey, recordItemBytes, unsendableRecord } from '../protocol/record-size.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import type { StoredRecord } from '../storage/record-format.js';
import { diffEntries, FANOUT, leafBounds } from './merkle-tree.js';
import { type RangeTree, sharedRanges } from './ranges.js';
import type { TreeSet } from './tree-set.js';

export interface ExchangeOptions {
  dryRun?: boolean;
  /** Ring positions [lo, hi] to compare; omitted: the whole shared key space. */
  range?: [number, number];
  /** Keys transferred per second at most (background runs). */
  maxKeysPerSecond?: number;
  /**
   * Compare differing leaves again this long after, up to SETTLE_CHECKS times, and list only those
   * that still differ (background runs; see SETTLE_CHECKS).
   */
  settleMs?: number;
}

export interface ExchangeSummary {
  peer: string;
  /** Tree nodes compared (roots, segments, leaves). */
  rangesCompared: number;
  keysDiffering: number;
  keysTransferred: number;
  bytesTransferred: number;
  rootsEqualAfter: boolean;
  ms: number;
  /** The differing keys (base64), so a cluster-wide repair can count each key once. */
  keys: string[];
}

/** The figures of an exchange that compared and moved nothing (yet). */
export function emptyExchangeFigures(): Omit<ExchangeSummary, 'peer' | 'keys'> {
  return { rangesCompared: 0, keysDiffering: 0, keysTransferred: 0, bytesTransferred: 0, rootsEqualAfter: false, ms: 0 };
}

export interface AntiEntropyDeps extends EngineDeps {
  trees: TreeSet;
  random: Random;
  settings: AntiEntropySettings;
}

const FETCH_BATCH = 128;
/** Unsendable records remembered at most (beyond, the oldest is tried again, and logged again, by a later exchange). */
const MAX_REMEMBERED_UNSENDABLE = 10_000;

function unsendableId(peer: string, keyBase64: string): string {
  return `${peer}\n${keyBase64}`;
}
/**
 * Under writes, replicas' trees always differ in the leaves of writes still on their way to a
 * replica (in seeded simulations at 15-24k puts/s, 58-176 of the 1024 leaves at one moment), and
 * listing a leaf costs a pass over the keys and a read of its records on both sides: in a 3-node
 * cluster at ~20k puts/s, background exchanges cost 10-15 % of the daemons' CPU. A background run compares the
 * differing leaves again after a pause, up to this many times, and lists only those that differed
 * every time; a real difference stays put and is still found. `kvctl repair` lists at once.
 */
const SETTLE_CHECKS = 3;
/** The pause between those comparisons. */
export const BACKGROUND_SETTLE_MS = 250;

/** The bounds of a range's tree, as the peer protocol names them. */
const boundsOf = (r: RangeTree): TreeRange => ({ first: r.first, last: r.last });

/** `items` in consecutive chunks of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A leaf of one of our trees. */
interface RangeLeaf {
  range: RangeTree;
  leaf: number;
}

export class AntiEntropy {
  private periodic: Periodic | undefined;
  readonly counters = { exchanges: 0, keysTransferred: 0, bytesTransferred: 0, leavesListed: 0, leavesSettled: 0, unsendableRecords: 0 };
  /** Records found unsendable, by peer and key, with the versions (digest pair) they had then; oldest first. */
  private readonly unsendable = new Map<string, string>();
  /** Runs after each background exchange (the tombstone reaper). */
  afterRound: (() => Promise<unknown>) | undefined;

  constructor(private readonly deps: AntiEntropyDeps) {}

  start(): void {
    if (this.deps.settings.intervalMs <= 0 || this.periodic) return;
    this.periodic = every(
      this.deps.clock,
      this.deps.settings.intervalMs,
      () => this.backgroundRound(),
      (err) => this.deps.logger.log('warn', 'antientropy.round_failed', 'anti-entropy round failed', { message: (err as Error).message }),
    );
  }

  stop(): void {
    this.periodic?.stop();
    this.periodic = undefined;
  }

  private async backgroundRound(): Promise<void> {
    const now = this.deps.clock.now();
    if (!this.deps.trees.ready) return;
    const peers = this.deps.trees.peers().filter((p) => this.deps.state.table.isUp(p, now));
    const [peer] = sample(peers, 1, this.deps.random);
    if (!peer) return;
    try {
      const summary = await this.exchange(peer, { maxKeysPerSecond: this.deps.settings.maxKeysPerSecond, settleMs: BACKGROUND_SETTLE_MS });
      if (summary.keysTransferred > 0)
        this.deps.logger.log('info', 'antientropy.repaired', 'anti-entropy repaired keys', { ...summary, keys: summary.keys.length });
      await this.afterRound?.();
    } catch (err) {
      this.deps.logger.log('debug', 'antientropy.exchange_failed', 'anti-entropy exchange failed', { peer, code: (err as KvError).code });
    }
  }

  /** For each peer, one root over the trees of the ranges we share (equal on both sides once a pair is repaired). */
  roots(): Record<string, string> {
    return this.deps.trees.roots();
  }

  /** Peers this node shares keys with on the current ring. */
  sharingPeers(): string[] {
    const { state, self } = this.deps;
    const names = new Set(sharedRanges(state.ring, state.settings.n, self).flatMap((r) => r.replicas));
    names.delete(self);
    return [...names].sort();
  }

  /** Compares our trees of the ranges we share with `peer` with its trees of them, and repairs the differences. */
  async exchange(peer: string, options: ExchangeOptions = {}): Promise<ExchangeSummary> {
    const started = this.deps.clock.now();
    const { trees, peers } = this.deps;
    const summary: ExchangeSummary = { peer, ...emptyExchangeFigures(), keys: [] };
    const range = options.range;
    const shared = range ? trees.sharedIn(peer, range[0], range[1]) : trees.sharedWith(peer);
    const leafInRange = (r: RangeTree, leaf: number): boolean => {
      if (!range) return true;
      const [first, last] = leafBounds(r.first, r.last, leaf);
      return first <= last && first <= range[1] && last >= range[0];
    };

    /** (range, segment) pairs whose leaves to compare. */
    let probes: { range: RangeTree; segment: number }[] = [];
    if (!range) {
      const differingRanges: RangeTree[] = [];
      for (const chunk of chunks(shared, MAX_HASHED_RANGES[0])) {
        const theirs = await peers.treeHashes(peer, 0, chunk.map(boundsOf));
        chunk.forEach((r, i) => {
          const root = theirs[i]?.[0];
          if (root === undefined) return;
          summary.rangesCompared++;
          if (root !== r.tree.root()) differingRanges.push(r);
        });
      }
      for (const chunk of chunks(differingRanges, MAX_HASHED_RANGES[1])) {
        const theirs = await peers.treeHashes(peer, 1, chunk.map(boundsOf));
        chunk.forEach((r, i) => {
          const segments = theirs[i];
          if (!segments) return;
          summary.rangesCompared += FANOUT;
          r.tree.segments().forEach((h, segment) => {
            if (h !== segments[segment]) probes.push({ range: r, segment });
          });
        });
      }
    } else {
      for (const r of shared)
        for (let segment = 0; segment < FANOUT; segment++)
          if (Array.from({ length: FANOUT }, (_, i) => segment * FANOUT + i).some((leaf) => leafInRange(r, leaf))) probes.push({ range: r, segment });
    }
    const differingLeaves = async (candidate: (r: RangeTree, leaf: number) => boolean): Promise<RangeLeaf[]> => {
      const out: RangeLeaf[] = [];
      for (const chunk of chunks(probes, MAX_HASHED_RANGES[2])) {
        const theirs = await peers.treeHashes(
          peer,
          2,
          chunk.map((p) => boundsOf(p.range)),
          chunk.map((p) => p.segment),
        );
        chunk.forEach((p, i) => {
          const leafHashes = theirs[i];
          if (!leafHashes) return;
          summary.rangesCompared += FANOUT;
          p.range.tree.leavesOf(p.segment).forEach((h, j) => {
            const leaf = p.segment * FANOUT + j;
            if (candidate(p.range, leaf) && h !== leafHashes[j]) out.push({ range: p.range, leaf });
          });
        });
      }
      return out;
    };
    let leaves = await differingLeaves(leafInRange);
    if (options.settleMs !== undefined) {
      const found = leaves.length;
      for (let check = 0; check < SETTLE_CHECKS && leaves.length > 0; check++) {
        await this.pause(options.settleMs);
        const still = new Set(leaves.map((l) => `${l.range.first}:${l.leaf}`));
        const segments = new Map<string, { range: RangeTree; segment: number }>();
        for (const l of leaves) {
          const segment = Math.floor(l.leaf / FANOUT);
          segments.set(`${l.range.first}:${segment}`, { range: l.range, segment });
        }
        probes = [...segments.values()];
        leaves = await differingLeaves((r, leaf) => still.has(`${r.first}:${leaf}`));
      }
      this.counters.leavesSettled += found - leaves.length;
    }
    this.counters.leavesListed += leaves.length;
    const differing: string[] = [];
    /** Each differing key's pair of digests (ours, theirs), to tell a record known to be unsendable from a new version of it. */
    const versions = new Map<string, string>();
    for (const chunk of chunks(leaves, MAX_LISTED_LEAVES)) {
      const asked: TreeLeaf[] = chunk.map((l) => ({ ...boundsOf(l.range), leaf: l.leaf }));
      const theirs = await peers.leafEntries(peer, asked);
      const ours = await trees.entries(asked);
      chunk.forEach((_, j) => {
        const mine = new Map(ours[j] ?? []);
        const other = new Map(theirs[j] ?? []);
        for (const key of diffEntries(ours[j] ?? [], theirs[j] ?? [])) {
          const pair = `${mine.get(key) ?? ''}/${other.get(key) ?? ''}`;
          if (this.unsendable.get(unsendableId(peer, key)) === pair) continue; // known not to travel, and unchanged since
          differing.push(key);
          versions.set(key, pair);
        }
      });
    }
    summary.keysDiffering = differing.length;
    summary.keys = differing;
    if (!options.dryRun) {
      for (let i = 0; i < differing.length; i += FETCH_BATCH) {
        const batch = differing.slice(i, i + FETCH_BATCH);
        await this.transfer(peer, batch, summary, versions);
        if (options.maxKeysPerSecond) await this.pause((batch.length / options.maxKeysPerSecond) * 1000);
      }
      summary.rootsEqualAfter = differing.length === 0 || (await this.rootsEqual(peer, shared));
    } else {
      summary.rootsEqualAfter = differing.length === 0;
    }
    summary.ms = this.deps.clock.now() - started;
    this.counters.exchanges++;
    this.counters.keysTransferred += summary.keysTransferred;
    this.counters.bytesTransferred += summary.bytesTransferred;
    return summary;
  }

  /**
   * Fetches the peer's records for these keys, merges them here, and sends the merges back, each
   * message within one line. A record that cannot travel (too large for a line, or refused by
   * either side) is skipped, counted and remembered with its versions, so later exchanges pass
   * over it until either side writes the key again.
   */
  private async transfer(peer: string, keys: string[], summary: ExchangeSummary, versions: Map<string, string>): Promise<void> {
    let pending = keys.map((k) => Buffer.from(k, 'base64'));
    const back: { key: Buffer; record: StoredRecord }[] = [];
    let backBytes = 0;
    const sendBack = async () => {
      if (back.length === 0) return;
      const items = back.splice(0);
      backBytes = 0;
      const results = await this.deps.peers.store(peer, items);
      results.forEach((error, i) => {
        const item = items[i] as { key: Buffer; record: StoredRecord };
        if (!error) return;
        if (!isRecordRefused(error)) throw error;
        this.skipUnsendable(peer, item.key, versions, error);
      });
    };
    while (pending.length > 0) {
      const { records, skipped } = await this.deps.peers.fetch(peer, pending);
      const tooLarge = new Set(skipped);
      for (let i = 0; i < records.length; i++) {
        const key = pending[i] as Buffer;
        if (tooLarge.has(i)) {
          this.skipUnsendable(peer, key, versions, `${peer} holds a record for it too large for one line`);
          continue;
        }
        const record = records[i];
        if (record) summary.bytesTransferred += recordItemBytes(key, record);
        let merged: StoredRecord | undefined;
        try {
          merged = record ? await this.deps.replica.merge(key, record) : await this.deps.replica.storedRecord(key);
        } catch (err) {
          if (!isRecordRefused(err)) throw err;
          this.skipUnsendable(peer, key, versions, err as KvError);
          continue;
        }
        summary.keysTransferred++;
        if (!merged) continue;
        const bytes = recordItemBytes(key, merged);
        if (bytes > this.deps.peers.maxItemBytes) {
          this.skipUnsendable(peer, key, versions, unsendableRecord(key, bytes, this.deps.peers.maxLineBytes));
          continue;
        }
        if (backBytes + bytes > this.deps.peers.maxItemBytes) await sendBack();
        back.push({ key, record: merged });
        backBytes += bytes;
        summary.bytesTransferred += bytes;
      }
      pending = pending.slice(records.length);
    }
    await sendBack();
  }

  /** Counts a record that cannot travel to `peer`, logs it once per key and version, and remembers it (bounded). */
  private skipUnsendable(peer: string, key: Buffer, versions: Map<string, string>, why: KvError | string): void {
    this.counters.unsendableRecords++;
    const keyText = key.toString('base64');
    const id = unsendableId(peer, keyText);
    const pair = versions.get(keyText) ?? '';
    if (this.unsendable.get(id) === pair) return;
    this.unsendable.delete(id);
    this.unsendable.set(id, pair);
    if (this.unsendable.size > MAX_REMEMBERED_UNSENDABLE) this.unsendable.delete(this.unsendable.keys().next().value as string);
    const reason = typeof why === 'string' ? { message: why } : { code: why.code, message: why.message };
    this.deps.logger.log('warn', 'antientropy.record_skipped', 'anti-entropy skips a record it cannot send', { peer, key: printableKey(key), ...reason });
  }

  /** Whether the peer holds each of these trees with the same root. */
  private async rootsEqual(peer: string, ranges: RangeTree[]): Promise<boolean> {
    for (const chunk of chunks(ranges, MAX_HASHED_RANGES[0])) {
      const theirs = await this.deps.peers.treeHashes(peer, 0, chunk.map(boundsOf));
      if (chunk.some((r, i) => theirs[i]?.[0] !== r.tree.root())) return false;
    }
    return true;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimer(ms, resolve));
  }

  /** ae.hashes: the hashes of our trees over these ranges at a level (level 2: of segment `segments[i]` of range i). */
  handleHashes(level: 0 | 1 | 2, ranges: TreeRange[], segments: number[]): PeerReplies['ae.hashes'] {
    return {
      hashes: ranges.map((range, i) => {
        const tree = this.deps.trees.treeOf(range);
        if (!tree) return undefined;
        if (level === 0) return [tree.root()];
        if (level === 1) return tree.segments();
        return tree.leavesOf(segments[i] ?? 0);
      }),
    };
  }

  /** ae.leaves: the (key, digest) lists of some leaves. */
  async handleLeaves(leaves: TreeLeaf[]): Promise<{ entries: LeafEntries[] }> {
    return { entries: await this.deps.trees.entries(leaves) };
  }

  /**
   * ae.fetch: our records for keys (undefined where we hold none), from the first, as many as one
   * reply line holds; a record too large for a line alone is skipped and named in `skipped`.
   */
  async handleFetch(keys: Buffer[]): Promise<PeerReplies['ae.fetch']> {
    const records: (StoredRecord | undefined)[] = [];
    const skipped: number[] = [];
    let bytes = 0;
    for (const key of keys) {
      const record = await this.deps.replica.storedRecord(key);
      const itemBytes = record ? recordItemBytes(key, record) : 8;
      if (itemBytes > this.deps.peers.maxItemBytes) {
        skipped.push(records.length);
        records.push(undefined);
        bytes += 8;
        continue;
      }
      if (records.length > 0 && bytes + itemBytes > this.deps.peers.maxItemBytes) break;
      records.push(record);
      bytes += itemBytes;
    }
    return { records, skipped };
  }

  /** ae.store: merge records the peer sends back; a record refused here (too large, too many siblings) fails alone. */
  async handleStore(items: { key: Buffer; record: StoredRecord }[]): Promise<PeerReplies['ae.store']> {
    const outcomes = await Promise.allSettled(items.map((item) => this.deps.replica.merge(item.key, item.record)));
    const results = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? undefined : toKvError(outcome.reason)));
    // Anything but a refusal of one record fails the whole request, as before.
    const failed = results.find((error) => error && !isRecordRefused(error));
    if (failed) throw failed;
    return { stored: results.filter((error) => !error).length, results };
  }
}
