/**
 * The requests a node serves, as types: the client ops (put/get/delete, views, admin) and the
 * peer ops (protocol/peer.ts). net/ turns a line into one of these, validated, or refuses it;
 * engines see nothing else.
 */
import { isUtf8 } from 'node:buffer';
import type { VersionVector } from '../clock/index.js';
import type { ClusterSettings, Consistency } from '../config.js';
import type { WireError } from '../errors.js';
import type { PeerRequest } from './peer.js';

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
    }
  | { op: 'get'; key: Buffer; r: number | undefined; consistency: Consistency | undefined; encoding: Encoding }
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

/** The encoding a reply must use for `values`: utf8 only when every value is valid UTF-8. */
export function replyEncoding(values: readonly Buffer[], requested: Encoding): Encoding {
  if (requested === 'base64') return 'base64';
  return values.every((v) => isUtf8(v)) ? 'utf8' : 'base64';
}
