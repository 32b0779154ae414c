/**
 * One Merkle tree per range of the ring this node replicates with peers (ranges.ts): the tree of a
 * range holds this node's keys in it, and every replica of the range keeps the same tree, so an
 * exchange with peer P compares, range by range, the trees both hold (same bounds, on the same
 * ring). Memory follows the keys, not the number of peers: each key is in one tree, whatever the
 * cluster's size. Every committed change to a local record updates the tree of its range.
 *
 * A ring change keeps the trees of ranges whose bounds did not change, builds split or merged ranges
 * from the entries of the trees they overlap (entries carry their ring position), and scans the
 * records only for ranges that hold positions no complete tree held (newly ours), replaying the
 * changes committed during the scan. At start every range is new, so the first build is a scan.
 *
 * The (key, digest) lists behind differing leaves are read from the data when an exchange asks
 * for them, in one pass over the keys (records are decoded only in those leaves), rather than kept
 * in memory or in a second index: measured, a per-write index entry in LevelDB cost 20-30 % of a
 * 3-node cluster's put throughput, for lists only repair reads.
 */
import { hash } from 'node:crypto';
import { versionDigest } from '../clock/index.js';
import type { TreeLeaf, TreeRange } from '../protocol/peer.js';
import type { ReplicaChange } from '../replica/local-replica.js';
import { Ring } from '../ring/index.js';
import type { StoredRecord } from '../storage/record-format.js';
import { leafBounds, type MerkleTree, treeEntry, treeKey } from './merkle-tree.js';
import { type FollowReport, followRanges, overlaps, type RangeTree, rangeAt, sharedRanges } from './ranges.js';

/** What the trees read of the cluster: the ring, N, and the placement they are built for. */
export interface TreeSetState {
  readonly ring: Ring;
  readonly settings: { readonly n: number };
  readonly placementId: string;
}

/** What the trees read of the replica: its records, filtered by key, for a scan. */
export interface TreeSetReplica {
  scanMatching(match: (key: Buffer) => boolean): AsyncIterable<[Buffer, StoredRecord]>;
}

export class TreeSet {
  /** The ranges, in ring order (disjoint). */
  private ranges: RangeTree[] = [];
  /** Changes committed while a rebuild scans the records, replayed over the scan. */
  private rebuilding: ReplicaChange[] | undefined;
  private builtFor: string | undefined;
  /** What the last ring change did (for status and tests). */
  lastFollow: FollowReport | undefined;

  constructor(
    private readonly self: string,
    private readonly state: TreeSetState,
    private readonly replica: TreeSetReplica,
  ) {}

  get ready(): boolean {
    return this.rebuilding === undefined && this.builtFor === this.state.placementId;
  }

  /** Called after every committed change of a local record. */
  onChange(change: ReplicaChange): void {
    this.rebuilding?.push(change);
    this.apply(change);
  }

  private apply(change: ReplicaChange): void {
    const range = rangeAt(this.ranges, Ring.keyHash(change.key));
    if (!range) return;
    if (change.digest) range.tree.set(treeEntry(change.key, change.digest));
    else range.tree.delete(treeKey(change.key));
  }

  /**
   * Brings the trees to the current ring (at start and after the ring or N changes): see above.
   * Changes committed while the records are scanned are recorded and replayed, in order, over what
   * the scan found: a tree sets each key's latest digest (or drops the key), so replaying a change
   * the scan already saw is harmless, and one it missed is not lost.
   */
  async rebuild(): Promise<void> {
    const placement = this.state.placementId;
    const { ranges, report } = followRanges(this.ranges, sharedRanges(this.state.ring, this.state.settings.n, this.self));
    this.ranges = ranges;
    this.lastFollow = report;
    const toScan = ranges.filter((r) => !r.complete);
    if (toScan.length > 0) {
      const changes: ReplicaChange[] = [];
      this.rebuilding = changes;
      try {
        const wanted = (key: Buffer) => rangeAt(toScan, Ring.keyHash(key)) !== undefined;
        for await (const [key, record] of this.replica.scanMatching(wanted)) this.apply({ key, digest: versionDigest(record) });
        for (const change of changes) this.apply(change);
        for (const r of toScan) r.complete = true;
      } finally {
        this.rebuilding = undefined;
      }
    }
    this.builtFor = placement;
  }

  /** The complete trees this node shares with `peer`, in ring order. */
  sharedWith(peer: string): RangeTree[] {
    return this.ranges.filter((r) => r.complete && r.replicas.includes(peer));
  }

  /** The complete tree over exactly these bounds, if this node holds one. */
  treeOf(range: TreeRange): MerkleTree | undefined {
    const found = rangeAt(this.ranges, range.first);
    return found?.complete && found.first === range.first && found.last === range.last ? found.tree : undefined;
  }

  /** The peers this node shares a range with. */
  peers(): string[] {
    const names = new Set<string>();
    for (const r of this.ranges) for (const name of r.replicas) if (name !== this.self) names.add(name);
    return [...names].sort();
  }

  /** Trees held (for status and the bench). */
  get treeCount(): number {
    return this.ranges.length;
  }

  /** The (key, digest) pairs of this node's keys in each of `leaves` (keys in base64), in one pass over the data. */
  async entries(leaves: TreeLeaf[]): Promise<[string, string][][]> {
    const spans = leaves
      .map((l, slot) => {
        const [first, last] = leafBounds(l.first, l.last, l.leaf);
        return { first, last, slot };
      })
      .filter((s) => s.first <= s.last)
      .sort((a, b) => a.first - b.first);
    // The furthest end among the spans so far: a key's spans are found walking back while it reaches the key.
    const reach: number[] = [];
    for (const s of spans) reach.push(Math.max(s.last, reach.at(-1) ?? -1));
    const slotsOf = (position: number): number[] => {
      let lo = 0;
      let hi = spans.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((spans[mid] as { first: number }).first <= position) lo = mid + 1;
        else hi = mid;
      }
      const out: number[] = [];
      for (let i = lo - 1; i >= 0 && (reach[i] as number) >= position; i--) {
        const s = spans[i] as { first: number; last: number; slot: number };
        if (s.last >= position) out.push(s.slot);
      }
      return out;
    };
    const out: [string, string][][] = leaves.map(() => []);
    for await (const [key, record] of this.replica.scanMatching((key) => slotsOf(Ring.keyHash(key)).length > 0)) {
      const pair: [string, string] = [key.toString('base64'), versionDigest(record)];
      for (const slot of slotsOf(Ring.keyHash(key))) out[slot]?.push(pair);
    }
    return out;
  }

  /**
   * One root per peer for what this node holds in common with it: a hash over the bounds and roots
   * of the ranges both replicate, equal on both sides once they agree (for status and tests).
   */
  pairRoot(peer: string): string {
    const parts = this.sharedWith(peer).map((r) => `${r.first}-${r.last}:${r.tree.root()}`);
    return hash('sha256', parts.join('\n'), 'hex');
  }

  /** The pair root of each peer this node shares ranges with. */
  roots(): Record<string, string> {
    return Object.fromEntries(this.peers().map((peer) => [peer, this.pairRoot(peer)]));
  }

  /** What this node holds in common with `peer`, as one root. */
  tree(peer: string): { root(): string } {
    return { root: () => this.pairRoot(peer) };
  }

  /** The ranges overlapping [first, last] that this node shares with `peer`. */
  sharedIn(peer: string, first: number, last: number): RangeTree[] {
    return overlaps(this.ranges, first, last).filter((r) => r.complete && r.replicas.includes(peer));
  }
}
