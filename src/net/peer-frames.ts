/**
 * The peer protocol (protocol/peer.ts) as binary frames: what two nodes exchange once the peer
 * handshake (net/peer-auth.ts, NDJSON) has succeeded on a connection. Both directions, every
 * message, one frame each:
 *
 *   0        4      5          9     10
 *   +--------+------+----------+-----+---------------------------+
 *   | length | kind | id       | op  | payload (length - 6)      |
 *   | u32    | u8   | u32      | u8  |                           |
 *   +--------+------+----------+-----+---------------------------+
 *
 *   length  bytes after the length field (6 + payload); at most the node's --max-line-bytes
 *   kind    1 request, 2 reply, 3 error reply
 *   id      chosen by the requester, echoed by the reply; 0 is the connection's own: an error
 *           frame with id 0 tells why the other end closes the connection
 *   op      the op code (OP_CODES below), echoed by the reply
 *
 * All integers are big-endian. In payloads:
 *   bytes   u32 length, raw bytes (keys, values)
 *   name    u16 length, UTF-8 (node names, tree hashes)
 *   record  u32 length, the record in its stored binary form (storage/record-format.ts)
 *   clock   u16 entries { u16 length, actor UTF-8, u48 counter } (a version vector, a context)
 *   count   u32 (u16 and u8 where the bound is small), checked against the op's maximum
 *   flag    u8 0 or 1 (a boolean, or whether an optional part follows)
 *   error   u16 code length, code, u32 message length, message, u32 details length, details as
 *           JSON text (0: none). Errors are rare and their details free-form.
 * An error reply's payload is one error. gossip.push (both ways) carries one JSON text (u32
 * length): its cluster, member entries, heartbeat deltas and digests (membership/gossip-delta.ts),
 * validated by membership/member-wire.ts.
 * Nothing else travels as JSON or base64.
 *
 * Every decoder bounds-checks each length against the frame and the node's limits (key length,
 * RecordBounds, item counts, node names), refuses unknown kinds and op codes and trailing bytes,
 * all with KV_BAD_REQUEST and a message naming what is wrong.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_CLOCK_ENTRIES, MAX_COUNTER, type VersionVector } from '../clock/index.js';
import { type ClusterSettings, MAX_REPLICAS } from '../config.js';
import { KvError, type WireError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { parseBeats, parseDigests, parseMembers, parseSuspicions } from '../membership/member-wire.js';
import {
  type GossipCluster,
  type GossipPush,
  type LeafEntries,
  MAX_CLOCK_KEYS,
  MAX_HASHED_RANGES,
  MAX_LISTED_LEAVES,
  MAX_REPLICA_ITEMS,
  MAX_TRANSFER_KEYS,
  type PeerOp,
  type PeerReplies,
  type PeerReply,
  type PeerRequest,
  type PeerRequestOf,
  type ReplicaItem,
  type TreeLeaf,
  type TreeRange,
} from '../protocol/peer.js';
import { MAX_PEER_SCAN_KEYS, PEER_SCAN_PAGE_BYTES } from '../protocol/scan.js';
import type { QuorumSummary } from '../quorum/quorum.js';
import { decodeRecord, encodedRecordBytes, encodeRecord, type StoredRecord } from '../storage/record-format.js';
import { checkRecordBounds, malformedRecord, type RecordBounds } from './record-bounds.js';

/** Bytes of the fixed header: length, kind, id, op. */
export const FRAME_HEADER_BYTES = 10;
export const FRAME_REQUEST = 1;
export const FRAME_REPLY = 2;
export const FRAME_ERROR = 3;
export type FrameKind = typeof FRAME_REQUEST | typeof FRAME_REPLY | typeof FRAME_ERROR;

/** The frame-layer ping: its reply tells the requester the longest frame this node takes. */
export const PING_OP_CODE = 0;

/** Op codes; never reuse one for another op. */
export const OP_CODES: Readonly<Record<PeerOp, number>> = {
  'gossip.push': 1,
  'kv.read': 2,
  'kv.clocks': 3,
  'kv.replicate': 4,
  'kv.replicate.many': 5,
  'kv.reap': 6,
  'kv.coordinate': 7,
  'ae.hashes': 8,
  'ae.leaves': 9,
  'ae.fetch': 10,
  'ae.store': 11,
  'kv.scan': 12,
};
/**
 * What each op's frame carries, by name (id and op in its header, the rest in its payload, in this
 * order): documentation for operators reading captures (the man page lists them).
 */
export const peerFrameFields: Readonly<Record<PeerOp, ReadonlySet<string>>> = {
  'gossip.push': new Set(['id', 'op', 'cluster', 'members', 'join', 'beats', 'digests', 'full', 'suspects', 'probe']),
  'kv.read': new Set(['id', 'op', 'key', 'digest']),
  'kv.clocks': new Set(['id', 'op', 'keys']),
  'kv.replicate': new Set(['id', 'op', 'key', 'record', 'hintFor']),
  'kv.replicate.many': new Set(['id', 'op', 'items']),
  'kv.reap': new Set(['id', 'op', 'key', 'record']),
  'kv.coordinate': new Set(['id', 'op', 'key', 'value', 'delete', 'context', 'w', 'consistency', 'keepSiblings', 'expiresAt']),
  'ae.hashes': new Set(['id', 'op', 'peer', 'level', 'ranges', 'segments']),
  'ae.leaves': new Set(['id', 'op', 'peer', 'leaves']),
  'ae.fetch': new Set(['id', 'op', 'peer', 'keys']),
  'ae.store': new Set(['id', 'op', 'peer', 'items']),
  'kv.scan': new Set(['id', 'op', 'from', 'inclusive', 'end', 'maxKeys', 'maxBytes', 'values']),
};

