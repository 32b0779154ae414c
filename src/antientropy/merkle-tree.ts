/**
 * A Merkle tree (Merkle 1987; Dynamo §4.7; riak_core's hashtree) over the keys two replicas
 * share, kept up to date on every write so that comparing two replicas costs O(differences ·
 * log keys) rather than a scan.
 *
 *                            root
 *            ┌──────────────┬─┴─ … ─┬──────────────┐
 *        segment 0      segment 1   …         segment 31        (level 1: 32)
 *      ┌───┴ … ─┐                                              (level 2: 32 leaves each)
 *   leaf 0 … leaf 1023
 *
 * A key lives in the leaf given by the top 10 bits of its ring hash, so a range of the ring is a
 * range of leaves. The tree holds no keys: a leaf is the XOR of its entries' hashes, each entry
 * hash a SHA-256 of (key, version digest), plus an entry count, so an update is O(1) with no
 * per-key memory (the (key, digest) lists behind a differing leaf are read from the data when an
 * exchange asks for them). XOR is safe here because every entry hash
 * covers its key: two leaves agree only when their entry sets do, short of a 128-bit collision.
 * A key's contribution is removed with the digest it was added with, so callers pass the before
 * and after digests of every change. Inner nodes are SHA-256 over their children, computed
 * lazily along dirty paths. Pure computation, no I/O.
 */
import { hash } from 'node:crypto';
import { Ring } from '../ring/index.js';

export const LEAVES = 1024;
export const FANOUT = 32;
const ENTRY_BYTES = 16;
const EMPTY = hash('sha256', '', 'hex');

export function leafOf(key: Uint8Array): number {
  return Ring.keyHash(key) >>> 22;
}

/** The ring positions a leaf covers, [first, last]. */
export function leafRange(leaf: number): [number, number] {
  return [leaf * 2 ** 22, (leaf + 1) * 2 ** 22 - 1];
}

/** What a key at a version contributes to its leaf: the leaf and a hash of (key, version digest). */
export interface TreeEntry {
  leaf: number;
  hash: Buffer;
}

export function treeEntry(key: Uint8Array, digest: string): TreeEntry {
  // latin1 maps bytes to characters one to one, so the hashed text names the key exactly.
  const keyText = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  return { leaf: leafOf(key), hash: hash('sha256', `${keyText}\u0000${digest}`, 'buffer') };
}

export class MerkleTree {
  private readonly accumulators = new Uint8Array(LEAVES * ENTRY_BYTES);
  private readonly counts = new Uint32Array(LEAVES);
  private readonly leafHashes: (string | undefined)[] = new Array(LEAVES).fill(EMPTY);
  private readonly segmentHashes: (string | undefined)[] = new Array(FANOUT).fill(undefined);
  private rootHash: string | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a key's entry (one TreeEntry can be added to several trees). */
  add(entry: TreeEntry): void {
    this.toggle(entry, 1);
  }

  /** Removes a key's entry: it must be the one the key was added with. */
  remove(entry: TreeEntry): void {
    this.toggle(entry, -1);
  }

  private toggle({ leaf, hash: entry }: TreeEntry, delta: 1 | -1): void {
    const at = leaf * ENTRY_BYTES;
    const acc = this.accumulators;
    for (let i = 0; i < ENTRY_BYTES; i++) acc[at + i] = (acc[at + i] as number) ^ (entry[i] as number);
    this.counts[leaf] = (this.counts[leaf] as number) + delta;
    this.count += delta;
    this.leafHashes[leaf] = undefined;
    this.segmentHashes[Math.floor(leaf / FANOUT)] = undefined;
    this.rootHash = undefined;
  }

  private leafHash(leaf: number): string {
    let h = this.leafHashes[leaf];
    if (h === undefined) {
      const count = this.counts[leaf] as number;
      if (count === 0) h = EMPTY;
      else {
        const at = leaf * ENTRY_BYTES;
        const counted = Buffer.alloc(ENTRY_BYTES + 4);
        counted.set(this.accumulators.subarray(at, at + ENTRY_BYTES));
        counted.writeUInt32BE(count, ENTRY_BYTES);
        h = hash('sha256', counted, 'hex');
      }
      this.leafHashes[leaf] = h;
    }
    return h;
  }

  private segmentHash(segment: number): string {
    let h = this.segmentHashes[segment];
    if (h === undefined) {
      let children = '';
      for (let i = 0; i < FANOUT; i++) children += this.leafHash(segment * FANOUT + i);
      h = hash('sha256', children, 'hex');
      this.segmentHashes[segment] = h;
    }
    return h;
  }

  root(): string {
    if (this.rootHash === undefined) {
      let children = '';
      for (let s = 0; s < FANOUT; s++) children += this.segmentHash(s);
      this.rootHash = hash('sha256', children, 'hex');
    }
    return this.rootHash;
  }

  /** Level 1: the 32 segment hashes. */
  segments(): string[] {
    return Array.from({ length: FANOUT }, (_, s) => this.segmentHash(s));
  }

  /** Level 2: the 32 leaf hashes of a segment. */
  leavesOf(segment: number): string[] {
    return Array.from({ length: FANOUT }, (_, i) => this.leafHash(segment * FANOUT + i));
  }
}

/** Keys whose digests differ between two leaf listings (missing on either side counts). */
export function diffEntries(ours: [string, string][], theirs: [string, string][]): string[] {
  const mine = new Map(ours);
  const out: string[] = [];
  for (const [k, d] of theirs) {
    if (mine.get(k) !== d) out.push(k);
    mine.delete(k);
  }
  for (const k of mine.keys()) out.push(k);
  return out;
}
