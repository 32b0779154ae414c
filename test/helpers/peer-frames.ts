/**
 * A hand-made peer for tests: a connection that proved the cluster secret, then speaks binary
 * frames (net/peer-frames.ts) as a node does. Tests write peer messages in a JSON view (keys and
 * values in base64, records as {clock, siblings} with [actor, counter, ts, codec, base64 | null]
 * siblings, contexts as tokens), which `request` writes into frames byte by byte WITHOUT
 * validating anything the frame format can hold (a tombstone with bytes, an uncovered dot, a
 * duplicated clock entry): the daemon's decoder must refuse them. What the format cannot hold at
 * all (a counter over 48 bits, a key that is not base64) throws UnrepresentableError here.
 * Replies are decoded by the node's own decoder and shown in the same JSON view.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodeContext } from '../../src/clock/index.js';
import { defaultLimits } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import type { ClientOptions } from '../../src/net/line-connection.js';
import { LineConnection } from '../../src/net/line-connection.js';
import { peerProof, provePeer } from '../../src/net/peer-auth.js';
import {
  decodeErrorFrame,
  decodePingReply,
  encodePingFrame,
  FRAME_ERROR,
  FRAME_REQUEST,
  OP_CODES,
  readFrameHeader,
  replyOf,
} from '../../src/net/peer-frames.js';
import { PEER_PROTOCOL_VERSION } from '../../src/net/protocol.js';
import type { PeerOp, PeerReplies, PeerRequest } from '../../src/protocol/peer.js';
import type { SimCluster, SimNode } from '../../src/sim/index.js';
import type { StoredRecord } from '../../src/storage/record-format.js';

export class UnrepresentableError extends Error {}

const unrepresentable = (why: string): never => {
  throw new UnrepresentableError(`not representable in a frame: ${why}`);
};

/** Bytes of a base64 field, exactly (anything else cannot be written as bytes). */
function b64Bytes(raw: unknown, what: string): Buffer {
  if (typeof raw !== 'string') return unrepresentable(`${what} is not a string`);
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.toString('base64') !== raw) return unrepresentable(`${what} is not canonical base64`);
  return bytes;
}

/** Writes frame payloads from the JSON view, unchecked. */
class RawWriter {
  readonly parts: Buffer[] = [];
  u8(n: number): this {
    this.parts.push(Buffer.from([n]));
    return this;
  }
  u16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    this.parts.push(b);
    return this;
  }
  u32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
    return this;
  }
  u48(n: unknown): this {
    if (!Number.isSafeInteger(n) || (n as number) < 0 || (n as number) >= 2 ** 48) unrepresentable(`${String(n)} in 48 bits`);
    const b = Buffer.alloc(6);
    b.writeUIntBE(n as number, 0, 6);
    this.parts.push(b);
    return this;
  }
  bytes(b: Buffer): this {
    return this.u32(b.length).raw(b);
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  name(text: unknown): this {
    if (typeof text !== 'string') unrepresentable('a name that is not a string');
    const b = Buffer.from(text as string, 'utf8');
    return this.u16(b.length).raw(b);
  }
  text(text: string): this {
    return this.bytes(Buffer.from(text, 'utf8'));
  }
  flag(b: boolean): this {
    return this.u8(b ? 1 : 0);
  }
  /** A record in the JSON view, in its stored form (storage/record-format.ts), unchecked. */
  record(raw: unknown): this {
    const r = raw as { clock: [string, number][]; siblings: [string, number, number, number, string | null][] };
    if (!Array.isArray(r?.clock) || !Array.isArray(r?.siblings)) unrepresentable('a record without clock and siblings arrays');
    const w = new RawWriter().u8(1).u16(r.clock.length);
    for (const [actor, counter] of r.clock) w.name(actor).u48(counter);
    w.u16(r.siblings.length);
    for (const [actor, counter, ts, codec, value] of r.siblings) {
      w.name(actor)
        .u48(counter)
        .u48(ts)
        .u8(codec === -1 ? 0x80 : codec);
      const bytes = value === null ? Buffer.alloc(0) : b64Bytes(value, 'a value');
      w.bytes(bytes);
    }
    return this.bytes(Buffer.concat(w.parts));
  }
  clockOfToken(token: unknown): this {
    // A context token's entries, unchecked (the daemon bounds them).
    if (typeof token !== 'string') return unrepresentable('a context that is not a string');
    let entries: [string, number][] = [];
    if (token !== 'W10') {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [string, [string, number][]];
      entries = parsed[1];
    }
    this.u16(entries.length);
    for (const [actor, counter] of entries) this.name(actor).u48(counter);
    return this;
  }
}

function frameOf(op: PeerOp, id: number, payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const header = Buffer.alloc(10);
  header.writeUInt32BE(6 + body.length, 0);
  header[4] = FRAME_REQUEST;
  header.writeUInt32BE(id, 5);
  header[9] = OP_CODES[op];
  return Buffer.concat([header, body]);
}

