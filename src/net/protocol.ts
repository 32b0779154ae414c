/**
 * The client wire protocol (DESIGN §2): one JSON object per line, validated here into typed
 * requests before any engine sees it. Field names are checked against a per-op allow-list, so
 * `__proto__`, `constructor` and `prototype` never reach code that could touch a prototype.
 * As *data* (key or value contents) those words are ordinary bytes.
 */
import { isUtf8 } from 'node:buffer';
import { decodeContext, type VersionVector } from '../clock/index.js';
import { type ClusterSettings, type Consistency, type Limits, MAX_REPLICAS } from '../config.js';
import { KvError, type WireError } from '../errors.js';

export type Encoding = 'utf8' | 'base64';
export type RequestId = number | string | null;

export type Request =
  | { id: RequestId; op: 'ping' }
  | { id: RequestId; op: 'stats' }
  | { id: RequestId; op: 'members' }
  | { id: RequestId; op: 'ring'; key: Buffer | undefined; encoding: Encoding }
  | { id: RequestId; op: 'leave' }
  | { id: RequestId; op: 'remove'; node: string; force: boolean }
  | { id: RequestId; op: 'reap' }
  | { id: RequestId; op: 'cluster.set'; settings: Partial<ClusterSettings> }
  | { id: RequestId; op: 'test.fault'; peer: string | undefined; mode: string }
  | { id: RequestId; op: 'repair'; peer: string | undefined; dryRun: boolean; range: [number, number] | undefined }
  | { id: RequestId; op: 'ae.hashes' | 'ae.leaves' | 'ae.fetch' | 'ae.store'; body: Record<string, unknown> }
  | PeerRequest
  | {
      id: RequestId;
      op: 'put';
      key: Buffer;
      value: Buffer;
      context: VersionVector | undefined;
      w: number | undefined;
      consistency: Consistency | undefined;
      encoding: Encoding;
      keepSiblings: boolean;
    }
  | { id: RequestId; op: 'get'; key: Buffer; r: number | undefined; consistency: Consistency | undefined; encoding: Encoding }
  | {
      id: RequestId;
      op: 'delete';
      key: Buffer;
      context: VersionVector | undefined;
      w: number | undefined;
      consistency: Consistency | undefined;
      encoding: Encoding;
    };

/** Node-to-node ops: same framing and port, dotted names. Bodies beyond the key are checked by their engines. */
export type PeerRequest =
  | { id: RequestId; op: 'gossip.push'; body: Record<string, unknown> }
  | { id: RequestId; op: 'kv.read'; key: Buffer; digest: boolean }
  | { id: RequestId; op: 'kv.clocks'; keys: Buffer[] }
  | { id: RequestId; op: 'kv.replicate'; key: Buffer; record: unknown; hintFor: string | undefined }
  | { id: RequestId; op: 'kv.replicate.many'; items: ReplicaItem[] }
  | { id: RequestId; op: 'kv.reap'; key: Buffer; record: unknown }
  | {
      id: RequestId;
      op: 'kv.coordinate';
      key: Buffer;
      value: Buffer | null;
      context: VersionVector | undefined;
      w: number | undefined;
      consistency: Consistency | undefined;
      keepSiblings: boolean;
    };

/** One record for a replica (kv.replicate.many): its key, its wire form, and the down node it stands in for. */
export interface ReplicaItem {
  key: Buffer;
  record: unknown;
  hintFor: string | undefined;
}

/** Records one kv.replicate.many line carries at most. */
export const MAX_REPLICA_ITEMS = 1024;
/** Keys one kv.clocks line asks about at most. */
export const MAX_CLOCK_KEYS = 1024;

export type Op = Request['op'];

export type Reply = { id: RequestId; ok: true; [field: string]: unknown } | { id: RequestId; ok: false; error: WireError };