export function isPeerOpName(op: string): op is PeerOp {
  return Object.hasOwn(OP_CODES, op);
}

const OPS_BY_CODE: readonly (PeerOp | undefined)[] = (() => {
  const ops: (PeerOp | undefined)[] = [];
  for (const [op, code] of Object.entries(OP_CODES)) ops[code] = op as PeerOp;
  return ops;
})();

/** Segments and leaves of a Merkle tree (antientropy/merkle-tree.ts): 32 segments of 32 leaves. */
const TREE_SEGMENTS = 32;
const TREE_LEAVES = 1024;
/** Longest node name a frame may carry (membership/member-wire.ts MAX_MEMBER_NAME_CHARS). */
const MAX_NAME_CHARS = 256;
/** Longest tree hash and version digest text. */
const MAX_HASH_CHARS = 128;
/** Longest cluster id accepted from a peer (ours are 16 hex digits). */
const MAX_CLUSTER_ID_CHARS = 64;
/** Keys one ae.leaves reply may list per leaf: a leaf holds the keys of 1/1024 of a node's ring share. */
const MAX_LEAF_ENTRIES = 2 ** 20;

/** What a node bounds in frames from peers: the record bounds and the key length. */
export interface FrameBounds extends RecordBounds {
  maxKeyBytes: number;
}

/** The header of a frame, read from its first FRAME_HEADER_BYTES. */
export interface FrameHeader {
  /** Bytes of the whole frame, header included. */
  bytes: number;
  kind: number;
  id: number;
  opCode: number;
}

/** Reads a frame's header; `frame` holds at least FRAME_HEADER_BYTES. */
export function readFrameHeader(frame: Buffer): FrameHeader {
  return { bytes: frame.readUInt32BE(0) + 4, kind: frame[4] as number, id: frame.readUInt32BE(5), opCode: frame[9] as number };
}

/** The op of an op code, or undefined for an unknown code. */
export function opOfCode(code: number): PeerOp | undefined {
  return OPS_BY_CODE[code];
}

// ---- writing ----

/**
 * Builds one frame: parts are gathered first (values stay where they are) and copied once into a
 * buffer of the exact size.
 */
class FrameWriter {
  private readonly parts: Buffer[] = [];
  private bytes = FRAME_HEADER_BYTES;
  /** Small fixed-size fields accumulate here before they become a part. */
  private scratch = Buffer.allocUnsafe(256);
  private scratchAt = 0;

  private room(n: number): void {
    if (this.scratchAt + n <= this.scratch.length) return;
    this.flushScratch();
    if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(n);
  }

  private flushScratch(): void {
    if (this.scratchAt === 0) return;
    this.parts.push(this.scratch.subarray(0, this.scratchAt));
    this.scratch = Buffer.allocUnsafe(this.scratch.length);
    this.scratchAt = 0;
  }

  u8(n: number): this {
    this.room(1);
    this.scratch[this.scratchAt++] = n;
    this.bytes += 1;
    return this;
  }

  u16(n: number): this {
    this.room(2);
    this.scratchAt = this.scratch.writeUInt16BE(n, this.scratchAt);
    this.bytes += 2;
    return this;
  }

  u32(n: number): this {
    this.room(4);
    this.scratchAt = this.scratch.writeUInt32BE(n, this.scratchAt);
    this.bytes += 4;
    return this;
  }

  u48(n: number): this {
    this.room(6);
    this.scratchAt = this.scratch.writeUIntBE(n, this.scratchAt, 6);
    this.bytes += 6;
    return this;
  }

  flag(b: boolean): this {
    return this.u8(b ? 1 : 0);
  }

  /** Raw bytes, no length. */
  raw(bytes: Buffer): this {
    if (bytes.length <= 64) {
      this.room(bytes.length);
      this.scratchAt += bytes.copy(this.scratch, this.scratchAt);
    } else {
      this.flushScratch();
      this.parts.push(bytes);
    }
    this.bytes += bytes.length;
    return this;
  }

  bytesField(bytes: Buffer): this {
    return this.u32(bytes.length).raw(bytes);
  }

  name(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    return this.u16(bytes.length).raw(bytes);
  }

  /** Longer text (JSON of gossip and error details): u32 length. */
  text(text: string): this {
    return this.bytesField(Buffer.from(text, 'utf8'));
  }

  record(record: StoredRecord): this {
    return this.bytesField(recordBytes(record));
  }

  clock(clock: VersionVector): this {
    this.u16(clock.size);
    for (const [actor, counter] of clock) this.name(actor).u48(counter);
    return this;
  }

  error(error: WireError): this {
    this.name(error.code).text(error.message);
    return error.details === undefined ? this.u32(0) : this.text(JSON.stringify(error.details));
  }

  /** The frame, header first. */
  finish(kind: FrameKind, id: number, opCode: number): Buffer {
    this.flushScratch();
    const out = Buffer.allocUnsafe(this.bytes);
    out.writeUInt32BE(this.bytes - 4, 0);
    out[4] = kind;
    out.writeUInt32BE(id, 5);
    out[9] = opCode;
    let at = FRAME_HEADER_BYTES;
    for (const part of this.parts) at += part.copy(out, at);
    return out;
  }
}

/**
 * The stored form of records already encoded: a coordinator sends the same written record to each
 * of the other replicas. Weak, so the bytes go when the record does.
 */
