/**
 * The peer protocol (protocol/peer.ts) as JSON lines: how each message and each reply is written,
 * and the validator of each direction. A node checks what a peer asks exactly as strictly as a
 * client request (field allow-lists, types, sizes), and what a peer answers before an engine sees
 * it: a buggy or half-upgraded peer gets a clear error, not a cast.
 *
 * Keys and values travel in base64. Requests are written as JSON text directly (see
 * recordJsonText); replies as objects the server stringifies.
 */
import { encodeContext } from '../clock/index.js';
import { type ClusterSettings, type Limits, MAX_REPLICAS } from '../config.js';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { parseMembers } from '../membership/member-wire.js';
import {
  type GossipCluster,
  type LeafEntries,
  MAX_CLOCK_KEYS,
  MAX_REPLICA_ITEMS,
  MAX_TRANSFER_KEYS,
  type PeerOp,
  type PeerReplies,
  type PeerReply,
  type PeerRequest,
  type ReplicaItem,
} from '../protocol/peer.js';
import type { QuorumSummary } from '../quorum/quorum.js';
import {
  asObject,
  checkFieldNames,
  parseArray,
  parseBytes,
  parseConsistency,
  parseContext,
  parseKeepSiblings,
  parseNodeName,
  parsePeerKey,
  parseQuorum,
} from './fields.js';
import { type RecordBounds, recordFromJson, recordJsonText, recordToJson } from './record-json.js';

/** Segments and leaves of a Merkle tree (antientropy/merkle-tree.ts): 32 segments of 32 leaves. */
const TREE_SEGMENTS = 32;
const TREE_LEAVES = 1024;

const COMMON = ['id', 'op'];
/** Request fields each peer op may carry; read-only, exported so the man page documents exactly what is validated. */
export const peerFields: Readonly<Record<PeerOp, ReadonlySet<string>>> = {
  'gossip.push': new Set([...COMMON, 'cluster', 'members', 'join']),
  'kv.read': new Set([...COMMON, 'key', 'digest']),
  'kv.clocks': new Set([...COMMON, 'keys']),
  'kv.replicate': new Set([...COMMON, 'key', 'record', 'hintFor']),
  'kv.replicate.many': new Set([...COMMON, 'items']),
  'kv.reap': new Set([...COMMON, 'key', 'record']),
  'kv.coordinate': new Set([...COMMON, 'key', 'value', 'delete', 'context', 'w', 'consistency', 'keepSiblings']),
  'ae.hashes': new Set([...COMMON, 'peer', 'level', 'segments']),
  'ae.leaves': new Set([...COMMON, 'peer', 'leaves']),
  'ae.fetch': new Set([...COMMON, 'peer', 'keys']),
  'ae.store': new Set([...COMMON, 'peer', 'items']),
};
const REPLICA_ITEM_FIELDS: ReadonlySet<string> = new Set(['key', 'record', 'hintFor']);
const STORE_ITEM_FIELDS: ReadonlySet<string> = new Set(['key', 'record']);
const CLUSTER_FIELDS: ReadonlySet<string> = new Set(['id', 'n', 'w', 'r', 'consistency', 'version']);

export function isPeerOpName(op: string): op is PeerOp {
  return Object.hasOwn(peerFields, op);
}

// ---- requests: writing ----

const b64 = (bytes: Buffer) => `"${bytes.toString('base64')}"`;

