/**
 * What this node holds for a key as a replica: its own data merged with any hints it keeps for
 * the key (a fallback's copy counts as this node's answer, as it does in Dynamo's sloppy quorum).
 */
import { mergeRecords, mergeVectors, type VersionVector } from '../clock/index.js';
import type { HintStore } from '../handoff/hint-store.js';
import type { LocalReplica } from '../replica/local-replica.js';
import type { StoredRecord } from '../storage/record-format.js';

export class LocalCopy {
  constructor(
    private readonly replica: LocalReplica,
    private readonly hints: HintStore,
  ) {}

  /** Our record for the key, hints included (undefined: none). */
  async record(key: Buffer): Promise<StoredRecord | undefined> {
    const [data, hinted] = await Promise.all([this.replica.read(key, false), this.hints.forKey(key)]);
    if (data && hinted) return mergeRecords(data, hinted);
    return data ?? hinted;
  }

  /** Our version vector for the key, hints included (undefined: none). */
  async clock(key: Buffer): Promise<VersionVector | undefined> {
    const [data, hinted] = await Promise.all([this.replica.clockOf(key), this.hints.forKey(key)]);
    if (data && hinted) return mergeVectors(data, hinted.clock);
    return data ?? hinted?.clock;
  }
}
