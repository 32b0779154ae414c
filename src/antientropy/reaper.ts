/**
 * Tombstone reaping. A delete is a tombstone that replicates, hints and repairs like a value; it
 * can be dropped only once every replica holds it, or a replica that missed the delete would bring
 * the old value back through anti-entropy. For each tombstone older than the grace period, the
 * key's first replica asks all N replicas for their record and, only if every one answers with the
 * very same tombstone, tells each to drop it (each drops it only if it still holds exactly that).
 *
 * The grace period must exceed the hint age cap (a hint older than the cap is dropped, so no hint
 * written before the delete can arrive after the reap). A replica that was away for longer than
 * the grace period and comes back with the old value is the classic limit of this scheme
 * (Cassandra's gc_grace_seconds): repair it before the grace period runs out.
 *
 * A value past its deadline (a put with a TTL) is dead as a tombstone is, from its deadline on:
 * a record whose every version is deleted or expired is reaped the same way, the grace period
 * counted from the latest delete or deadline among them.
 */
import { deadFrom, isDead, sameVersions } from '../clock/index.js';
import type { PeerReplies } from '../protocol/peer.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import type { StoredRecord } from '../storage/record-format.js';

export interface ReaperDeps extends EngineDeps {
  graceMs: number;
}

export class TombstoneReaper {
  reaped = 0;

  constructor(private readonly deps: ReaperDeps) {}

  /** One pass over the local tombstones (kept in an index, no scan); returns how many were reaped. */
  async run(): Promise<number> {
    const { self, state, clock, replica } = this.deps;
    const now = clock.now();
    let count = 0;
    const candidates: [Buffer, StoredRecord][] = [];
    for await (const [key, record] of replica.deadOrExpiring()) {
      if (!this.pastGrace(record, now)) continue;
      // One replica drives each key: the first one that is up.
      const replicas = state.ring.primaries(key, state.settings.n);
      if (replicas.find((name) => name === self || state.table.isUp(name, now)) === self) candidates.push([key, record]);
    }
    for (const [key, record] of candidates) if (await this.reap(key, record)) count++;
    this.reaped += count;
    return count;
  }

  private async reap(key: Buffer, record: StoredRecord): Promise<boolean> {
    const { self, state, clock } = this.deps;
    const replicas = state.ring.primaries(key, state.settings.n);
    if (!replicas.every((name) => name === self || state.table.isUp(name, clock.now()))) return false;
    const others = replicas.filter((name) => name !== self);
    try {
      const records = await Promise.all(others.map((name) => this.deps.peers.read(name, key)));
      const identical = records.every((theirs) => theirs && sameVersions(theirs, record) && isDead(theirs, clock.now()));
      if (!identical) {
        this.deps.logger.log('debug', 'tombstone.kept', 'tombstone kept: not every replica holds it yet', { key: key.toString('base64') });
        return false;
      }
      await Promise.all(others.map((name) => this.deps.peers.reap(name, key, record)));
      await this.deps.replica.forget(key, record);
      return true;
    } catch (err) {
      this.deps.logger.log('debug', 'tombstone.reap_skipped', 'tombstone reap skipped', { message: (err as Error).message });
      return false;
    }
  }

  /**
   * kv.reap: drop our tombstone if we still hold exactly that one, and our own rule allows it: a
   * tombstone younger than our grace period stays, whoever asks.
   */
  async handleReap(key: Buffer, record: StoredRecord): Promise<PeerReplies['kv.reap']> {
    if (!this.pastGrace(record, this.deps.clock.now())) return { dropped: false };
    return { dropped: await this.deps.replica.forget(key, record) };
  }

  /** True once every version is dead (deleted or expired) and the latest of them died longer than the grace period ago. */
  private pastGrace(record: StoredRecord, now: number): boolean {
    const from = deadFrom(record);
    if (from === undefined || !isDead(record, now)) return false;
    // A tombstone's time is when it was written: the newest version's, as before deadlines existed.
    const newest = Math.max(from, ...record.siblings.map((s) => s.ts));
    return now - newest >= this.deps.graceMs;
  }
}