/** The JSON text of a request's fields, without braces or id (`"op":"kv.read","key":"…"`). */
export function encodePeerRequest(request: PeerRequest): string {
  const op = `"op":"${request.op}"`;
  switch (request.op) {
    case 'gossip.push':
      return `${op},"cluster":${JSON.stringify(clusterToJson(request.cluster))},"members":${JSON.stringify(request.members)}${request.cluster.kind === 'joiner' ? ',"join":true' : ''}`;
    case 'kv.read':
      return `${op},"key":${b64(request.key)}${request.digest ? ',"digest":true' : ''}`;
    case 'kv.clocks':
      return `${op},"keys":[${request.keys.map(b64).join(',')}]`;
    case 'kv.replicate':
      return `${op},${replicaItemText(request)}`;
    case 'kv.replicate.many':
      return `${op},"items":[${request.items.map((item) => `{${replicaItemText(item)}}`).join(',')}]`;
    case 'kv.reap':
      return `${op},"key":${b64(request.key)},"record":${recordJsonText(request.record)}`;
    case 'kv.coordinate': {
      let text = `${op},"key":${b64(request.key)},${request.value === null ? '"delete":true' : `"value":${b64(request.value)}`}`;
      if (request.context) text += `,"context":"${encodeContext(request.key, request.context)}"`;
      if (request.w !== undefined) text += `,"w":${request.w}`;
      if (request.consistency) text += `,"consistency":"${request.consistency}"`;
      if (request.keepSiblings) text += ',"keepSiblings":true';
      return text;
    }
    case 'ae.hashes':
      return `${op},"peer":${JSON.stringify(request.peer)},"level":${request.level}${request.level === 2 ? `,"segments":${JSON.stringify(request.segments)}` : ''}`;
    case 'ae.leaves':
      return `${op},"peer":${JSON.stringify(request.peer)},"leaves":${JSON.stringify(request.leaves)}`;
    case 'ae.fetch':
      return `${op},"peer":${JSON.stringify(request.peer)},"keys":[${request.keys.map(b64).join(',')}]`;
    case 'ae.store':
      return `${op},"peer":${JSON.stringify(request.peer)},"items":[${request.items.map((item) => `{"key":${b64(item.key)},"record":${recordJsonText(item.record)}}`).join(',')}]`;
  }
}

function replicaItemText(item: ReplicaItem): string {
  const text = `"key":${b64(item.key)},"record":${recordJsonText(item.record)}`;
  return item.hintFor === undefined ? text : `${text},"hintFor":${JSON.stringify(item.hintFor)}`;
}

function clusterToJson(cluster: GossipCluster): Record<string, unknown> {
  if (cluster.kind === 'joiner') return { ...cluster.explicit };
  return clusterIdentityToJson(cluster.cluster);
}

function clusterIdentityToJson(cluster: ClusterIdentity): Record<string, unknown> {
  return { id: cluster.id, ...cluster.settings, version: cluster.settingsVersion ?? 0 };
}

// ---- requests: validating ----