const encodedRecords = new WeakMap<StoredRecord, Buffer>();

function recordBytes(record: StoredRecord): Buffer {
  let bytes = encodedRecords.get(record);
  if (bytes === undefined) {
    bytes = encodeRecord(record);
    encodedRecords.set(record, bytes);
  }
  return bytes;
}

/** Bytes of a record in a frame (its length field included). */
export function recordFrameBytes(record: StoredRecord): number {
  return 4 + recordBytes(record).length;
}

/** The frame of `request` under `id`. */
export function encodePeerRequest(request: PeerRequest, id: number): Buffer {
  const w = new FrameWriter();
  switch (request.op) {
    case 'gossip.push':
      w.text(
        JSON.stringify({
          cluster: gossipClusterToJson(request.cluster),
          members: request.members,
          ...(request.cluster.kind === 'joiner' ? { join: true } : {}),
          ...gossipExtrasToJson(request),
        }),
      );
      break;
    case 'kv.read':
      w.bytesField(request.key).flag(request.digest);
      break;
    case 'kv.clocks':
      w.u32(request.keys.length);
      for (const key of request.keys) w.bytesField(key);
      break;
    case 'kv.replicate':
      writeReplicaItem(w, request);
      break;
    case 'kv.replicate.many':
      w.u32(request.items.length);
      for (const item of request.items) writeReplicaItem(w, item);
      break;
    case 'kv.reap':
      w.bytesField(request.key).record(request.record);
      break;
    case 'kv.coordinate': {
      w.bytesField(request.key);
      w.flag(request.value === null);
      if (request.value !== null) w.bytesField(request.value);
      w.flag(request.context !== undefined);
      if (request.context !== undefined) w.clock(request.context);
      // W above what a u32 holds is refused as any W above N is.
      w.u32(Math.min(request.w ?? 0, 0xffffffff));
      w.u8(request.consistency === 'strict' ? 1 : request.consistency === 'sloppy' ? 2 : 0);
      w.flag(request.keepSiblings);
      // 0: no deadline (a deadline is a time after 1970, never 0).
      w.u48(request.expiresAt ?? 0);
      break;
    }
    case 'ae.hashes':
      // Per range: first, last, and at level 2 the segment asked.
      w.name(request.peer).u8(request.level).u16(request.ranges.length);
      request.ranges.forEach((range, i) => {
        w.u32(range.first).u32(range.last);
        if (request.level === 2) w.u8(request.segments[i] ?? 0);
      });
      break;
    case 'ae.leaves':
      w.name(request.peer).u16(request.leaves.length);
      for (const leaf of request.leaves) w.u32(leaf.first).u32(leaf.last).u16(leaf.leaf);
      break;
    case 'ae.fetch':
      w.name(request.peer).u32(request.keys.length);
      for (const key of request.keys) w.bytesField(key);
      break;
    case 'ae.store':
      w.name(request.peer).u32(request.items.length);
      for (const item of request.items) w.bytesField(item.key).record(item.record);
      break;
    case 'kv.scan':
      w.bytesField(request.from)
        .flag(request.inclusive)
        .flag(request.end !== undefined);
      if (request.end !== undefined) w.bytesField(request.end);
      w.u32(request.maxKeys).u32(request.maxBytes).flag(request.values);
      break;
  }
  return w.finish(FRAME_REQUEST, id, OP_CODES[request.op]);
}

function writeReplicaItem(w: FrameWriter, item: ReplicaItem): void {
  w.bytesField(item.key)
    .record(item.record)
    .flag(item.hintFor !== undefined);
  if (item.hintFor !== undefined) w.name(item.hintFor);
}

/** The reply frame to `request` (asked under `id`). */
export function encodePeerReply<Op extends PeerOp>(request: PeerRequestOf<Op>, reply: PeerReply<Op>, id: number): Buffer {
  const w = new FrameWriter();
  const r = reply as PeerReplies[PeerOp];
  const asked = request as PeerRequest;
  switch (asked.op) {
    case 'gossip.push': {
      const g = r as PeerReplies['gossip.push'];
      w.text(
        JSON.stringify({
          cluster: g.cluster ? clusterIdentityToJson(g.cluster) : undefined,
          members: g.members,
          ...(g.beats && g.beats.length > 0 ? { beats: g.beats } : {}),
          ...(g.want && g.want.length > 0 ? { want: g.want } : {}),
          ...(g.suspects && g.suspects.length > 0 ? { suspects: g.suspects } : {}),
        }),
      );
      break;
    }
    case 'kv.read': {
      const k = r as PeerReplies['kv.read'];
      if (asked.digest) {
        w.flag(k.digest !== undefined);
        if (k.digest !== undefined) w.name(k.digest);
      } else {
        w.flag(k.record !== undefined);
        if (k.record) w.record(k.record);
      }
      break;
    }
    case 'kv.clocks': {
      const { clocks } = r as PeerReplies['kv.clocks'];
      w.u32(clocks.length);
      for (const c of clocks) {
        w.flag(c !== undefined);
        if (c) w.clock(c);
      }
      break;
    }
    case 'kv.replicate':
      break;
    case 'kv.replicate.many':
      writeResults(w, (r as PeerReplies['kv.replicate.many']).results);
      break;
    case 'kv.reap':
      w.flag((r as PeerReplies['kv.reap']).dropped);
      break;
    case 'kv.coordinate': {
      const c = r as PeerReplies['kv.coordinate'];
      w.record(c.record).flag(c.existed);
      w.u16(c.quorum.needed).u16(c.quorum.replied).u16(c.quorum.failed).u16(c.quorum.replicas);
      writeNames(w, c.quorum.answered);
      writeNames(w, c.hinted);
      writeNames(w, c.hintsDropped);
      break;
    }
    case 'ae.hashes': {
      // Per asked range: whether the node holds its tree, then its hashes (1 at level 0, else 32).
      const { hashes } = r as PeerReplies['ae.hashes'];
      w.u16(hashes.length);
      for (const held of hashes) {
        w.flag(held !== undefined);
        if (held) writeNames(w, held);
      }
      break;
    }
    case 'ae.leaves': {
      const { entries } = r as PeerReplies['ae.leaves'];
      w.u16(entries.length);
      for (const leaf of entries) {
        w.u32(leaf.length);
        // Keys travel as their bytes; the trees list them in base64.
        for (const [key, digest] of leaf) w.bytesField(Buffer.from(key, 'base64')).name(digest);
      }
      break;
    }
    case 'ae.fetch': {
      const f = r as PeerReplies['ae.fetch'];
      w.u32(f.records.length);
      for (const rec of f.records) {
        w.flag(rec !== undefined);
        if (rec) w.record(rec);
      }
      const skipped = f.skipped ?? [];
      w.u32(skipped.length);
      for (const i of skipped) w.u32(i);
      break;
    }
    case 'ae.store': {
      const s = r as PeerReplies['ae.store'];
      w.u32(s.stored).flag(s.results !== undefined);
      if (s.results) writeResults(w, s.results);
      break;
    }
    case 'kv.scan': {
      const page = r as PeerReplies['kv.scan'];
      w.u32(page.entries.length);
      for (const entry of page.entries) w.bytesField(entry.key).record(entry.record);
      w.flag(page.exhausted);
      break;
    }
  }
  return w.finish(FRAME_REPLY, id, OP_CODES[asked.op]);
}

