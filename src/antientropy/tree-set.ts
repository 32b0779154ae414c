/**
 * One Merkle tree per peer this node shares keys with: the tree for peer P covers exactly the keys
 * whose N replicas include both this node and P, so P's tree for us covers the same keys, and two
 * replicas compare like with like. Every change to a local record updates the trees it belongs to;
 * a ring change rebuilds them from a scan (writes during the scan are replayed after it).
 */
import type { ClusterState } from '../membership/cluster-state.js';
import type { LocalReplica } from '../node/local-replica.js';
import type { StoredRecord } from '../storage/record-format.js';
import { MerkleTree, versionDigest } from './merkle-tree.js';

export class TreeSet {
  private readonly trees = new Map<string, MerkleTree>();
  private rebuilding: Set<string> | undefined;
  private builtFor: string | undefined;

  constructor(
    private readonly self: string,
    private readonly state: ClusterState,
    private readonly replica: LocalReplica,
  ) {}

  /** The tree shared with `peer` (empty if none yet). */
  tree(peer: string): MerkleTree {
    let t = this.trees.get(peer);
    if (!t) {
      t = new MerkleTree();
      this.trees.set(peer, t);
    }
    return t;
  }

  get ready(): boolean {
    return this.rebuilding === undefined && this.builtFor === this.state.ring.id;
  }

  /** Called after every committed change of a local record (undefined: the key was dropped). */
  onChange(key: Buffer, record: StoredRecord | undefined): void {
    if (this.rebuilding) this.rebuilding.add(key.toString('latin1'));
    this.apply(key, record);
  }

  private apply(key: Buffer, record: StoredRecord | undefined): void {
    const replicas = this.state.ring.primaries(key, this.state.settings.n);
    if (replicas.length < 2 && this.trees.size === 0) return; // a single node shares nothing
    const mine = replicas.includes(this.self);
    const digest = record && mine ? versionDigest(record) : undefined;
    for (const peer of replicas) if (peer !== this.self) this.tree(peer).update(key, digest);
  }

  /** Rebuilds every tree from the local data (at start and after the ring changes). */
  async rebuild(): Promise<void> {
    const ringId = this.state.ring.id;
    this.rebuilding = new Set();
    for (const t of this.trees.values()) t.clear();
    for await (const [key, record] of this.replica.scan()) this.apply(key, record);
    const touched = this.rebuilding;
    this.rebuilding = undefined;
    for (const latin of touched) {
      const key = Buffer.from(latin, 'latin1');
      this.apply(key, await this.replica.read(key, false));
    }
    this.builtFor = ringId;
  }

  /** Roots per peer (for status and tests). */
  roots(): Record<string, string> {
    return Object.fromEntries([...this.trees].map(([peer, t]) => [peer, t.root()]));
  }
}