/** The frame of a request in the JSON view (see the module comment). */
export function frameFromJson(body: Record<string, unknown>, id: number): Buffer {
  const op = body.op as PeerOp;
  if (!Object.hasOwn(OP_CODES, op)) return unrepresentable(`op ${String(op)}`);
  const w = new RawWriter();
  const items = (raw: unknown) => (Array.isArray(raw) ? raw : unrepresentable('items that are not an array')) as Record<string, unknown>[];
  switch (op) {
    case 'gossip.push': {
      const { op: _op, ...rest } = body;
      w.text(JSON.stringify(rest));
      break;
    }
    case 'kv.read':
      w.bytes(b64Bytes(body.key, 'key')).flag(body.digest === true);
      break;
    case 'kv.clocks':
    case 'ae.fetch': {
      if (op === 'ae.fetch') w.name(body.peer);
      const keys = items(body.keys);
      w.u32(keys.length);
      for (const key of keys) w.bytes(b64Bytes(key, 'key'));
      break;
    }
    case 'kv.replicate':
      w.bytes(b64Bytes(body.key, 'key'))
        .record(body.record)
        .flag(body.hintFor !== undefined);
      if (body.hintFor !== undefined) w.name(body.hintFor);
      break;
    case 'kv.replicate.many': {
      const list = items(body.items);
      w.u32(list.length);
      for (const item of list) {
        w.bytes(b64Bytes(item.key, 'key'))
          .record(item.record)
          .flag(item.hintFor !== undefined);
        if (item.hintFor !== undefined) w.name(item.hintFor);
      }
      break;
    }
    case 'kv.reap':
      w.bytes(b64Bytes(body.key, 'key')).record(body.record);
      break;
    case 'kv.coordinate':
      w.bytes(b64Bytes(body.key, 'key')).flag(body.delete === true);
      if (body.delete !== true) w.bytes(b64Bytes(body.value, 'value'));
      w.flag(body.context !== undefined);
      if (body.context !== undefined) w.clockOfToken(body.context);
      w.u32((body.w as number | undefined) ?? 0)
        .u8(body.consistency === 'strict' ? 1 : body.consistency === 'sloppy' ? 2 : 0)
        .flag(body.keepSiblings === true)
        .u48((body.expiresAt as number | undefined) ?? 0);
      break;
    case 'ae.hashes': {
      const ranges = items(body.ranges);
      const segments = body.level === 2 ? (items(body.segments) as unknown as number[]) : [];
      w.name(body.peer)
        .u8(body.level as number)
        .u16(ranges.length);
      ranges.forEach((range, i) => {
        w.u32(range.first as number).u32(range.last as number);
        if (body.level === 2) w.u8(segments[i] ?? 0);
      });
      break;
    }
    case 'ae.leaves': {
      const leaves = items(body.leaves);
      w.name(body.peer).u16(leaves.length);
      for (const l of leaves)
        w.u32(l.first as number)
          .u32(l.last as number)
          .u16(l.leaf as number);
      break;
    }
    case 'ae.store': {
      const list = items(body.items);
      w.name(body.peer).u32(list.length);
      for (const item of list) w.bytes(b64Bytes(item.key, 'key')).record(item.record);
      break;
    }
    case 'kv.scan':
      w.bytes(b64Bytes(body.from ?? '', 'from'))
        .flag(body.inclusive === true)
        .flag(body.end !== undefined);
      if (body.end !== undefined) w.bytes(b64Bytes(body.end, 'end'));
      w.u32(body.maxKeys as number)
        .u32(body.maxBytes as number)
        .flag(body.values === true);
      break;
  }
  return frameOf(op, id, w.parts);
}

/** A record in the JSON view. */
export function recordJson(record: StoredRecord): { clock: [string, number][]; siblings: [string, number, number, number, string | null][] } {
  return {
    clock: [...record.clock].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    siblings: record.siblings.map((s) => [s.dot[0], s.dot[1], s.ts, s.value ? s.value.codec : -1, s.value ? s.value.stored.toString('base64') : null]),
  };
}