const COMMON_FIELDS = ['id', 'op'];
/** Per-op allow-list of request field names; read-only, exported so the man page documents exactly what is validated. */
export const allowedFields: Readonly<Record<Op, ReadonlySet<string>>> = {
  ping: new Set(COMMON_FIELDS),
  stats: new Set(COMMON_FIELDS),
  members: new Set(COMMON_FIELDS),
  ring: new Set([...COMMON_FIELDS, 'key', 'encoding']),
  leave: new Set(COMMON_FIELDS),
  remove: new Set([...COMMON_FIELDS, 'node', 'force']),
  reap: new Set(COMMON_FIELDS),
  'cluster.set': new Set([...COMMON_FIELDS, 'n', 'w', 'r', 'consistency']),
  'test.fault': new Set([...COMMON_FIELDS, 'peer', 'mode']),
  repair: new Set([...COMMON_FIELDS, 'peer', 'dryRun', 'range']),
  'ae.hashes': new Set([...COMMON_FIELDS, 'peer', 'level', 'segments']),
  'ae.leaves': new Set([...COMMON_FIELDS, 'peer', 'leaves']),
  'ae.fetch': new Set([...COMMON_FIELDS, 'peer', 'keys']),
  'ae.store': new Set([...COMMON_FIELDS, 'peer', 'items']),
  'gossip.push': new Set([...COMMON_FIELDS, 'cluster', 'members', 'join']),
  'kv.read': new Set([...COMMON_FIELDS, 'key', 'digest']),
  'kv.clocks': new Set([...COMMON_FIELDS, 'keys']),
  'kv.replicate': new Set([...COMMON_FIELDS, 'key', 'record', 'hintFor']),
  'kv.replicate.many': new Set([...COMMON_FIELDS, 'items']),
  'kv.reap': new Set([...COMMON_FIELDS, 'key', 'record']),
  'kv.coordinate': new Set([...COMMON_FIELDS, 'key', 'value', 'delete', 'context', 'w', 'consistency', 'keepSiblings']),
  put: new Set([...COMMON_FIELDS, 'key', 'value', 'context', 'w', 'consistency', 'encoding', 'keepSiblings']),
  get: new Set([...COMMON_FIELDS, 'key', 'r', 'consistency', 'encoding']),
  delete: new Set([...COMMON_FIELDS, 'key', 'context', 'w', 'consistency', 'encoding']),
};
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
/**
 * Strict base64 in linear time without a regex (the regex cost ~8 µs per 1 KiB value in the put
 * profile): Node's decoder skips characters outside the alphabet, so a string is valid exactly
 * when its length is a multiple of 4 and the decoded length is what that length promises.
 */
function decodeStrictBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== (text.length / 4) * 3 - padding) return undefined;
  // '-' and '_' (base64url) decode too; refuse them so one spelling means one value.
  if (text.includes('-') || text.includes('_')) return undefined;
  return bytes;
}

export function isOp(op: unknown): op is Op {
  return typeof op === 'string' && Object.hasOwn(allowedFields, op);
}

/** Parses and validates one request line; throws KvError with `id` in details when known. */
export function parseRequest(line: Buffer, limits: Limits): Request {
  if (!isUtf8(line)) throw new KvError('KV_BAD_ENCODING', 'request line is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw new KvError('KV_BAD_JSON', `request line is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KvError('KV_BAD_JSON', 'request must be a JSON object');
  }
  const fields = parsed as Record<string, unknown>;
  const id = Object.hasOwn(fields, 'id') ? fields.id : null;
  if (id !== null && typeof id !== 'number' && typeof id !== 'string') {
    throw new KvError('KV_BAD_REQUEST', 'id must be a number or a string');
  }
  try {
    return validate(fields, id, limits);
  } catch (err) {
    if (err instanceof KvError) (err as { requestId?: RequestId }).requestId = id;
    throw err;
  }
}

/** The request id a failed parse could still recover, so the error reply can be matched. */
export function requestIdOf(err: unknown): RequestId {
  return (err as { requestId?: RequestId }).requestId ?? null;
}

