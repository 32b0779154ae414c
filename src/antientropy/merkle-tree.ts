/**
 * A Merkle tree (Merkle 1987; Dynamo §4.7; riak_core's hashtree) over the keys two replicas
 * share, kept up to date on every write so that comparing two replicas costs O(differences ·
 * log keys) rather than a scan.
 *
 *                            root
 *            ┌──────────────┬─┴─ … ─┬──────────────┐
 *        segment 0      segment 1   …         segment 31        (level 1: 32)
 *      ┌───┴ … ─┐                                              (level 2: 32 leaves each)
 *   leaf 0 … leaf 31                               … leaf 1023
 *
 * A key lives in the leaf given by the top 10 bits of its ring hash, so a range of the ring is a
 * range of leaves. A leaf's hash is SHA-256 over its (key, version digest) pairs in key order; an
 * inner node's is SHA-256 over its children's hashes (never XOR: XOR cancels equal differences).
 * Hashes are recomputed lazily, only along dirty paths. Pure computation, no I/O.
 */
import { createHash } from 'node:crypto';
import { type CausalRecord, vectorEntries } from '../clock/index.js';
import { Ring } from '../ring/index.js';

export const LEAVES = 1024;
export const FANOUT = 32;
const EMPTY = createHash('sha256').digest();

export function leafOf(key: Uint8Array): number {
  return Ring.keyHash(key) >>> 22;
}

/** The ring positions a leaf covers, [first, last]. */
export function leafRange(leaf: number): [number, number] {
  return [leaf * 2 ** 22, (leaf + 1) * 2 ** 22 - 1];
}

/** A digest of a record's versions: its clock and its siblings' dots (tombstones included). */
export function versionDigest(record: CausalRecord<unknown>): string {
  const h = createHash('sha256');
  for (const [actor, n] of vectorEntries(record.clock)) h.update(`${actor}\u0000${n}\u0001`);
  const dots = record.siblings.map((s) => `${s.dot[0]}\u0000${s.dot[1]}\u0000${s.value === null ? 't' : 'v'}`).sort();
  for (const d of dots) h.update(`${d}\u0002`);
  return h.digest('hex').slice(0, 32);
}

export class MerkleTree {
  private readonly leaves: Map<string, string>[] = Array.from({ length: LEAVES }, () => new Map());
  private readonly leafHashes: (Buffer | undefined)[] = new Array(LEAVES).fill(EMPTY);
  private readonly segmentHashes: (Buffer | undefined)[] = new Array(FANOUT).fill(undefined);
  private rootHash: Buffer | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Sets a key's version digest (undefined removes the key). Keys are compared as latin1 strings. */
  update(key: Buffer, digest: string | undefined): void {
    const leaf = leafOf(key);
    const entries = this.leaves[leaf] as Map<string, string>;
    const k = key.toString('latin1');
    const before = entries.get(k);
    if (before === digest) return;
    if (digest === undefined) {
      entries.delete(k);
      this.count--;
    } else {
      if (before === undefined) this.count++;
      entries.set(k, digest);
    }
    this.leafHashes[leaf] = undefined;
    this.segmentHashes[Math.floor(leaf / FANOUT)] = undefined;
    this.rootHash = undefined;
  }

  clear(): void {
    for (let i = 0; i < LEAVES; i++) {
      (this.leaves[i] as Map<string, string>).clear();
      this.leafHashes[i] = EMPTY;
    }
    this.segmentHashes.fill(undefined);
    this.rootHash = undefined;
    this.count = 0;
  }

  private leafHash(leaf: number): Buffer {
    let h = this.leafHashes[leaf];
    if (!h) {
      const entries = [...(this.leaves[leaf] as Map<string, string>)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (entries.length === 0) h = EMPTY;
      else {
        const hash = createHash('sha256');
        for (const [k, d] of entries) hash.update(Buffer.from(k, 'latin1')).update('\u0000').update(d).update('\u0001');
        h = hash.digest();
      }
      this.leafHashes[leaf] = h;
    }
    return h;
  }

  private segmentHash(segment: number): Buffer {
    let h = this.segmentHashes[segment];
    if (!h) {
      const hash = createHash('sha256');
      for (let i = 0; i < FANOUT; i++) hash.update(this.leafHash(segment * FANOUT + i));
      h = hash.digest();
      this.segmentHashes[segment] = h;
    }
    return h;
  }

  root(): string {
    if (!this.rootHash) {
      const hash = createHash('sha256');
      for (let s = 0; s < FANOUT; s++) hash.update(this.segmentHash(s));
      this.rootHash = hash.digest();
    }
    return this.rootHash.toString('hex');
  }

  /** Level 1: the 32 segment hashes. */
  segments(): string[] {
    return Array.from({ length: FANOUT }, (_, s) => this.segmentHash(s).toString('hex'));
  }

  /** Level 2: the 32 leaf hashes of a segment. */
  leavesOf(segment: number): string[] {
    return Array.from({ length: FANOUT }, (_, i) => this.leafHash(segment * FANOUT + i).toString('hex'));
  }

  /** A leaf's (key, digest) pairs; keys as base64. */
  entries(leaf: number): [string, string][] {
    return [...(this.leaves[leaf] as Map<string, string>)].map(([k, d]) => [Buffer.from(k, 'latin1').toString('base64'), d]);
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
