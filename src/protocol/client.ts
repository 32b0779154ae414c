/**
 * The requests a node serves, as types: the client ops (put/get/delete, views, admin) and the
 * peer ops (protocol/peer.ts). net/ turns a line into one of these, validated, or refuses it;
 * engines see nothing else.
 */
import { isUtf8 } from 'node:buffer';
import type { CausalRecord, VersionVector } from '../clock/index.js';
import type { ClusterSettings, Consistency } from '../config.js';
import type { WireError } from '../errors.js';
import type { PeerRequest } from './peer.js';
import type { ScanRequest } from './scan.js';

export type Encoding = 'utf8' | 'base64';
export type RequestId = number | string | null;

export type ClientRequest =
  | { op: 'ping' }
  | { op: 'stats' }
  | { op: 'members' }
  | { op: 'ring'; key: Buffer | undefined }
  | { op: 'leave' }
  | { op: 'remove'; node: string; force: boolean }
  | { op: 'reap' }
  | { op: 'cluster.set'; settings: Partial<ClusterSettings> }
  | { op: 'test.fault'; peer: string | undefined; mode: string }
  | { op: 'repair'; peer: string | undefined; dryRun: boolean; range: [number, number] | undefined }
  | {
      op: 'put';
      key: Buffer;
      value: Buffer;
      context: VersionVector | undefined;
      w: number | undefined;
      consistency: Consistency | undefined;
      encoding: Encoding;
      keepSiblings: boolean;
      /** Time to live: the value expires this many ms after the node asked takes the put (absent: never). */
      ttlMs?: number;
    }
  | { op: 'get'; key: Buffer; r: number | undefined; consistency: Consistency | undefined; encoding: Encoding }
  /** A key's whole record from an export line, merged into its replicas. */
  | { op: 'import'; key: Buffer; record: CausalRecord<Buffer>; w: number | undefined; consistency: Consistency | undefined }
  | ({ op: 'scan'; encoding: Encoding } & ScanRequest)
  | {
      op: 'delete';
      key: Buffer;
      context: VersionVector | undefined;
      w: number | undefined;
      consistency: Consistency | undefined;
      encoding: Encoding;
    };

/**
 * Ops that set up a connection: a client's token (`auth`), and the two steps of the peer
 * handshake (`peer.hello`: names, cluster and nonces; `peer.proof`: HMACs over them).
 */
export type ConnectionRequest =
  | { op: 'auth'; token: string }
  | { op: 'peer.hello'; version: number; node: string; cluster: string; nonce: Buffer }
  | { op: 'peer.proof'; proofs: Buffer[] };

/** Every request a node serves. */
export type Request = ClientRequest | PeerRequest | ConnectionRequest;
export type Op = Request['op'];

export type Reply = { id: RequestId; ok: true; [field: string]: unknown } | { id: RequestId; ok: false; error: WireError };

/** Bytes as a wire string in the given encoding. */
export function encodeBytes(bytes: Buffer, encoding: Encoding): string {
  return bytes.toString(encoding);
}

/** Bytes beyond base64's size a reply's UTF-8 value may take once escaped (a short JSON document is mostly quotes). */
export const UTF8_SLACK_BYTES = 64;

/**
 * The encoding a reply must use for `values`: utf8 only when every value is valid UTF-8 and their
 * JSON text is no longer than base64 plus UTF8_SLACK_BYTES each (control characters take up to 6
 * bytes once escaped), so a reply never takes much more than base64 would: what the limits on
 * records count on (protocol/record-size.ts).
 */
export function replyEncoding(values: readonly Buffer[], requested: Encoding): Encoding {
  if (requested === 'base64') return 'base64';
  if (!values.every((v) => isUtf8(v))) return 'base64';
  let room = 0;
  for (const v of values) room += 4 * Math.ceil(v.length / 3) - v.length + UTF8_SLACK_BYTES;
  for (const v of values) {
    room -= jsonEscapeBytes(v, room);
    if (room < 0) return 'base64';
  }
  return 'utf8';
}

/** Bytes JSON escaping adds to each byte: \b \t \n \f \r, " and \\ one more; other control characters five (\u00XX). */
const ESCAPE_EXTRA = (() => {
  const table = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) table[b] = 5;
  for (const b of [0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c]) table[b] = 1;
  return table;
})();

/** A byte JSON escapes, in a latin1 view of UTF-8 bytes (every byte one character; escaped ones are all ASCII). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const ESCAPED_BYTE = /[\u0000-\u001f"\\]/;

/** Bytes escaping adds to UTF-8 `bytes` as a JSON string, counted until it exceeds `stopAbove` (checked every 64 KiB). */
function jsonEscapeBytes(bytes: Buffer, stopAbove: number): number {
  let extra = 0;
  for (let start = 0; start < bytes.length && extra <= stopAbove; start += 65536) {
    const end = Math.min(bytes.length, start + 65536);
    // Most values escape nothing: one native regex scan says so, where counting byte by byte in
    // JavaScript took about 3 µs per 1 KiB reply.
    if (!ESCAPED_BYTE.test(bytes.toString('latin1', start, end))) continue;
    for (let i = start; i < end; i++) extra += ESCAPE_EXTRA[bytes[i] as number] as number;
  }
  return extra;
}