/** Validates the fields of a peer request line (field names already allowed by `peerFields`). */
export function decodePeerRequest(op: PeerOp, fields: Record<string, unknown>, limits: Limits): PeerRequest {
  const key = () => parsePeerKey(fields.key, limits.maxKeyBytes);
  switch (op) {
    case 'gossip.push': {
      if (fields.join !== undefined && fields.join !== true) throw new KvError('KV_BAD_REQUEST', 'join must be true or absent');
      const members = parseMembers(fields.members);
      if (fields.join === true) return { op, cluster: { kind: 'joiner', explicit: parseExplicitSettings(fields.cluster) }, members };
      const cluster = parseGossipedCluster(fields.cluster);
      if (!cluster) throw new KvError('KV_BAD_REQUEST', 'gossip must name a valid cluster (id, n, w, r, consistency, version)');
      return { op, cluster: { kind: 'member', cluster }, members };
    }
    case 'kv.read':
      if (fields.digest !== undefined && typeof fields.digest !== 'boolean') throw new KvError('KV_BAD_REQUEST', 'digest must be true or false');
      return { op, key: key(), digest: fields.digest === true };
    case 'kv.clocks':
      return { op, keys: parseArray(fields.keys, 'keys', MAX_CLOCK_KEYS, (k) => parsePeerKey(k, limits.maxKeyBytes)) };
    case 'kv.replicate':
      return { op, ...parseReplicaItem(fields, limits) };
    case 'kv.replicate.many':
      return {
        op,
        items: parseArray(fields.items, 'items', MAX_REPLICA_ITEMS, (raw) => {
          const item = asObject(raw, 'each item');
          checkFieldNames(item, REPLICA_ITEM_FIELDS, 'a replica item');
          return parseReplicaItem(item, limits);
        }),
      };
    case 'kv.reap':
      return { op, key: key(), record: recordFromJson(fields.record, limits) };
    case 'kv.coordinate': {
      if (fields.delete !== undefined && fields.delete !== true) throw new KvError('KV_BAD_REQUEST', 'delete must be true or absent');
      const value = fields.delete === true ? null : parseBytes(fields.value, 'value', 'base64');
      if (value && value.length > limits.maxValueBytes) {
        throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${limits.maxValueBytes}`, {
          bytes: value.length,
          limit: limits.maxValueBytes,
        });
      }
      const coordinated = key();
      const context = fields.context === undefined ? undefined : parseContext(fields.context, coordinated);
      return {
        op,
        key: coordinated,
        value,
        context,
        w: parseQuorum(fields.w, 'w'),
        consistency: parseConsistency(fields.consistency),
        keepSiblings: parseKeepSiblings(fields.keepSiblings, context),
      };
    }
    case 'ae.hashes': {
      const peer = parseNodeName(fields.peer, 'peer');
      const level = fields.level;
      if (level === 0 || level === 1) {
        if (fields.segments !== undefined) throw new KvError('KV_BAD_REQUEST', 'segments go only with level 2');
        return { op, peer, level };
      }
      if (level !== 2) throw new KvError('KV_BAD_REQUEST', 'level must be 0, 1 or 2');
      return { op, peer, level, segments: parseArray(fields.segments, 'segments', TREE_SEGMENTS, (x) => parseIndex(x, TREE_SEGMENTS, 'segments')) };
    }
    case 'ae.leaves':
      return {
        op,
        peer: parseNodeName(fields.peer, 'peer'),
        leaves: parseArray(fields.leaves, 'leaves', TREE_LEAVES, (x) => parseIndex(x, TREE_LEAVES, 'leaves')),
      };
    case 'ae.fetch':
      return {
        op,
        peer: parseNodeName(fields.peer, 'peer'),
        keys: parseArray(fields.keys, 'keys', MAX_TRANSFER_KEYS, (k) => parsePeerKey(k, limits.maxKeyBytes)),
      };
    case 'ae.store':
      return {
        op,
        peer: parseNodeName(fields.peer, 'peer'),
        items: parseArray(fields.items, 'items', MAX_TRANSFER_KEYS, (raw) => {
          const item = asObject(raw, 'each item');
          checkFieldNames(item, STORE_ITEM_FIELDS, 'a stored item');
          return { key: parsePeerKey(item.key, limits.maxKeyBytes), record: recordFromJson(item.record, limits) };
        }),
      };
  }
}

function parseReplicaItem(fields: Record<string, unknown>, limits: Limits): ReplicaItem {
  const item: ReplicaItem = { key: parsePeerKey(fields.key, limits.maxKeyBytes), record: recordFromJson(fields.record, limits) };
  if (fields.hintFor !== undefined) item.hintFor = parseNodeName(fields.hintFor, 'hintFor');
  return item;
}

function parseIndex(raw: unknown, bound: number, field: string): number {
  if (!Number.isInteger(raw) || (raw as number) < 0 || (raw as number) >= bound)
    throw new KvError('KV_BAD_REQUEST', `${field} must be indices below ${bound}`, { field });
  return raw as number;
}

/** Longest cluster id accepted from a peer (ours are 16 hex digits). */
const MAX_CLUSTER_ID_CHARS = 64;

/** A cluster as gossip carries it (id, settings, version), validated: peers are input too. Undefined when malformed. */
export function parseGossipedCluster(raw: unknown): ClusterIdentity | undefined {
  if (!isJsonObject(raw)) return undefined;
  const c = raw;
  if (Object.keys(c).some((name) => !CLUSTER_FIELDS.has(name))) return undefined;
  const version = c.version ?? 0;
  const counts = [c.n, c.w, c.r];
  const ok =
    typeof c.id === 'string' &&
    c.id.length > 0 &&
    c.id.length <= MAX_CLUSTER_ID_CHARS &&
    Number.isSafeInteger(version) &&
    (version as number) >= 0 &&
    counts.every((x) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= MAX_REPLICAS) &&
    (c.w as number) <= (c.n as number) &&
    (c.r as number) <= (c.n as number) &&
    (c.consistency === 'strict' || c.consistency === 'sloppy');
  if (!ok) return undefined;
  return {
    id: c.id as string,
    settings: { n: c.n as number, w: c.w as number, r: c.r as number, consistency: c.consistency as ClusterSettings['consistency'] },
    settingsVersion: version as number,
  };
}

/** The settings a joiner's operator gave explicitly: any of n, w, r, consistency, each valid. */
function parseExplicitSettings(raw: unknown): Partial<ClusterSettings> {
  if (raw === undefined) return {};
  const fields = asObject(raw, 'cluster');
  checkFieldNames(fields, new Set(['n', 'w', 'r', 'consistency']), "a joiner's cluster");
  const out: Partial<ClusterSettings> = {};
  for (const name of ['n', 'w', 'r'] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_REPLICAS) {
      throw new KvError('KV_BAD_REQUEST', `${name} must be a whole number from 1 to ${MAX_REPLICAS}`, { field: name });
    }
    out[name] = value as number;
  }
  const consistency = parseConsistency(fields.consistency);
  if (consistency) out.consistency = consistency;
  return out;
}

// ---- replies: writing ----

/** A reply's fields as a JSON-ready object (the server adds id and ok). */
export function encodePeerReply<Op extends PeerOp>(request: Extract<PeerRequest, { op: Op }>, reply: PeerReply<Op>): Record<string, unknown> {
  const r = reply as PeerReplies[PeerOp];
  const asked = request as PeerRequest;
  switch (asked.op) {
    case 'gossip.push': {
      const g = r as PeerReplies['gossip.push'];
      return { cluster: g.cluster ? clusterIdentityToJson(g.cluster) : undefined, members: g.members };
    }
    case 'kv.read': {
      const k = r as PeerReplies['kv.read'];
      if (asked.digest) return { digest: k.digest ?? null };
      return { record: k.record ? recordToJson(k.record) : null };
    }
    case 'kv.clocks':
      // Each clock travels as a context token bound to its key, as a client's does.
      return { clocks: (r as PeerReplies['kv.clocks']).clocks.map((c, i) => (c ? encodeContext(asked.keys[i] as Buffer, c) : null)) };
    case 'kv.replicate':
      return {};
    case 'kv.replicate.many':
      return { results: (r as PeerReplies['kv.replicate.many']).results.map((e) => (e ? e.toWire() : null)) };
    case 'kv.reap':
      return { dropped: (r as PeerReplies['kv.reap']).dropped };
    case 'kv.coordinate': {
      const c = r as PeerReplies['kv.coordinate'];
      return { record: recordToJson(c.record), existed: c.existed, quorum: c.quorum, hinted: c.hinted, hintsDropped: c.hintsDropped };
    }
    case 'ae.hashes': {
      const h = r as PeerReplies['ae.hashes'];
      if (h.root !== undefined) return { root: h.root };
      return { hashes: h.segments ?? h.leaves ?? [] };
    }
    case 'ae.leaves':
      return { entries: (r as PeerReplies['ae.leaves']).entries };
    case 'ae.fetch': {
      const f = r as PeerReplies['ae.fetch'];
      const records = f.records.map((rec) => (rec ? recordToJson(rec) : null));
      return f.skipped && f.skipped.length > 0 ? { records, skipped: f.skipped } : { records };
    }
    case 'ae.store': {
      const s = r as PeerReplies['ae.store'];
      return s.results ? { stored: s.stored, results: s.results.map((e) => (e ? e.toWire() : null)) } : { stored: s.stored };
    }
  }
}

// ---- replies: validating ----

const badReply = (op: string, why: string) => new KvError('KV_BAD_REQUEST', `malformed ${op} reply from a peer: ${why}`, { op });

/**
 * Validates a peer's reply to `request` (fields beyond those the op's reply has are ignored: a
 * newer peer may say more). Throws KV_BAD_REQUEST naming the op when the reply is malformed.
 */
export function decodePeerReply<Op extends PeerOp>(
  request: Extract<PeerRequest, { op: Op }>,
  raw: Record<string, unknown>,
  bounds: RecordBounds,
): PeerReply<Op> {
  return decodeReply(request as PeerRequest, raw, bounds) as PeerReply<Op>;
}

function decodeReply(request: PeerRequest, raw: Record<string, unknown>, bounds: RecordBounds): PeerReplies[PeerOp] {
  const op = request.op;
  const bad = (why: string) => badReply(op, why);
  switch (request.op) {
    case 'gossip.push':
      return { cluster: raw.cluster === undefined ? undefined : parseGossipedCluster(raw.cluster), members: parseMembers(raw.members) };
    case 'kv.read':
      if (request.digest) {
        if (raw.digest !== null && (typeof raw.digest !== 'string' || raw.digest.length > 128)) throw bad('digest');
        return { record: undefined, digest: raw.digest ?? undefined };
      }
      return { record: raw.record === null || raw.record === undefined ? undefined : recordFromJson(raw.record, bounds), digest: undefined };
    case 'kv.clocks':
      return {
        clocks: exactArray(raw.clocks, request.keys.length, bad, 'clocks').map((c, i) => (c === null ? undefined : parseContext(c, request.keys[i] as Buffer))),
      };
    case 'kv.replicate':
      return {};
    case 'kv.replicate.many':
      return { results: exactArray(raw.results, request.items.length, bad, 'results').map((e) => (e === null ? undefined : wireErrorOf(e, bad))) };
    case 'kv.reap':
      if (typeof raw.dropped !== 'boolean') throw bad('dropped');
      return { dropped: raw.dropped };
    case 'kv.coordinate':
      if (typeof raw.existed !== 'boolean') throw bad('existed');
      return {
        record: recordFromJson(raw.record, bounds),
        existed: raw.existed,
        quorum: quorumOf(raw.quorum, bad),
        hinted: stringArray(raw.hinted ?? [], bad, 'hinted'),
        hintsDropped: stringArray(raw.hintsDropped ?? [], bad, 'hintsDropped'),
      };
    case 'ae.hashes':
      if (request.level === 0) {
        if (typeof raw.root !== 'string') throw bad('root');
        return { root: raw.root };
      }
      if (request.level === 1) return { segments: stringArray(exactArray(raw.hashes, TREE_SEGMENTS, bad, 'hashes'), bad, 'hashes') };
      return {
        leaves: exactArray(raw.hashes, request.segments.length, bad, 'hashes').map((h) =>
          stringArray(exactArray(h, TREE_SEGMENTS, bad, 'hashes'), bad, 'hashes'),
        ),
      };
    case 'ae.leaves':
      return { entries: exactArray(raw.entries, request.leaves.length, bad, 'entries').map((leaf) => leafEntriesOf(leaf, bad)) };
    case 'ae.fetch': {
      // A prefix of the keys, at least one of them: the rest did not fit the reply's line.
      const records = raw.records;
      if (!Array.isArray(records) || records.length > request.keys.length || (records.length === 0 && request.keys.length > 0)) {
        throw bad(`records must be an array of 1 to ${request.keys.length}`);
      }
      const skipped = raw.skipped === undefined ? [] : raw.skipped;
      if (!Array.isArray(skipped) || !skipped.every((i) => Number.isSafeInteger(i) && i >= 0 && i < records.length && records[i] === null)) {
        throw bad('skipped must list indexes of null records');
      }
      const decoded = records.map((r) => (r === null ? undefined : recordFromJson(r, bounds)));
      return skipped.length > 0 ? { records: decoded, skipped: skipped as number[] } : { records: decoded };
    }
    case 'ae.store':
      if (!Number.isSafeInteger(raw.stored)) throw bad('stored');
      if (raw.results === undefined) return { stored: raw.stored as number };
      return {
        stored: raw.stored as number,
        results: exactArray(raw.results, request.items.length, bad, 'results').map((e) => (e === null ? undefined : wireErrorOf(e, bad))),
      };
  }
}

function exactArray(raw: unknown, length: number, bad: (why: string) => KvError, field: string): unknown[] {
  if (!Array.isArray(raw) || raw.length !== length) throw bad(`${field} must be an array of ${length}`);
  return raw;
}

function stringArray(raw: unknown, bad: (why: string) => KvError, field: string): string[] {
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'string')) throw bad(`${field} must be strings`);
  return raw as string[];
}

function leafEntriesOf(raw: unknown, bad: (why: string) => KvError): LeafEntries {
  if (!Array.isArray(raw) || !raw.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string'))
    throw bad('entries');
  return raw as LeafEntries;
}

function wireErrorOf(raw: unknown, bad: (why: string) => KvError): KvError {
  if (!isJsonObject(raw) || typeof raw.code !== 'string') throw bad('result');
  return KvError.fromWire(raw);
}

function quorumOf(raw: unknown, bad: (why: string) => KvError): QuorumSummary {
  if (!isJsonObject(raw)) throw bad('quorum');
  const q = raw;
  const counts = [q.needed, q.replied, q.failed, q.replicas];
  if (!counts.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) throw bad('quorum counts');
  return {
    needed: q.needed as number,
    replied: q.replied as number,
    failed: q.failed as number,
    replicas: q.replicas as number,
    answered: stringArray(q.answered, bad, 'answered'),
  };
}