/** A typed request as the decoder would read the JSON view (for decoding its reply; records are not needed). */
function typedShape(body: Record<string, unknown>): PeerRequest {
  const op = body.op as PeerOp;
  const keyOf = (raw: unknown) => Buffer.from(String(raw), 'base64');
  const list = (raw: unknown) => (Array.isArray(raw) ? raw : []) as Record<string, unknown>[];
  const none = { clock: new Map(), siblings: [] } as StoredRecord;
  switch (op) {
    case 'gossip.push':
      return { op, cluster: { kind: 'joiner', explicit: {} }, members: [] };
    case 'kv.read':
      return { op, key: keyOf(body.key), digest: body.digest === true };
    case 'kv.clocks':
      return { op, keys: list(body.keys).map(keyOf) };
    case 'kv.replicate':
      return { op, key: keyOf(body.key), record: none };
    case 'kv.replicate.many':
      return { op, items: list(body.items).map((i) => ({ key: keyOf(i.key), record: none })) };
    case 'kv.reap':
      return { op, key: keyOf(body.key), record: none };
    case 'kv.coordinate':
      return { op, key: keyOf(body.key), value: null, keepSiblings: false };
    case 'ae.hashes': {
      const ranges = list(body.ranges) as unknown as { first: number; last: number }[];
      return body.level === 2
        ? { op, peer: '', level: 2, ranges, segments: list(body.segments) as unknown as number[] }
        : { op, peer: '', level: body.level as 0 | 1, ranges };
    }
    case 'ae.leaves':
      return { op, peer: '', leaves: list(body.leaves) as unknown as { first: number; last: number; leaf: number }[] };
    case 'ae.fetch':
      return { op, peer: '', keys: list(body.keys).map(keyOf) };
    case 'ae.store':
      return { op, peer: '', items: list(body.items).map((i) => ({ key: keyOf(i.key), record: none })) };
    case 'kv.scan':
      return {
        op,
        from: keyOf(body.from ?? ''),
        inclusive: body.inclusive === true,
        end: body.end === undefined ? undefined : keyOf(body.end),
        maxKeys: body.maxKeys as number,
        maxBytes: body.maxBytes as number,
        values: body.values === true,
      };
  }
}

/** A typed reply in the JSON view. */
function replyJson(request: PeerRequest, reply: PeerReplies[PeerOp]): Record<string, unknown> {
  const errors = (list: (KvError | undefined)[]) => list.map((e) => (e ? e.toWire() : null));
  switch (request.op) {
    case 'gossip.push': {
      const g = reply as PeerReplies['gossip.push'];
      const c = g.cluster;
      return { cluster: c ? { id: c.id, ...c.settings, version: c.settingsVersion ?? 0 } : undefined, members: g.members };
    }
    case 'kv.read': {
      const k = reply as PeerReplies['kv.read'];
      return request.digest ? { digest: k.digest ?? null } : { record: k.record ? recordJson(k.record) : null };
    }
    case 'kv.clocks':
      return { clocks: (reply as PeerReplies['kv.clocks']).clocks.map((c, i) => (c ? encodeContext(request.keys[i] as Buffer, c) : null)) };
    case 'kv.replicate':
      return {};
    case 'kv.replicate.many':
      return { results: errors((reply as PeerReplies['kv.replicate.many']).results) };
    case 'kv.reap':
      return { dropped: (reply as PeerReplies['kv.reap']).dropped };
    case 'kv.coordinate': {
      const c = reply as PeerReplies['kv.coordinate'];
      return { record: recordJson(c.record), existed: c.existed, quorum: c.quorum, hinted: c.hinted, hintsDropped: c.hintsDropped };
    }
    case 'ae.hashes': {
      return { hashes: (reply as PeerReplies['ae.hashes']).hashes.map((h) => h ?? null) };
    }
    case 'ae.leaves':
      return { entries: (reply as PeerReplies['ae.leaves']).entries };
    case 'ae.fetch': {
      const f = reply as PeerReplies['ae.fetch'];
      const records = f.records.map((r) => (r ? recordJson(r) : null));
      return f.skipped ? { records, skipped: f.skipped } : { records };
    }
    case 'ae.store': {
      const s = reply as PeerReplies['ae.store'];
      return s.results ? { stored: s.stored, results: errors(s.results) } : { stored: s.stored };
    }
    case 'kv.scan': {
      const page = reply as PeerReplies['kv.scan'];
      return { entries: page.entries.map((e) => ({ key: e.key.toString('base64'), record: recordJson(e.record) })), exhausted: page.exhausted };
    }
  }
}

/** The reply frame to a request in the JSON view (sent under `id`), in the JSON view; throws the error of an error frame. */
export function jsonReplyOf(body: Record<string, unknown>, id: number, frame: Buffer): Record<string, unknown> {
  const request = typedShape(body);
  // Bounds far above any node's: what a node answers is shown as it is.
  return replyJson(request, replyOf(request, id, frame, { ...defaultLimits, maxValueBytes: 64 * 1024 * 1024, maxSiblings: 1_000_000 }));
}

/** A request in the JSON view sent to a simulated node as a peer link would send it; resolves its reply in the JSON view. */
export async function simAsPeer(sim: SimCluster, node: SimNode, body: Record<string, unknown>, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return jsonReplyOf(body, 1, await sim.settle(sim.requestFrame(node, frameFromJson(body, 1), timeoutMs)));
}

