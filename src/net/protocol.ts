/**
 * The request line protocol (DESIGN §2): one JSON object per line, validated here into a typed
 * request (protocol/client.ts) before any engine sees it. Field names are checked against a
 * per-op allow-list (net/fields.ts). Peer ops travel in binary frames after the peer handshake
 * (net/peer-frames.ts validates them, as strictly); as a line, one is refused.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_UNHELD_COUNTER } from '../clock/index.js';
import { type ClusterSettings, type Limits, MAX_REPLICAS } from '../config.js';
import { KvError } from '../errors.js';
import { isJsonObject, type RepeatedField, repeatedFieldName } from '../json.js';
import type { ClientRequest, ConnectionRequest, Op, Request, RequestId } from '../protocol/client.js';
import { parseExportLine } from '../protocol/export-format.js';
import { DEFAULT_SCAN_PAGE_KEYS, decodeCursor, MAX_SCAN_PAGE_KEYS, scanRange } from '../protocol/scan.js';
import { checkFieldNames, parseBytes, parseConsistency, parseContext, parseEncoding, parseKeepSiblings, parseQuorum, parseTtl } from './fields.js';
import { isPeerOpName, peerFrameFields } from './peer-frames.js';

export type { Encoding, Reply, RequestId } from '../protocol/client.js';

type ClientOp = ClientRequest['op'];
type ConnectionOp = ConnectionRequest['op'];

/** The version of the peer protocol this node speaks (the handshake carries it). */
export const PEER_PROTOCOL_VERSION = 5;
/** Bytes of a handshake nonce, and of an HMAC-SHA256 proof. */
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Longest node name, cluster id and token a handshake may carry. */
const MAX_NAME_CHARS = 512;
const MAX_TOKEN_CHARS = 1024;

const COMMON_FIELDS = ['id', 'op'];
const clientFields: Readonly<Record<ClientOp, ReadonlySet<string>>> = {
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
  put: new Set([...COMMON_FIELDS, 'key', 'value', 'context', 'w', 'consistency', 'encoding', 'keepSiblings', 'ttlMs']),
  get: new Set([...COMMON_FIELDS, 'key', 'r', 'consistency', 'encoding']),
  import: new Set([...COMMON_FIELDS, 'record', 'w', 'consistency']),
  scan: new Set([...COMMON_FIELDS, 'prefix', 'start', 'end', 'cursor', 'limit', 'values', 'versions', 'pageKeys', 'r', 'consistency', 'encoding']),
  delete: new Set([...COMMON_FIELDS, 'key', 'context', 'w', 'consistency', 'encoding']),
};
const connectionFields: Readonly<Record<ConnectionOp, ReadonlySet<string>>> = {
  auth: new Set([...COMMON_FIELDS, 'token']),
  'peer.hello': new Set([...COMMON_FIELDS, 'version', 'node', 'cluster', 'nonce']),
  'peer.proof': new Set([...COMMON_FIELDS, 'proofs', 'frames']),
};
/**
 * Per-op allow-list of request field names; read-only, exported so the man page documents exactly what is validated.
 * Peer ops travel in binary frames (net/peer-frames.ts); theirs name what each frame carries.
 */
export const allowedFields: Readonly<Record<Op, ReadonlySet<string>>> = { ...clientFields, ...peerFrameFields, ...connectionFields };

export function isOp(op: unknown): op is Op {
  return typeof op === 'string' && Object.hasOwn(allowedFields, op);
}

/**
 * Parses and validates one request line; throws KvError with `id` in details when known. `admit`
 * sees the op before its fields are validated and may refuse it (a connection that may not run the
 * op is told so without the node validating, say, a peer record for it).
 */