function writeResults(w: FrameWriter, results: (KvError | undefined)[]): void {
  w.u32(results.length);
  for (const e of results) {
    w.flag(e !== undefined);
    if (e) w.error(e.toWire());
  }
}

function writeNames(w: FrameWriter, names: readonly string[]): void {
  w.u16(names.length);
  for (const name of names) w.name(name);
}

/** An error reply frame (id 0: the connection's own error, sent before it closes). */
export function encodeErrorFrame(id: number, opCode: number, error: WireError): Buffer {
  return new FrameWriter().error(error).finish(FRAME_ERROR, id, opCode);
}

/** The frame-layer ping, and its reply: the longest frame the answering node takes. */
export function encodePingFrame(id: number): Buffer {
  return new FrameWriter().finish(FRAME_REQUEST, id, PING_OP_CODE);
}

export function encodePingReply(id: number, maxFrameBytes: number): Buffer {
  return new FrameWriter().u32(maxFrameBytes).finish(FRAME_REPLY, id, PING_OP_CODE);
}

/** The longest frame a ping reply names. */
export function decodePingReply(frame: Buffer): number {
  const r = new FrameReader(frame, (why) => new KvError('KV_BAD_REQUEST', `malformed ping reply from a peer: ${why}`));
  const max = r.u32();
  r.end();
  if (max < FRAME_HEADER_BYTES) throw new KvError('KV_BAD_REQUEST', 'malformed ping reply from a peer: frame limit');
  return max;
}

// ---- reading ----

/** Reads a frame's payload, each read checked against the frame; `bad` makes the error. */
class FrameReader {
  private at = FRAME_HEADER_BYTES;

  constructor(
    private readonly frame: Buffer,
    readonly bad: (why: string) => KvError,
  ) {}

  private need(n: number, what: string): void {
    if (this.at + n > this.frame.length) throw this.bad(`${what} runs past the end of the frame`);
  }

  u8(what = 'a field'): number {
    this.need(1, what);
    return this.frame[this.at++] as number;
  }

  u16(what = 'a field'): number {
    this.need(2, what);
    const n = this.frame.readUInt16BE(this.at);
    this.at += 2;
    return n;
  }

  u32(what = 'a field'): number {
    this.need(4, what);
    const n = this.frame.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  u48(what = 'a field'): number {
    this.need(6, what);
    const n = this.frame.readUIntBE(this.at, 6);
    this.at += 6;
    return n;
  }

  flag(what: string): boolean {
    const b = this.u8(what);
    if (b > 1) throw this.bad(`${what} must be 0 or 1`);
    return b === 1;
  }

  /** A count of at most `max` (at least `min`). */
  count(width: 1 | 2 | 4, what: string, max: number, min = 0): number {
    const n = width === 1 ? this.u8(what) : width === 2 ? this.u16(what) : this.u32(what);
    if (n < min || n > max) throw this.bad(`${what} must be ${min} to ${max}, not ${n}`);
    return n;
  }

  /**
   * u32-prefixed bytes, at most `max` of them, copied: a frame is often a view into a socket's
   * read buffer, and a key or value kept (in a cache, a hint) must not keep that whole buffer.
   */
  bytes(what: string, max: number): Buffer {
    const n = this.u32(what);
    if (n > max) throw this.bad(`${what} of ${n} bytes is over the limit of ${max}`);
    this.need(n, what);
    const out = Buffer.from(this.frame.subarray(this.at, this.at + n));
    this.at += n;
    return out;
  }

  /** u16-prefixed UTF-8 of 1 (0 with `allowEmpty`) to `maxChars` characters. */
  name(what: string, maxChars: number, allowEmpty = false): string {
    const n = this.u16(what);
    this.need(n, what);
    const bytes = this.frame.subarray(this.at, this.at + n);
    this.at += n;
    if (!isUtf8(bytes)) throw this.bad(`${what} is not UTF-8`);
    const text = bytes.toString('utf8');
    if ((!allowEmpty && text.length === 0) || text.length > maxChars) throw this.bad(`${what} must be ${allowEmpty ? 0 : 1} to ${maxChars} characters`);
    return text;
  }

  /** u32-prefixed UTF-8 parsed as JSON. */
  json(what: string): unknown {
    const bytes = this.bytes(what, this.frame.length);
    if (!isUtf8(bytes)) throw this.bad(`${what} is not UTF-8`);
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw this.bad(`${what} is not JSON`);
    }
  }