/** A connection that proved the cluster secret and speaks frames, as a node (or a process that stole the secret) would. */
export class TestPeer {
  private constructor(
    readonly connection: LineConnection,
    /** The node that proved itself at the other end. */
    readonly node: string,
  ) {}

  static async connect(addr: string, secret: string, extra: Omit<ClientOptions, 'peer'> = {}): Promise<TestPeer> {
    const connection = await LineConnection.connect(addr, { timeoutMs: 5000, ...extra });
    try {
      const other = await provePeer(
        (body) => connection.request(body),
        { secrets: [Buffer.from(secret)], self: () => ({ name: 'test-peer', cluster: '' }), randomBytes },
        addr,
      );
      return new TestPeer(connection, other.name);
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  /** A frame-layer ping; resolves the node's name once it answered (and learns its frame limit). */
  async ping(): Promise<string> {
    const pong = await this.connection.requestFrame(encodePingFrame);
    if (readFrameHeader(pong).kind === FRAME_ERROR) throw decodeErrorFrame(pong);
    this.connection.learnFrameLimit(decodePingReply(pong));
    return this.node;
  }

  /** Sends a request in the JSON view; resolves its reply in the JSON view, or rejects the node's error. */
  async request(body: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
    let sentId = 0;
    const reply = await this.connection.requestFrame((id) => {
      sentId = id;
      return frameFromJson(body, id);
    }, timeoutMs);
    return jsonReplyOf(body, sentId, reply);
  }

  /** Sends any frame, made for the id given; resolves the whole reply frame (an error frame included). */
  requestFrame(frame: (id: number) => Buffer, timeoutMs?: number): Promise<Buffer> {
    return this.connection.requestFrame(frame, timeoutMs);
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/** The error a frame reply carries (undefined for a reply that is no error). */
export function frameError(frame: Buffer): KvError | undefined {
  return readFrameHeader(frame).kind === FRAME_ERROR ? decodeErrorFrame(frame) : undefined;
}

/** Reads lines and frames from a raw socket, in order, as they arrive. */
export class WireReader {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  private async until<T>(take: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.closed) throw new Error(`the connection closed before ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** The next line, parsed. */
  line(): Promise<Record<string, unknown>> {
    return this.until(() => {
      const nl = this.buffered.indexOf(0x0a);
      if (nl < 0) return undefined;
      const line = this.buffered.subarray(0, nl);
      this.buffered = this.buffered.subarray(nl + 1);
      return JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    }, 'a line');
  }

  /** The next whole frame. */
  frame(): Promise<Buffer> {
    return this.until(() => {
      if (this.buffered.length < 4 || this.buffered.length < this.buffered.readUInt32BE(0) + 4) return undefined;
      const frame = this.buffered.subarray(0, this.buffered.readUInt32BE(0) + 4);
      this.buffered = this.buffered.subarray(frame.length);
      return frame;
    }, 'a frame');
  }

  /** Resolves once the other end closed the connection. */
  ended(timeoutMs = 5000): Promise<true> {
    return this.until(() => (this.closed ? true : undefined), 'the close', timeoutMs);
  }
}

/**
 * A raw socket that ran the peer handshake by hand, speaking `version`, asking for frames unless
 * `frames` is false; `afterProof` is written in the same write as the proof line (a peer that pipelines). Resolves the socket and its reader
 * once the proof's reply (the last line) was read; rejects with the node's refusal.
 */
export async function rawPeer(
  addr: string,
  secret: Buffer,
  options: { version?: number; afterProof?: Buffer; frames?: boolean } = {},
): Promise<{ socket: Socket; reader: WireReader }> {
  const [host, port] = addr.split(':') as [string, string];
  const socket = connect({ host, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const reader = new WireReader(socket);
  const clientNonce = randomBytes(32);
  socket.write(
    `${JSON.stringify({ id: 1, op: 'peer.hello', version: options.version ?? PEER_PROTOCOL_VERSION, node: 'raw-peer', cluster: '', nonce: clientNonce.toString('base64') })}\n`,
  );
  const hello = await reader.line();
  if (hello.ok !== true) throw KvError.fromWire(hello.error);
  const transcript = {
    clientNonce,
    serverNonce: Buffer.from(hello.nonce as string, 'base64'),
    cluster: hello.cluster as string,
    client: 'raw-peer',
    server: hello.node as string,
  };
  const proofs = [peerProof(secret, 'client', transcript).toString('base64')];
  const proof = Buffer.from(`${JSON.stringify({ id: 2, op: 'peer.proof', proofs, ...(options.frames === false ? {} : { frames: true }) })}\n`);
  socket.write(options.afterProof ? Buffer.concat([proof, options.afterProof]) : proof);
  const answer = await reader.line();
  if (answer.ok !== true) throw KvError.fromWire(answer.error);
  return { socket, reader };
}