function validate(fields: Record<string, unknown>, id: RequestId, limits: Limits): Request {
  for (const name of Object.keys(fields)) {
    if (FORBIDDEN_NAMES.has(name)) throw new KvError('KV_BAD_REQUEST', `field name "${name}" is not allowed`, { field: name });
  }
  const op = fields.op;
  if (typeof op !== 'string') throw new KvError('KV_BAD_REQUEST', 'op must be a string');
  if (!isOp(op)) throw new KvError('KV_UNKNOWN_OP', `unknown op "${op.slice(0, 64)}"`, { op: op.slice(0, 64) });
  const allowed = allowedFields[op];
  for (const name of Object.keys(fields)) {
    if (!allowed.has(name)) throw new KvError('KV_BAD_REQUEST', `unknown field "${name.slice(0, 64)}" for op ${op}`, { field: name.slice(0, 64) });
  }
  if (op === 'ping' || op === 'stats' || op === 'members' || op === 'leave' || op === 'reap') return { id, op };
  if (op === 'gossip.push' || op === 'ae.hashes' || op === 'ae.leaves' || op === 'ae.fetch' || op === 'ae.store') return { id, op, body: fields };
  if (op === 'repair') {
    const range = fields.range;
    const validRange =
      range === undefined ||
      (Array.isArray(range) &&
        range.length === 2 &&
        range.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32) &&
        (range[0] as number) <= (range[1] as number));
    if ((fields.peer !== undefined && typeof fields.peer !== 'string') || (fields.dryRun !== undefined && typeof fields.dryRun !== 'boolean') || !validRange) {
      throw new KvError('KV_BAD_REQUEST', 'repair takes peer (a node name), dryRun (boolean) and range ([lo, hi] ring positions)');
    }
    return { id, op, peer: fields.peer as string | undefined, dryRun: fields.dryRun === true, range: range as [number, number] | undefined };
  }
  if (op === 'remove') {
    if (typeof fields.node !== 'string' || fields.node.length === 0 || (fields.force !== undefined && typeof fields.force !== 'boolean')) {
      throw new KvError('KV_BAD_REQUEST', 'remove takes node (a node name) and force (boolean)');
    }
    return { id, op, node: fields.node, force: fields.force === true };
  }
  if (op === 'test.fault') {
    if ((fields.peer !== undefined && typeof fields.peer !== 'string') || typeof fields.mode !== 'string') {
      throw new KvError('KV_BAD_REQUEST', 'test.fault takes a peer (name or host:port; omitted: every peer) and a mode');
    }
    return { id, op, peer: fields.peer as string | undefined, mode: fields.mode };
  }
  if (op === 'ring') {
    const encoding = parseEncoding(fields.encoding);
    return { id, op, key: fields.key === undefined ? undefined : parseBytes(fields.key, 'key', encoding), encoding };
  }
  if (op === 'kv.read' || op === 'kv.replicate' || op === 'kv.coordinate' || op === 'kv.reap') return parsePeer(op, fields, id, limits);
  if (op === 'kv.replicate.many') return { id, op, items: parseReplicaItems(fields.items, limits) };
  if (op === 'kv.clocks') return { id, op, keys: parseClockKeys(fields.keys, limits) };
  if (op === 'cluster.set') return { id, op, settings: parseClusterSettings(fields) };

  const encoding = parseEncoding(fields.encoding);
  const key = parseBytes(fields.key, 'key', encoding);
  if (key.length === 0) throw new KvError('KV_EMPTY_KEY', 'key must not be empty');
  if (key.length > limits.maxKeyBytes) {
    throw new KvError('KV_KEY_TOO_LARGE', `key is ${key.length} bytes; the limit is ${limits.maxKeyBytes}`, { bytes: key.length, limit: limits.maxKeyBytes });
  }
  const consistency = parseConsistency(fields.consistency);
  if (op === 'get') return { id, op, key, r: parseQuorum(fields.r, 'r'), consistency, encoding };

  const context = fields.context === undefined ? undefined : parseContext(fields.context);
  const w = parseQuorum(fields.w, 'w');
  if (op === 'delete') return { id, op, key, context, w, consistency, encoding };

  const value = parseBytes(fields.value, 'value', encoding);
  if (value.length > limits.maxValueBytes) {
    throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${limits.maxValueBytes}`, {
      bytes: value.length,
      limit: limits.maxValueBytes,
    });
  }
  const keepSiblings = parseKeepSiblings(fields.keepSiblings, context);
  return { id, op, key, value, context, w, consistency, encoding, keepSiblings };
}

function parseConsistency(raw: unknown): Consistency | undefined {
  if (raw === undefined || raw === 'strict' || raw === 'sloppy') return raw;
  throw new KvError('KV_BAD_REQUEST', 'consistency must be "strict" or "sloppy"');
}

/** Peer ops carry keys in base64 always (binary-safe without a per-message encoding). */
function parsePeer(op: 'kv.read' | 'kv.replicate' | 'kv.coordinate' | 'kv.reap', fields: Record<string, unknown>, id: RequestId, limits: Limits): PeerRequest {
  const key = parseBytes(fields.key, 'key', 'base64');
  if (key.length === 0 || key.length > limits.maxKeyBytes) throw new KvError('KV_BAD_REQUEST', 'peer key size out of range');
  if (op === 'kv.read') return { id, op, key, digest: fields.digest === true };
  if (op === 'kv.reap') return { id, op, key, record: fields.record };
  if (op === 'kv.replicate') {
    if (fields.hintFor !== undefined && typeof fields.hintFor !== 'string') throw new KvError('KV_BAD_REQUEST', 'hintFor must be a node name');
    return { id, op, key, record: fields.record, hintFor: fields.hintFor as string | undefined };
  }
  const value = fields.delete === true ? null : parseBytes(fields.value, 'value', 'base64');
  if (value && value.length > limits.maxValueBytes)
    throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${limits.maxValueBytes}`);
  const context = fields.context === undefined ? undefined : parseContext(fields.context);
  const keepSiblings = parseKeepSiblings(fields.keepSiblings, context);
  return { id, op, key, value, context, w: parseQuorum(fields.w, 'w'), consistency: parseConsistency(fields.consistency), keepSiblings };
}