  key(bounds: FrameBounds): Buffer {
    const key = this.bytes('key', bounds.maxKeyBytes);
    if (key.length === 0) throw this.bad('key must not be empty');
    return key;
  }

  record(bounds: RecordBounds): StoredRecord {
    // The largest record a node takes: its siblings at the value limit, plus their metadata.
    const stored = this.bytes('record', bounds.maxSiblings * (bounds.maxValueBytes + 1024) + 2 ** 20);
    return checkRecordBounds(readRecord(stored), bounds);
  }

  /** A version vector; a counter out of 1..maxCounter is `outOfBounds`'s error (a context's is KV_BAD_CONTEXT, as a client's). */
  clock(what: string, maxCounter: number, outOfBounds: (why: string) => KvError = this.bad): Map<string, number> {
    const n = this.count(2, `${what} entries`, MAX_CLOCK_ENTRIES);
    const vv = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const actor = this.name(`${what} actor`, 512);
      const counter = this.u48(`${what} counter`);
      if (counter < 1 || counter > maxCounter) throw outOfBounds(`a counter must be a whole number from 1 to 2^48 - ${2 ** 48 - maxCounter}`);
      if (vv.has(actor)) throw this.bad(`${what} names an actor twice`);
      vv.set(actor, counter);
    }
    return vv;
  }

  error(): KvError {
    const code = this.name('error code', 64);
    const message = this.bytes('error message', 64 * 1024);
    const details = this.bytes('error details', 1024 * 1024);
    let parsedDetails: unknown;
    if (details.length > 0) {
      try {
        parsedDetails = JSON.parse(details.toString('utf8'));
      } catch {
        throw this.bad('error details are not JSON');
      }
    }
    return KvError.fromWire({ code, message: message.toString('utf8'), ...(isJsonObject(parsedDetails) ? { details: parsedDetails } : {}) });
  }

  /** Refuses bytes after the last field. */
  end(): void {
    if (this.at !== this.frame.length) throw this.bad(`${this.frame.length - this.at} bytes after the last field`);
  }
}

/** A record's stored form from a peer, shape only (checkRecordBounds checks its contents). */
function readRecord(stored: Buffer): StoredRecord {
  let record: StoredRecord;
  try {
    record = decodeRecord(stored);
  } catch {
    throw malformedRecord('not a record in its stored form');
  }
  // decodeRecord reads what it needs: what it leaves (bytes after the record, bytes on a
  // tombstone, an actor in invalid UTF-8 read differently) makes the record's encoding differ.
  if (encodedRecordBytes(record) !== stored.length) throw malformedRecord('its stored form holds bytes that are not part of the record');
  encodedRecords.set(record, stored);
  return record;
}

const badFrame = (op: string, why: string) => new KvError('KV_BAD_REQUEST', `malformed ${op} frame: ${why}`, { op });

/**
 * The typed request in a request frame (header already read: kind request, `op` known). Throws
 * KV_BAD_REQUEST (KV_VALUE_TOO_LARGE, KV_BAD_CONTEXT where a client's request would) naming the
 * op and what is wrong.
 */
export function decodePeerRequest(op: PeerOp, frame: Buffer, bounds: FrameBounds): PeerRequest {
  const r = new FrameReader(frame, (why) => badFrame(op, why));
  const request = readRequest(op, r, bounds);
  r.end();
  return request;
}

