/**
 * What one gossip exchange carries, in the manner of Cassandra's Gossiper (GossipDigestSyn, Ack,
 * Ack2): the initiator sends a digest of every member it holds, (name, generation, heartbeat); the
 * other side answers with only the entries the initiator lacks or holds older, and the digests of
 * those it needs itself; the initiator sends those last.
 *
 * A member's state has two parts that change at different paces: its heartbeat (every round) and
 * its slow fields (status, weight, address, counters, handoff ring, degraded), stamped with
 * `version`, the heartbeat at which they last changed. A peer whose copy is of the same generation
 * and at least that heartbeat already holds the slow fields as they are: it gets a heartbeat delta
 * (name, generation, heartbeat, version) instead of the whole entry. Anything else (a member it
 * lacks, a new generation, a removal) travels whole, and the receiver's merge decides as before
 * (MemberTable.merge): a digest only chooses what to send. Pure.
 */
import type { MemberInfo } from './member-table.js';

/** Digest flag: the entry is a removal (decided by others, so not ordered by heartbeat). */
export const DIGEST_REMOVED = 1;
/** Digest flag: the member left (a peer lacking it does not want it). */
export const DIGEST_LEFT = 2;

/** A member as a digest: [name, generation, heartbeat] and, for a removal or a departure, a flag. */
export type MemberDigest = [name: string, generation: number, heartbeat: number] | [name: string, generation: number, heartbeat: number, flag: number];

/** A heartbeat advance without the slow fields: [name, generation, heartbeat, version]. */
export type HeartbeatDelta = [name: string, generation: number, heartbeat: number, version: number];

/**
 * A member suspected of having failed: [name, generation, refuted, by], with the member's last
 * refutation (MemberInfo.refuted, 0 for none) as the suspecting node `by` knew it
 * (membership/failure-detector.ts). An entry of that generation with a later refutation clears it.
 */
export type MemberSuspicion = [name: string, generation: number, refuted: number, by: string];

/** Entries that travel whole, and heartbeat deltas. */
export interface GossipDelta {
  members: MemberInfo[];
  beats: HeartbeatDelta[];
}

/** How many bytes of whole entries one message carries at most; the rest follows in later rounds. */
export const MAX_DELTA_ENTRY_BYTES = 512 * 1024;

export function digestOf(m: MemberInfo): MemberDigest {
  if (m.status === 'removed') return [m.name, m.generation, m.heartbeat, DIGEST_REMOVED];
  if (m.status === 'left') return [m.name, m.generation, m.heartbeat, DIGEST_LEFT];
  return [m.name, m.generation, m.heartbeat];
}

/** The digest of a member we do not hold (generation -1): any entry of theirs is newer. */
export function lackingDigest(name: string): MemberDigest {
  return [name, -1, -1];
}

const flagOf = (d: MemberDigest): number => d[3] ?? 0;

/**
 * Which side may hold the better entry: 'ours' (send ours), 'theirs' (ask for theirs), 'both'
 * (one is a removal and the other not: exchange both, the merges decide), or 'same'.
 */
export function compareDigest(held: MemberInfo, digest: MemberDigest): 'ours' | 'theirs' | 'both' | 'same' {
  const ourRemoved = held.status === 'removed';
  const theirRemoved = flagOf(digest) === DIGEST_REMOVED;
  if (ourRemoved !== theirRemoved) return 'both';
  const [, generation, heartbeat] = digest;
  if (held.generation !== generation) return held.generation > generation ? 'ours' : 'theirs';
  if (held.heartbeat !== heartbeat) return held.heartbeat > heartbeat ? 'ours' : 'theirs';
  return 'same';
}

/** A heartbeat delta when the peer's copy (its digest) already holds our slow fields, else undefined: send the entry whole. */
export function beatFor(held: MemberInfo, theirs: MemberDigest | undefined): HeartbeatDelta | undefined {
  if (theirs === undefined || held.status === 'left' || held.status === 'removed' || flagOf(theirs) !== 0) return undefined;
  const [, generation, heartbeat] = theirs;
  const version = held.version ?? 0;
  if (generation !== held.generation || heartbeat < version) return undefined;
  return [held.name, held.generation, held.heartbeat, version];
}

/** Adds `held` to `delta` as a beat or a whole entry; false when the whole entry would pass the byte budget. */
function addDelta(delta: GossipDelta, held: MemberInfo, theirs: MemberDigest | undefined, budget: { bytes: number }): boolean {
  const beat = beatFor(held, theirs);
  if (beat) {
    delta.beats.push(beat);
    return true;
  }
  const bytes = JSON.stringify(held).length;
  if (bytes > budget.bytes) return false;
  budget.bytes -= bytes;
  delta.members.push(held);
  return true;
}

/**
 * The answer to a peer's digests, from the entries we hold: what the peer lacks or holds older, and
 * the digests of what we lack or hold older. `listedOnly`: answer only for the members the digests
 * name (an answer to a request for them), not those the peer has never heard of.
 */
export function answerDigests(
  held: readonly MemberInfo[],
  digests: readonly MemberDigest[],
  options: { listedOnly?: boolean; maxEntryBytes?: number } = {},
): GossipDelta & { want: MemberDigest[] } {
  const theirs = new Map<string, MemberDigest>();
  for (const d of digests) theirs.set(d[0], d);
  const answer: GossipDelta & { want: MemberDigest[] } = { members: [], beats: [], want: [] };
  const budget = { bytes: options.maxEntryBytes ?? MAX_DELTA_ENTRY_BYTES };
  const ours = new Set<string>();
  for (const m of held) {
    ours.add(m.name);
    const digest = theirs.get(m.name);
    if (digest === undefined) {
      // A member that left is nothing to a peer that never knew it (MemberTable.merge drops it).
      if (!options.listedOnly && m.status !== 'left') addDelta(answer, m, undefined, budget);
      continue;
    }
    const verdict = compareDigest(m, digest);
    if (verdict === 'ours' || verdict === 'both') addDelta(answer, m, digest, budget);
    if (verdict === 'theirs' || verdict === 'both') answer.want.push(digestOf(m));
  }
  if (!options.listedOnly) {
    for (const d of digests) if (!ours.has(d[0]) && flagOf(d) !== DIGEST_LEFT) answer.want.push(lackingDigest(d[0]));
  }
  return answer;
}