/** keepSiblings: a boolean, meaningful only without a context (a context already says exactly what is superseded). */
function parseKeepSiblings(raw: unknown, context: VersionVector | undefined): boolean {
  if (raw === undefined) return false;
  if (typeof raw !== 'boolean') throw new KvError('KV_BAD_REQUEST', 'keepSiblings must be true or false', { field: 'keepSiblings' });
  if (raw && context !== undefined) throw new KvError('KV_BAD_REQUEST', 'keepSiblings applies only to a write without a context', { field: 'keepSiblings' });
  return raw;
}

function parseClockKeys(raw: unknown, limits: Limits): Buffer[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_CLOCK_KEYS) {
    throw new KvError('KV_BAD_REQUEST', `keys must be an array of 1 to ${MAX_CLOCK_KEYS} base64 keys`);
  }
  return raw.map((k: unknown) => {
    const key = parseBytes(k, 'key', 'base64');
    if (key.length === 0 || key.length > limits.maxKeyBytes) throw new KvError('KV_BAD_REQUEST', 'peer key size out of range');
    return key;
  });
}

/** cluster.set: any of n, w, r (whole numbers, 1..MAX_REPLICAS) and consistency; checked against each other by the node. */
function parseClusterSettings(fields: Record<string, unknown>): Partial<ClusterSettings> {
  const out: Partial<ClusterSettings> = {};
  for (const field of ['n', 'w', 'r'] as const) {
    const raw = fields[field];
    if (raw === undefined) continue;
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_REPLICAS) {
      throw new KvError('KV_BAD_REQUEST', `${field} must be a whole number from 1 to ${MAX_REPLICAS}`, { field });
    }
    out[field] = raw;
  }
  if (fields.consistency !== undefined) out.consistency = parseConsistency(fields.consistency);
  if (Object.keys(out).length === 0) throw new KvError('KV_BAD_REQUEST', 'cluster.set needs at least one of n, w, r, consistency');
  return out;
}

const REPLICA_ITEM_FIELDS = new Set(['key', 'record', 'hintFor']);

function parseReplicaItems(raw: unknown, limits: Limits): ReplicaItem[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_REPLICA_ITEMS) {
    throw new KvError('KV_BAD_REQUEST', `items must be an array of 1 to ${MAX_REPLICA_ITEMS} records`);
  }
  return raw.map((item: unknown) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new KvError('KV_BAD_REQUEST', 'each item must be an object');
    const fields = item as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!REPLICA_ITEM_FIELDS.has(name)) throw new KvError('KV_BAD_REQUEST', `unknown item field "${name.slice(0, 64)}"`, { field: name.slice(0, 64) });
    }
    const key = parseBytes(fields.key, 'key', 'base64');
    if (key.length === 0 || key.length > limits.maxKeyBytes) throw new KvError('KV_BAD_REQUEST', 'peer key size out of range');
    if (fields.hintFor !== undefined && typeof fields.hintFor !== 'string') throw new KvError('KV_BAD_REQUEST', 'hintFor must be a node name');
    return { key, record: fields.record, hintFor: fields.hintFor as string | undefined };
  });
}

function parseEncoding(raw: unknown): Encoding {
  if (raw === undefined || raw === 'utf8') return 'utf8';
  if (raw === 'base64') return 'base64';
  throw new KvError('KV_BAD_REQUEST', 'encoding must be "utf8" or "base64"');
}

function parseBytes(raw: unknown, field: string, encoding: Encoding): Buffer {
  if (typeof raw !== 'string') throw new KvError('KV_BAD_REQUEST', `${field} must be a string`, { field });
  if (encoding === 'base64') {
    const bytes = decodeStrictBase64(raw);
    if (!bytes) throw new KvError('KV_BAD_ENCODING', `${field} is not valid base64`, { field });
    return bytes;
  }
  // JSON escapes can smuggle lone surrogates past the UTF-8 check of the line.
  if (!raw.isWellFormed()) throw new KvError('KV_BAD_ENCODING', `${field} holds a lone UTF-16 surrogate; send bytes as base64`, { field });
  return Buffer.from(raw, 'utf8');
}

function parseContext(raw: unknown): VersionVector {
  if (typeof raw !== 'string') throw new KvError('KV_BAD_REQUEST', 'context must be a string');
  return decodeContext(raw);
}

function parseQuorum(raw: unknown, field: string): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1) {
    throw new KvError('KV_BAD_REQUEST', `${field} must be a whole number of at least 1`, { field });
  }
  return raw;
}

/** Bytes as a wire string in the given encoding. */
export function encodeBytes(bytes: Buffer, encoding: Encoding): string {
  return bytes.toString(encoding);
}

/** The encoding a reply must use for `values`: utf8 only when every value is valid UTF-8. */
export function replyEncoding(values: readonly Buffer[], requested: Encoding): Encoding {
  if (requested === 'base64') return 'base64';
  return values.every((v) => isUtf8(v)) ? 'utf8' : 'base64';
}