function readRequest(op: PeerOp, r: FrameReader, bounds: FrameBounds): PeerRequest {
  switch (op) {
    case 'gossip.push': {
      const body = r.json('gossip');
      if (!isJsonObject(body)) throw r.bad('gossip must be a JSON object');
      for (const name of Object.keys(body)) if (!GOSSIP_FIELDS.has(name)) throw r.bad(`unknown gossip field "${name.slice(0, 64)}"`);
      const members = parseMembers(body.members);
      const extras = parseGossipExtras(body, r);
      if (body.join === true) return { op, cluster: { kind: 'joiner', explicit: parseExplicitSettings(body.cluster) }, members, ...extras };
      if (body.join !== undefined) throw r.bad('join must be true or absent');
      const cluster = parseGossipedCluster(body.cluster);
      if (!cluster) throw new KvError('KV_BAD_REQUEST', 'gossip must name a valid cluster (id, n, w, r, consistency, version)');
      return { op, cluster: { kind: 'member', cluster }, members, ...extras };
    }
    case 'kv.read':
      return { op, key: r.key(bounds), digest: r.flag('digest') };
    case 'kv.clocks': {
      const n = r.count(4, 'keys', MAX_CLOCK_KEYS, 1);
      const keys: Buffer[] = [];
      for (let i = 0; i < n; i++) keys.push(r.key(bounds));
      return { op, keys };
    }
    case 'kv.replicate':
      return { op, ...readReplicaItem(r, bounds) };
    case 'kv.replicate.many': {
      const n = r.count(4, 'items', MAX_REPLICA_ITEMS, 1);
      const items: ReplicaItem[] = [];
      for (let i = 0; i < n; i++) items.push(readReplicaItem(r, bounds));
      return { op, items };
    }
    case 'kv.reap':
      return { op, key: r.key(bounds), record: r.record(bounds) };
    case 'kv.coordinate': {
      const key = r.key(bounds);
      const isDelete = r.flag('delete');
      let value: Buffer | null = null;
      if (!isDelete) {
        value = r.bytes('value', Number.MAX_SAFE_INTEGER);
        if (value.length > bounds.maxValueBytes) {
          throw new KvError('KV_VALUE_TOO_LARGE', `value is ${value.length} bytes; the limit is ${bounds.maxValueBytes}`, {
            bytes: value.length,
            limit: bounds.maxValueBytes,
          });
        }
      }
      // A context as a token would allow: counters a write can still add one to.
      const context = r.flag('context')
        ? r.clock('context', MAX_COUNTER - 1, (why) => new KvError('KV_BAD_CONTEXT', `context is out of bounds: ${why}`))
        : undefined;
      const w = r.u32('w');
      const consistency = r.u8('consistency');
      if (consistency > 2) throw r.bad('consistency must be 0 (none), 1 (strict) or 2 (sloppy)');
      const keepSiblings = r.flag('keepSiblings');
      if (keepSiblings && context !== undefined)
        throw new KvError('KV_BAD_REQUEST', 'keepSiblings applies only to a write without a context', { field: 'keepSiblings' });
      const expiresAt = r.u48('expiresAt');
      if (expiresAt !== 0 && isDelete) throw r.bad('a delete has no deadline');
      return {
        op,
        key,
        value,
        context,
        w: w === 0 ? undefined : w,
        consistency: consistency === 1 ? 'strict' : consistency === 2 ? 'sloppy' : undefined,
        keepSiblings,
        ...(expiresAt === 0 ? {} : { expiresAt }),
      };
    }
    case 'ae.hashes': {
      const peer = r.name('peer', MAX_NAME_CHARS);
      const level = r.u8('level');
      if (level !== 0 && level !== 1 && level !== 2) throw r.bad('level must be 0, 1 or 2');
      const n = r.count(2, 'ranges', MAX_HASHED_RANGES[level], 1);
      const ranges: TreeRange[] = [];
      const segments: number[] = [];
      for (let i = 0; i < n; i++) {
        ranges.push(readTreeRange(r));
        if (level === 2) segments.push(r.count(1, 'a segment', TREE_SEGMENTS - 1));
      }
      return level === 2 ? { op, peer, level, ranges, segments } : { op, peer, level, ranges };
    }
    case 'ae.leaves': {
      const peer = r.name('peer', MAX_NAME_CHARS);
      const n = r.count(2, 'leaves', MAX_LISTED_LEAVES, 1);
      const leaves: TreeLeaf[] = [];
      for (let i = 0; i < n; i++) leaves.push({ ...readTreeRange(r), leaf: r.count(2, 'a leaf', TREE_LEAVES - 1) });
      return { op, peer, leaves };
    }
    case 'ae.fetch': {
      const peer = r.name('peer', MAX_NAME_CHARS);
      const n = r.count(4, 'keys', MAX_TRANSFER_KEYS, 1);
      const keys: Buffer[] = [];
      for (let i = 0; i < n; i++) keys.push(r.key(bounds));
      return { op, peer, keys };
    }
    case 'ae.store': {
      const peer = r.name('peer', MAX_NAME_CHARS);
      const n = r.count(4, 'items', MAX_TRANSFER_KEYS, 1);
      const items: { key: Buffer; record: StoredRecord }[] = [];
      for (let i = 0; i < n; i++) items.push({ key: r.key(bounds), record: r.record(bounds) });
      return { op, peer, items };
    }
    case 'kv.scan': {
      // The first page of a scan from the first key starts at the empty key, included.
      const from = r.bytes('from', bounds.maxKeyBytes);
      const inclusive = r.flag('inclusive');
      const end = r.flag('end') ? r.key(bounds) : undefined;
      if (end !== undefined && Buffer.compare(from, end) >= 0) throw r.bad('from must sort before end');
      const maxKeys = r.count(4, 'maxKeys', MAX_PEER_SCAN_KEYS, 1);
      const maxBytes = r.count(4, 'maxBytes', PEER_SCAN_PAGE_BYTES, 1);
      return { op, from, inclusive, end, maxKeys, maxBytes, values: r.flag('values') };
    }
  }
}

/** A tree's range: two ring positions, the first not past the last. */
function readTreeRange(r: FrameReader): TreeRange {
  const first = r.u32('first');
  const last = r.u32('last');
  if (first > last) throw r.bad('a tree range must not end before it starts');
  return { first, last };
}

function readReplicaItem(r: FrameReader, bounds: FrameBounds): ReplicaItem {
  const item: ReplicaItem = { key: r.key(bounds), record: r.record(bounds) };
  if (r.flag('hintFor')) item.hintFor = r.name('hintFor', MAX_NAME_CHARS);
  return item;
}

const badReply = (op: string, why: string) => new KvError('KV_BAD_REQUEST', `malformed ${op} reply from a peer: ${why}`, { op });

/**
 * The typed reply to `request` in a reply frame (header already read: kind reply, its op that of
 * the request). Throws KV_BAD_REQUEST naming the op when the reply is malformed.
 */
