/**
 * The node-to-node protocol as types: every message a node sends another, and the reply each one
 * gets, in the engines' own terms (keys and values as bytes, records, version vectors, member
 * entries). Engines see only these; how they travel (binary frames, net/peer-frames.ts) lives below, in net/, and
 * each direction is validated there before an engine sees it.
 */
import type { VersionVector } from '../clock/index.js';
import type { ClusterSettings, Consistency } from '../config.js';
import type { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { HeartbeatDelta, MemberDigest, MemberSuspicion } from '../membership/gossip-delta.js';
import type { MemberInfo } from '../membership/member-table.js';
import type { QuorumSummary } from '../quorum/quorum.js';
import type { StoredRecord } from '../storage/record-format.js';

/** One record for a replica: its key, the record, and the down node it stands in for (a hint). */
export interface ReplicaItem {
  key: Buffer;
  record: StoredRecord;
  hintFor?: string;
}

/** A write another node asks a replica to coordinate (value null: a delete). */
export interface CoordinateWrite {
  key: Buffer;
  value: Buffer | null;
  context?: VersionVector;
  w?: number;
  consistency?: Consistency;
  keepSiblings: boolean;
  /** When the value expires, in wall-clock ms, as the node the client asked set it (absent: never). */
  expiresAt?: number;
}

/**
 * The cluster a gossip message speaks for. A joiner names only the settings its operator gave
 * explicitly (the seed refuses a contradiction) and no id; members name the cluster's id,
 * settings and settings version.
 */
export type GossipCluster = { kind: 'member'; cluster: ClusterIdentity } | { kind: 'joiner'; explicit: Partial<ClusterSettings> };

/**
 * One gossip message (gossip/gossiper.ts). A `probe` carries the sender's entry and news (entries,
 * `suspects`) and is answered with the receiver's. With `digests`, the opening of a full sync
 * (membership/gossip-delta.ts): the answer holds what the sender lacks or holds older, and in
 * `want` the digests of what the answering node needs (sent in a last message, answered with
 * nothing). A joiner's message, or one with `full`, is answered with the whole table.
 */
export interface GossipPush {
  cluster: GossipCluster;
  members: MemberInfo[];
  beats?: HeartbeatDelta[];
  digests?: MemberDigest[];
  full?: true;
  /** Suspected members (membership/failure-detector.ts). */
  suspects?: MemberSuspicion[];
  probe?: true;
}

export type PeerRequest =
  | ({ op: 'gossip.push' } & GossipPush)
  | { op: 'kv.read'; key: Buffer; digest: boolean }
  | { op: 'kv.clocks'; keys: Buffer[] }
  | { op: 'kv.replicate'; key: Buffer; record: StoredRecord; hintFor?: string }
  | { op: 'kv.replicate.many'; items: ReplicaItem[] }
  | { op: 'kv.reap'; key: Buffer; record: StoredRecord }
  | ({ op: 'kv.coordinate' } & CoordinateWrite)
  | { op: 'ae.hashes'; peer: string; level: 0 | 1; ranges: TreeRange[] }
  | { op: 'ae.hashes'; peer: string; level: 2; ranges: TreeRange[]; segments: number[] }
  | { op: 'ae.leaves'; peer: string; leaves: TreeLeaf[] }
  | { op: 'ae.fetch'; peer: string; keys: Buffer[] }
  | { op: 'ae.store'; peer: string; items: { key: Buffer; record: StoredRecord }[] }
  | ({ op: 'kv.scan' } & PeerScan);

/**
 * One page of a replica's records for a scan: keys from `from` (included when `inclusive`, else
 * strictly after it) up to `end` (excluded; undefined: no end), in key order, at most `maxKeys` of
 * them and about `maxBytes` of records (at least one record). Without `values` each live value is
 * sent empty: enough to tell live from tombstone and to merge clocks and siblings.
 */
export interface PeerScan {
  from: Buffer;
  inclusive: boolean;
  end: Buffer | undefined;
  maxKeys: number;
  maxBytes: number;
  values: boolean;
}

export type PeerOp = PeerRequest['op'];

/**
 * The ring positions [first, last] one Merkle tree covers: a range of the ring with the same
 * replicas throughout (antientropy/ranges.ts). Both replicas of a range name it by its bounds.
 */
export interface TreeRange {
  first: number;
  last: number;
}

/** One leaf (0-1023) of the tree of a range. */
export interface TreeLeaf extends TreeRange {
  leaf: number;
}

/** (key, version digest) pairs of one Merkle leaf; keys in base64, as the trees list them. */
export type LeafEntries = [string, string][];

/** The reply to each peer op. */
export interface PeerReplies {
  'gossip.push': {
    cluster: ClusterIdentity | undefined;
    members: MemberInfo[];
    beats?: HeartbeatDelta[];
    want?: MemberDigest[];
    suspects?: MemberSuspicion[];
  };
  'kv.read': { record: StoredRecord | undefined; digest: string | undefined };
  'kv.clocks': { clocks: (VersionVector | undefined)[] };
  'kv.replicate': Record<string, never>;
  /** One entry per item, in order: undefined when stored, else why not. */
  'kv.replicate.many': { results: (KvError | undefined)[] };
  'kv.reap': { dropped: boolean };
  /** hinted: replicas a fallback durably keeps a hint for; hintsDropped: those whose hint was dropped at a cap. */
  'kv.coordinate': { record: StoredRecord; existed: boolean; quorum: QuorumSummary; hinted: string[]; hintsDropped: string[] };
  /**
   * One entry per asked range (level 2: per asked (range, segment) pair): level 0 the root, level 1
   * the 32 segment hashes, level 2 the segment's 32 leaf hashes; undefined when the node holds no
   * complete tree over exactly those bounds (its ring differs, or it is still building it).
   */
  'ae.hashes': { hashes: (string[] | undefined)[] };
  'ae.leaves': { entries: LeafEntries[] };
  /**
   * Records for the asked keys, from the first, as many as one frame holds (the rest: ask again);
   * `skipped` lists the indexes of keys whose record alone is too large for a frame (undefined in `records`).
   */
  'ae.fetch': { records: (StoredRecord | undefined)[]; skipped?: number[] };
  /** `results`: one entry per item, undefined when stored, else why not (absent from peers that do not say). */
  'ae.store': { stored: number; results?: (KvError | undefined)[] };
  /** The records of the page, in key order; `exhausted` when no key of the range follows the last. */
  'kv.scan': { entries: { key: Buffer; record: StoredRecord }[]; exhausted: boolean };
}

export type PeerReply<Op extends PeerOp> = PeerReplies[Op];

/** The request type of one op. */
export type PeerRequestOf<Op extends PeerOp> = Extract<PeerRequest, { op: Op }>;

/** Records one kv.replicate.many message carries at most. */
export const MAX_REPLICA_ITEMS = 1024;
/** Keys one kv.clocks message asks about at most. */
export const MAX_CLOCK_KEYS = 1024;
/** Keys one ae.fetch or ae.store message carries at most. */
export const MAX_TRANSFER_KEYS = 1024;
/** Ranges one ae.hashes message asks about at most, by level: roots are small, segment and leaf hashes 32 each. */
export const MAX_HASHED_RANGES: Readonly<Record<0 | 1 | 2, number>> = { 0: 1024, 1: 32, 2: 32 };
/** Leaves one ae.leaves message lists at most (one pass over the keys on the answering side). */
export const MAX_LISTED_LEAVES = 1024;
