/**
 * One Merkle tree per peer this node shares keys with: the tree for peer P covers exactly the keys
 * whose N replicas include both this node and P, so P's tree for us covers the same keys, and two
 * replicas compare like with like. Every committed change to a local record updates the trees it
 * belongs to (the key's new version digest, or its removal). A ring change rebuilds them
 * from a scan of the replica's records, then replays the changes committed during the scan.
 *
 * The (key, digest) lists behind differing leaves are read from the data when an exchange asks
 * for them, in one pass over the keys (records are decoded only in those leaves), rather than kept
 * in memory or in a second index: measured, a per-write index entry in LevelDB cost 20-30 % of a
 * 3-node cluster's put throughput, for lists only repair reads.
 */

import { versionDigest } from '../clock/index.js';
import type { ClusterState } from '../membership/cluster-state.js';
import type { LocalReplica, ReplicaChange } from '../replica/local-replica.js';
import { leafOf, MerkleTree, treeEntry, treeKey } from './merkle-tree.js';

export class TreeSet {
  private trees = new Map<string, MerkleTree>();
  /** Changes committed while a rebuild scans the records, replayed over the scan. */
  private rebuilding: ReplicaChange[] | undefined;
  private builtFor: string | undefined;
  /** The peers in each replica set the ring hands out (null: not ours); a new ring brings new arrays. */
  private readonly peersOf = new WeakMap<readonly string[], readonly string[] | null>();

  constructor(
    private readonly self: string,
    private readonly state: ClusterState,
    private readonly replica: LocalReplica,
  ) {}

  /** The tree shared with `peer` (empty if none yet). */
  tree(peer: string): MerkleTree {
    return treeIn(this.trees, peer);
  }

  get ready(): boolean {
    return this.rebuilding === undefined && this.builtFor === this.state.placementId;
  }

  /** Called after every committed change of a local record. */
  onChange(change: ReplicaChange): void {
    this.rebuilding?.push(change);
    this.apply(this.trees, change);
  }

  /** The peers that share `key` with this node on the current ring (undefined: not our key). */
  private sharers(key: Buffer): readonly string[] | undefined {
    const replicas = this.state.ring.primaries(key, this.state.settings.n);
    // The ring hands out one array per arc, so the answer is worked out once per arc.
    let peers = this.peersOf.get(replicas);
    if (peers === undefined) {
      peers = replicas.length < 2 || !replicas.includes(this.self) ? null : replicas.filter((name) => name !== this.self);
      this.peersOf.set(replicas, peers);
    }
    return peers ?? undefined;
  }

  private apply(trees: Map<string, MerkleTree>, change: ReplicaChange): void {
    const peers = this.sharers(change.key);
    if (!peers) return;
    // Hashed once per change, whatever the number of trees the key is in.
    if (change.digest) {
      const entry = treeEntry(change.key, change.digest);
      for (const peer of peers) treeIn(trees, peer).set(entry);
    } else {
      const key = treeKey(change.key);
      for (const peer of peers) treeIn(trees, peer).delete(key);
    }
  }

  /**
   * Rebuilds every tree from the local records (at start and after the ring changes). Changes
   * committed meanwhile are recorded and replayed, in order, over what the scan found: a tree sets
   * each key's latest digest (or drops the key), so replaying a change the scan already saw is
   * harmless, and one it missed is not lost.
   */
  async rebuild(): Promise<void> {
    const placement = this.state.placementId;
    const changes: ReplicaChange[] = [];
    this.rebuilding = changes;
    const fresh = new Map<string, MerkleTree>();
    try {
      for await (const [key, record] of this.replica.scan()) this.apply(fresh, { key, digest: versionDigest(record) });
      for (const change of changes) this.apply(fresh, change);
    } finally {
      this.rebuilding = undefined;
    }
    this.trees = fresh;
    this.builtFor = placement;
  }

  /** The (key, digest) pairs shared with `peer` in each of `leaves` (keys in base64), in one pass over the data. */
  async entries(peer: string, leaves: number[]): Promise<[string, string][][]> {
    const slot = new Map(leaves.map((leaf, i) => [leaf, i]));
    const out: [string, string][][] = leaves.map(() => []);
    const wanted = (key: Buffer) => slot.has(leafOf(key)) && this.sharers(key)?.includes(peer) === true;
    for await (const [key, record] of this.replica.scanMatching(wanted)) {
      out[slot.get(leafOf(key)) as number]?.push([key.toString('base64'), versionDigest(record)]);
    }
    return out;
  }

  /** Roots per peer (for status and tests). */
  roots(): Record<string, string> {
    return Object.fromEntries([...this.trees].map(([peer, t]) => [peer, t.root()]));
  }
}

function treeIn(trees: Map<string, MerkleTree>, peer: string): MerkleTree {
  let t = trees.get(peer);
  if (!t) {
    t = new MerkleTree();
    trees.set(peer, t);
  }
  return t;
}