export function decodePeerReply<Op extends PeerOp>(request: PeerRequestOf<Op>, frame: Buffer, bounds: FrameBounds): PeerReply<Op> {
  const r = new FrameReader(frame, (why) => badReply(request.op, why));
  const reply = readReply(request as PeerRequest, r, bounds);
  r.end();
  return reply as PeerReply<Op>;
}

function readReply(request: PeerRequest, r: FrameReader, bounds: FrameBounds): PeerReplies[PeerOp] {
  switch (request.op) {
    case 'gossip.push': {
      const body = r.json('gossip');
      if (!isJsonObject(body)) throw r.bad('gossip must be a JSON object');
      return {
        cluster: body.cluster === undefined ? undefined : parseGossipedCluster(body.cluster),
        members: parseMembers(body.members),
        ...(body.beats === undefined ? {} : { beats: parseBeats(body.beats) }),
        ...(body.want === undefined ? {} : { want: parseDigests(body.want) }),
        ...(body.suspects === undefined ? {} : { suspects: parseSuspicions(body.suspects) }),
      };
    }
    case 'kv.read':
      if (request.digest) return { record: undefined, digest: r.flag('digest') ? r.name('digest', MAX_HASH_CHARS) : undefined };
      return { record: r.flag('record') ? r.record(bounds) : undefined, digest: undefined };
    case 'kv.clocks': {
      r.count(4, 'clocks', request.keys.length, request.keys.length);
      const clocks: (VersionVector | undefined)[] = [];
      for (let i = 0; i < request.keys.length; i++) clocks.push(r.flag('clock') ? r.clock('clock', MAX_COUNTER) : undefined);
      return { clocks };
    }
    case 'kv.replicate':
      return {};
    case 'kv.replicate.many':
      return { results: readResults(r, request.items.length) };
    case 'kv.reap':
      return { dropped: r.flag('dropped') };
    case 'kv.coordinate': {
      const record = r.record(bounds);
      const existed = r.flag('existed');
      const quorum: QuorumSummary = {
        needed: r.u16('quorum'),
        replied: r.u16('quorum'),
        failed: r.u16('quorum'),
        replicas: r.u16('quorum'),
        answered: readNames(r, 'answered'),
      };
      return { record, existed, quorum, hinted: readNames(r, 'hinted'), hintsDropped: readNames(r, 'hintsDropped') };
    }
    case 'ae.hashes': {
      r.count(2, 'ranges', request.ranges.length, request.ranges.length);
      const hashes: (string[] | undefined)[] = [];
      for (let i = 0; i < request.ranges.length; i++) hashes.push(r.flag('held') ? readHashes(r, request.level === 0 ? 1 : TREE_SEGMENTS) : undefined);
      return { hashes };
    }
    case 'ae.leaves': {
      r.count(2, 'entries', request.leaves.length, request.leaves.length);
      const entries: LeafEntries[] = [];
      for (let i = 0; i < request.leaves.length; i++) {
        const n = r.count(4, 'leaf entries', MAX_LEAF_ENTRIES);
        const leaf: LeafEntries = [];
        for (let j = 0; j < n; j++) leaf.push([r.key(bounds).toString('base64'), r.name('digest', MAX_HASH_CHARS)]);
        entries.push(leaf);
      }
      return { entries };
    }
    case 'ae.fetch': {
      // A prefix of the keys, at least one of them: the rest did not fit the reply's frame.
      const n = r.count(4, 'records', request.keys.length, request.keys.length > 0 ? 1 : 0);
      const records: (StoredRecord | undefined)[] = [];
      for (let i = 0; i < n; i++) records.push(r.flag('record') ? r.record(bounds) : undefined);
      const nSkipped = r.count(4, 'skipped', n);
      const skipped: number[] = [];
      for (let i = 0; i < nSkipped; i++) {
        const index = r.u32('skipped');
        if (index >= n || records[index] !== undefined) throw r.bad('skipped must list indexes of absent records');
        skipped.push(index);
      }
      return nSkipped > 0 ? { records, skipped } : { records };
    }
    case 'ae.store': {
      const stored = r.u32('stored');
      if (!r.flag('results')) return { stored };
      return { stored, results: readResults(r, request.items.length) };
    }
    case 'kv.scan': {
      // Keys in order, each within the asked range: the coordinator's merge counts on both.
      const n = r.count(4, 'entries', request.maxKeys);
      const entries: { key: Buffer; record: StoredRecord }[] = [];
      let previous: Buffer | undefined;
      for (let i = 0; i < n; i++) {
        const key = r.key(bounds);
        const order = Buffer.compare(key, previous ?? request.from);
        if (order < 0 || (order === 0 && (previous !== undefined || !request.inclusive)))
          throw r.bad('keys must ascend from where the page was asked to start');
        if (request.end !== undefined && Buffer.compare(key, request.end) >= 0) throw r.bad('a key lies past the end of the range');
        entries.push({ key, record: r.record(bounds) });
        previous = key;
      }
      const exhausted = r.flag('exhausted');
      if (n === 0 && !exhausted) throw r.bad('a page that is not the last must hold a key');
      return { entries, exhausted };
    }
  }
}

function readResults(r: FrameReader, length: number): (KvError | undefined)[] {
  r.count(4, 'results', length, length);
  const results: (KvError | undefined)[] = [];
  for (let i = 0; i < length; i++) results.push(r.flag('result') ? r.error() : undefined);
  return results;
}

function readNames(r: FrameReader, what: string): string[] {
  const n = r.count(2, what, 2 * MAX_REPLICAS);
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(r.name(what, MAX_NAME_CHARS));
  return names;
}