export function parseRequest(line: Buffer, limits: Limits, admit?: (op: Op) => void): { id: RequestId; request: Request } {
  if (!isUtf8(line)) throw new KvError('KV_BAD_ENCODING', 'request line is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw new KvError('KV_BAD_JSON', `request line is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw new KvError('KV_BAD_JSON', 'request must be a JSON object');
  const fields = parsed;
  const repeated = repeatedFieldName(line);
  // An id given twice names no request: the refusal then goes without one.
  const id = Object.hasOwn(fields, 'id') && !(repeated?.name === 'id' && repeated.depth === 0) ? fields.id : null;
  if (id !== null && typeof id !== 'number' && typeof id !== 'string') {
    throw new KvError('KV_BAD_REQUEST', 'id must be a number or a string');
  }
  try {
    if (repeated) throw repeatedFieldError(repeated);
    return { id, request: validate(fields, limits, admit) };
  } catch (err) {
    if (err instanceof KvError) (err as { requestId?: RequestId }).requestId = id;
    throw err;
  }
}

/**
 * JSON.parse keeps the last of a repeated name, a filter or proxy in front of us may read the
 * first: a request that names a field twice, in any object, is refused rather than read one way.
 */
function repeatedFieldError({ name, depth }: RepeatedField): KvError {
  const field = name.slice(0, 64);
  const where = depth === 0 ? '' : ' in a nested object';
  return new KvError('KV_BAD_REQUEST', `request gives field "${field}" twice${where}; each field may appear once`, { field });
}

/** The request id a failed parse could still recover, so the error reply can be matched. */
export function requestIdOf(err: unknown): RequestId {
  return (err as { requestId?: RequestId }).requestId ?? null;
}

function validate(fields: Record<string, unknown>, limits: Limits, admit: ((op: Op) => void) | undefined): Request {
  const op = fields.op;
  if (typeof op !== 'string' || !isOp(op)) {
    checkFieldNames(fields, undefined, 'a request');
    if (typeof op !== 'string') throw new KvError('KV_BAD_REQUEST', 'op must be a string');
    throw new KvError('KV_UNKNOWN_OP', `unknown op "${op.slice(0, 64)}"`, { op: op.slice(0, 64) });
  }
  admit?.(op);
  // One pass: forbidden names and the op's allow-list (this runs on every request).
  if (isPeerOpName(op)) {
    throw new KvError(
      'KV_BAD_REQUEST',
      `op ${op} travels between nodes in binary frames once the peer handshake succeeded (peer protocol version ${PEER_PROTOCOL_VERSION}), not as a JSON line`,
      { op },
    );
  }
  checkFieldNames(fields, allowedFields[op], op, true);
  if (Object.hasOwn(connectionFields, op)) return validateConnection(op as ConnectionOp, fields);
  return validateClient(op as ClientOp, fields, limits);
}

function validateConnection(op: ConnectionOp, fields: Record<string, unknown>): ConnectionRequest {
  if (op === 'auth') {
    if (typeof fields.token !== 'string' || fields.token.length === 0 || fields.token.length > MAX_TOKEN_CHARS) {
      throw new KvError('KV_BAD_REQUEST', `auth takes token (a string of 1 to ${MAX_TOKEN_CHARS} characters)`);
    }
    return { op, token: fields.token };
  }
  if (op === 'peer.hello') {
    const name = (field: string) => {
      const raw = fields[field];
      if (typeof raw !== 'string' || raw.length > MAX_NAME_CHARS)
        throw new KvError('KV_BAD_REQUEST', `peer.hello: ${field} must be a string of at most ${MAX_NAME_CHARS} characters`, { field });
      return raw;
    };
    if (fields.version !== PEER_PROTOCOL_VERSION) {
      throw new KvError(
        'KV_BAD_REQUEST',
        `peer.hello: this node speaks peer protocol version ${PEER_PROTOCOL_VERSION}, not ${JSON.stringify(fields.version)?.slice(0, 32)}`,
        { version: PEER_PROTOCOL_VERSION, theirs: typeof fields.version === 'number' ? fields.version : null },
      );
    }
    const node = name('node');
    if (node.length === 0) throw new KvError('KV_BAD_REQUEST', 'peer.hello: node must not be empty');
    return { op, version: PEER_PROTOCOL_VERSION, node, cluster: name('cluster'), nonce: fixedBytes(fields.nonce, 'nonce', NONCE_BYTES) };
  }
  if (fields.frames !== undefined && typeof fields.frames !== 'boolean')
    throw new KvError('KV_BAD_REQUEST', 'peer.proof: frames must be true or false', { field: 'frames' });
  const proofs = fields.proofs;
  if (!Array.isArray(proofs) || proofs.length < 1 || proofs.length > 2) {
    throw new KvError('KV_BAD_REQUEST', 'peer.proof takes proofs: one or two base64 HMACs (current and previous secret)');
  }
  return { op, proofs: proofs.map((p) => fixedBytes(p, 'proofs', PROOF_BYTES)) };
}

/** A base64 field of exactly `length` bytes. */
function fixedBytes(raw: unknown, field: string, length: number): Buffer {
  const bytes = parseBytes(raw, field, 'base64');
  if (bytes.length !== length) throw new KvError('KV_BAD_REQUEST', `${field} must be ${length} bytes of base64`, { field });
  return bytes;
}

function validateClient(op: ClientOp, fields: Record<string, unknown>, limits: Limits): ClientRequest {
  if (op === 'ping' || op === 'stats' || op === 'members' || op === 'leave' || op === 'reap') return { op };
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
    return { op, peer: fields.peer as string | undefined, dryRun: fields.dryRun === true, range: range as [number, number] | undefined };
  }
  if (op === 'remove') {
    if (typeof fields.node !== 'string' || fields.node.length === 0 || (fields.force !== undefined && typeof fields.force !== 'boolean')) {
      throw new KvError('KV_BAD_REQUEST', 'remove takes node (a node name) and force (boolean)');
    }
    return { op, node: fields.node, force: fields.force === true };
  }
  if (op === 'test.fault') {
    if ((fields.peer !== undefined && typeof fields.peer !== 'string') || typeof fields.mode !== 'string') {
      throw new KvError('KV_BAD_REQUEST', 'test.fault takes a peer (name or host:port; omitted: every peer) and a mode');
    }
    return { op, peer: fields.peer as string | undefined, mode: fields.mode };
  }
  if (op === 'ring') {
    const encoding = parseEncoding(fields.encoding);
    return { op, key: fields.key === undefined ? undefined : parseBytes(fields.key, 'key', encoding) };
  }
  if (op === 'cluster.set') return { op, settings: parseClusterSettings(fields) };
  if (op === 'scan') return parseScan(fields, limits);
  if (op === 'import') return parseImport(fields, limits);

  const encoding = parseEncoding(fields.encoding);
  const key = parseBytes(fields.key, 'key', encoding);
  if (key.length === 0) throw new KvError('KV_EMPTY_KEY', 'key must not be empty');
  if (key.length > limits.maxKeyBytes) {
    throw new KvError('KV_KEY_TOO_LARGE', `key is ${key.length} bytes; the limit is ${limits.maxKeyBytes}`, { bytes: key.length, limit: limits.maxKeyBytes });
  }
  const consistency = parseConsistency(fields.consistency);
  if (op === 'get') return { op, key, r: parseQuorum(fields.r, 'r'), consistency, encoding };

  const context = fields.context === undefined ? undefined : parseContext(fields.context, key);
  const w = parseQuorum(fields.w, 'w');
  if (op === 'delete') return { op, key, context, w, consistency, encoding };

  const value = parseBytes(fields.value, 'value', encoding);
  if (value.length > limits.maxValueBytes) {
    throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${limits.maxValueBytes}`, {
      bytes: value.length,
      limit: limits.maxValueBytes,
    });
  }
  const keepSiblings = parseKeepSiblings(fields.keepSiblings, context);
  const ttlMs = parseTtl(fields.ttlMs);
  return { op, key, value, context, w, consistency, encoding, keepSiblings, ...(ttlMs === undefined ? {} : { ttlMs }) };
}

/**
 * scan: a range ([start, end), narrowed to a prefix; each in the request's encoding), a cursor to
 * resume after, a limit on keys, whether values come too, keys per reply line, and R and mode as
 * a get takes them. A bad range is KV_BAD_RANGE, a bad cursor KV_BAD_CURSOR.
 */
function parseScan(fields: Record<string, unknown>, limits: Limits): ClientRequest {
  const encoding = parseEncoding(fields.encoding);
  const bound = (field: 'prefix' | 'start' | 'end'): Buffer | undefined => {
    if (fields[field] === undefined) return undefined;
    const bytes = parseBytes(fields[field], field, encoding);
    if (bytes.length > limits.maxKeyBytes) {
      throw new KvError('KV_KEY_TOO_LARGE', `${field} is ${bytes.length} bytes; the limit is ${limits.maxKeyBytes}`, {
        field,
        bytes: bytes.length,
        limit: limits.maxKeyBytes,
      });
    }
    return bytes;
  };
  const range = scanRange(bound('prefix'), bound('start'), bound('end'));
  const after = fields.cursor === undefined ? undefined : decodeCursor(fields.cursor, limits.maxKeyBytes);
  const count = (field: string, max: number): number | undefined => {
    const raw = fields[field];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1 || raw > max) {
      throw new KvError('KV_BAD_REQUEST', `${field} must be a whole number from 1 to ${max}`, { field, limit: max });
    }
    return raw;
  };
  for (const field of ['values', 'versions'] as const) {
    if (fields[field] !== undefined && typeof fields[field] !== 'boolean') throw new KvError('KV_BAD_REQUEST', `${field} must be true or false`, { field });
  }
  return {
    op: 'scan',
    range,
    after,
    limit: count('limit', Number.MAX_SAFE_INTEGER),
    values: fields.values === true || fields.versions === true,
    versions: fields.versions === true,
    pageKeys: count('pageKeys', MAX_SCAN_PAGE_KEYS) ?? DEFAULT_SCAN_PAGE_KEYS,
    r: parseQuorum(fields.r, 'r'),
    consistency: parseConsistency(fields.consistency),
    encoding,
  };
}

/**
 * import: one export line as `record`, checked as strictly as a peer's record; its counters may
 * not claim more than a context may (MAX_UNHELD_COUNTER), so no import can leave a key unwritable.
 */
function parseImport(fields: Record<string, unknown>, limits: Limits): ClientRequest {
  const { key, record } = parseExportLine(fields.record, limits);
  for (const [actor, counter] of record.clock) {
    if (counter > MAX_UNHELD_COUNTER) {
      throw new KvError('KV_BAD_IMPORT', `not an export line: clock entry of ${actor.slice(0, 64)} above 2^47, more than a store issues`, { field: 'clock' });
    }
  }
  return { op: 'import', key, record, w: parseQuorum(fields.w, 'w'), consistency: parseConsistency(fields.consistency) };
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