function readHashes(r: FrameReader, length: number): string[] {
  r.count(2, 'hashes', length, length);
  const hashes: string[] = [];
  for (let i = 0; i < length; i++) hashes.push(r.name('hash', MAX_HASH_CHARS));
  return hashes;
}

/** The error in an error frame. */
export function decodeErrorFrame(frame: Buffer): KvError {
  const r = new FrameReader(frame, (why) => new KvError('KV_BAD_REQUEST', `malformed error frame from a peer: ${why}`));
  const error = r.error();
  r.end();
  return error;
}

// ---- gossip's JSON ----

function gossipClusterToJson(cluster: GossipCluster): Record<string, unknown> {
  if (cluster.kind === 'joiner') return { ...cluster.explicit };
  return clusterIdentityToJson(cluster.cluster);
}

function clusterIdentityToJson(cluster: ClusterIdentity): Record<string, unknown> {
  return { id: cluster.id, ...cluster.settings, version: cluster.settingsVersion ?? 0 };
}

const GOSSIP_FIELDS: ReadonlySet<string> = new Set(['cluster', 'members', 'join', 'beats', 'digests', 'full', 'suspects', 'probe']);

/** A gossip message's heartbeat deltas, digests and full-sync flag, as JSON (absent when empty). */
function gossipExtrasToJson(push: GossipPush): Record<string, unknown> {
  return {
    ...(push.beats && push.beats.length > 0 ? { beats: push.beats } : {}),
    ...(push.digests ? { digests: push.digests } : {}),
    ...(push.full ? { full: true } : {}),
    ...(push.suspects && push.suspects.length > 0 ? { suspects: push.suspects } : {}),
    ...(push.probe ? { probe: true } : {}),
  };
}

function parseGossipExtras(body: Record<string, unknown>, r: FrameReader): Pick<GossipPush, 'beats' | 'digests' | 'full' | 'suspects' | 'probe'> {
  if (body.full !== undefined && body.full !== true) throw r.bad('full must be true or absent');
  if (body.probe !== undefined && body.probe !== true) throw r.bad('probe must be true or absent');
  return {
    ...(body.suspects === undefined ? {} : { suspects: parseSuspicions(body.suspects) }),
    ...(body.probe === true ? { probe: true as const } : {}),
    ...(body.beats === undefined ? {} : { beats: parseBeats(body.beats) }),
    ...(body.digests === undefined ? {} : { digests: parseDigests(body.digests) }),
    ...(body.full === true ? { full: true as const } : {}),
  };
}
const CLUSTER_FIELDS: ReadonlySet<string> = new Set(['id', 'n', 'w', 'r', 'consistency', 'version']);

/** The cluster as gossip carries it (id, settings, version), validated: peers are input too. Undefined when malformed. */
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

const JOINER_FIELDS: ReadonlySet<string> = new Set(['n', 'w', 'r', 'consistency']);

/** The settings a joiner's operator gave explicitly: any of n, w, r, consistency, each valid. */
function parseExplicitSettings(raw: unknown): Partial<ClusterSettings> {
  if (raw === undefined) return {};
  if (!isJsonObject(raw)) throw new KvError('KV_BAD_REQUEST', 'cluster must be an object');
  for (const name of Object.keys(raw)) {
    if (!JOINER_FIELDS.has(name))
      throw new KvError('KV_BAD_REQUEST', `unknown field "${name.slice(0, 64)}" for a joiner's cluster`, { field: name.slice(0, 64) });
  }
  const out: Partial<ClusterSettings> = {};
  for (const name of ['n', 'w', 'r'] as const) {
    const value = raw[name];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_REPLICAS) {
      throw new KvError('KV_BAD_REQUEST', `${name} must be a whole number from 1 to ${MAX_REPLICAS}`, { field: name });
    }
    out[name] = value as number;
  }
  const consistency = raw.consistency;
  if (consistency !== undefined) {
    if (consistency !== 'strict' && consistency !== 'sloppy') throw new KvError('KV_BAD_REQUEST', 'consistency must be "strict" or "sloppy"');
    out.consistency = consistency;
  }
  return out;
}

/**
 * The typed reply to `request` (sent under `id`) in `frame`, a whole frame from the peer: its
 * error, thrown as a KvError, for an error frame; KV_BAD_REQUEST for a frame that does not answer
 * this request (another kind, id or op).
 */
export function replyOf<Op extends PeerOp>(request: PeerRequestOf<Op>, id: number, frame: Buffer, bounds: FrameBounds): PeerReply<Op> {
  const header = frame.length >= FRAME_HEADER_BYTES ? readFrameHeader(frame) : undefined;
  if (header === undefined || header.bytes !== frame.length) throw badReply(request.op, 'not one whole frame');
  if (header.id !== id) throw badReply(request.op, `it answers request ${header.id}, not ${id}`);
  if (header.kind === FRAME_ERROR) throw decodeErrorFrame(frame);
  if (header.kind !== FRAME_REPLY) throw badReply(request.op, `frame kind ${header.kind} is not a reply`);
  if (header.opCode !== OP_CODES[request.op]) throw badReply(request.op, `it answers op code ${header.opCode}, not ${OP_CODES[request.op]}`);
  return decodePeerReply(request, frame, bounds);
}

/** The next request id after `id`: 1 to 2^32 - 1, 0 being the connection's own. */
export function nextFrameId(id: number): number {
  return id >= 0xffffffff ? 1 : id + 1;
}
