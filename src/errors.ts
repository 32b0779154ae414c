/**
 * The one registry of error codes (fastify/undici style): every failure that crosses a process
 * boundary carries a stable `code`; messages may change, codes never do. The CLI maps codes to
 * exit statuses here and nowhere else; `man/kvctl.1` is generated from this table.
 */

import { isJsonObject } from './json.js';

/** Exit statuses a script can trust. Distinct per class of failure. */
export const ExitStatus = {
  ok: 0,
  notFound: 1,
  usage: 2,
  unreachable: 3,
  rejected: 4,
  quorum: 5,
  startFailed: 6,
  siblings: 7,
  internal: 70,
} as const;
export type ExitStatusValue = (typeof ExitStatus)[keyof typeof ExitStatus];

interface ErrorSpec {
  exit: ExitStatusValue;
  summary: string;
  /** True when the same request may succeed if simply sent again later. */
  retryable: boolean;
}

export const errorCodes = {
  KV_NOT_FOUND: { exit: ExitStatus.notFound, summary: 'The key has no value (never written, or deleted).', retryable: false },
  KV_SIBLINGS: {
    exit: ExitStatus.siblings,
    summary: 'The key holds several concurrent values (siblings); get --all or --json shows them, put --context resolves them.',
    retryable: false,
  },
  KV_USAGE: { exit: ExitStatus.usage, summary: 'The command line is wrong: unknown flag, missing argument, value out of range.', retryable: false },
  KV_UNREACHABLE: { exit: ExitStatus.unreachable, summary: 'No daemon answered at the address (refused, reset or timed out).', retryable: true },
  KV_TIMEOUT: { exit: ExitStatus.unreachable, summary: 'The daemon accepted the request but did not reply in time.', retryable: true },
  KV_BAD_JSON: { exit: ExitStatus.rejected, summary: 'A request line is not valid JSON or not a JSON object.', retryable: false },
  KV_BAD_ENCODING: { exit: ExitStatus.rejected, summary: 'A request line is not valid UTF-8, or a base64 field is malformed.', retryable: false },
  KV_BAD_REQUEST: { exit: ExitStatus.rejected, summary: 'A field is missing, has the wrong type, or is not allowed (e.g. __proto__).', retryable: false },
  KV_FORBIDDEN: {
    exit: ExitStatus.rejected,
    summary:
      'The connection may not run this op: node-to-node ops need an authenticated peer, admin ops an admin token (or, without tokens, the node’s own host).',
    retryable: false,
  },
  KV_AUTH_REQUIRED: {
    exit: ExitStatus.rejected,
    summary: 'The daemon serves only clients with a token (--client-token-file): give --token-file or KVCTL_TOKEN_FILE.',
    retryable: false,
  },
  KV_AUTH_FAILED: {
    exit: ExitStatus.rejected,
    summary: 'Authentication failed: a token the daemon does not know, or a node whose cluster secret (--secret-file) does not match.',
    retryable: false,
  },
  KV_TLS_FAILED: {
    exit: ExitStatus.unreachable,
    summary: 'The TLS handshake failed: a certificate not signed by the CA given (--tls-ca), a name it does not cover, or a daemon that does not speak TLS.',
    retryable: false,
  },
  KV_UNKNOWN_OP: { exit: ExitStatus.rejected, summary: 'The op is not one this daemon serves.', retryable: false },
  KV_BAD_CONTEXT: { exit: ExitStatus.rejected, summary: 'The causal context is not one this store issued for this key.', retryable: false },
  KV_BAD_IMPORT: {
    exit: ExitStatus.rejected,
    summary: 'An import line is not a record in the export format (kvctl export) this kvctl reads.',
    retryable: false,
  },
  KV_BAD_TTL: { exit: ExitStatus.rejected, summary: 'The time to live is not a whole number of milliseconds from 1 to 100 years.', retryable: false },
  KV_EMPTY_KEY: { exit: ExitStatus.rejected, summary: 'Keys must be at least one byte long.', retryable: false },
  KV_KEY_TOO_LARGE: { exit: ExitStatus.rejected, summary: 'The key is longer than the maximum key size (--max-key-bytes).', retryable: false },
  KV_VALUE_TOO_LARGE: { exit: ExitStatus.rejected, summary: 'The value is longer than the maximum value size (--max-value-bytes).', retryable: false },
  KV_RECORD_TOO_LARGE: {
    exit: ExitStatus.rejected,
    summary:
      "The write would make the key's record larger than a node keeps (--max-record-bytes, its values' bytes together): resolve its siblings with a context, or write a smaller value.",
    retryable: false,
  },
  KV_LINE_TOO_LONG: {
    exit: ExitStatus.rejected,
    summary: 'A request line exceeds the maximum line size (--max-line-bytes); the connection is closed.',
    retryable: false,
  },
  KV_TOO_MANY_SIBLINGS: {
    exit: ExitStatus.rejected,
    summary: 'The key already holds the maximum number of concurrent values; write with a context to resolve them.',
    retryable: false,
  },
  KV_TOO_MANY_CONNECTIONS: { exit: ExitStatus.unreachable, summary: 'The daemon is at its connection limit (--max-connections).', retryable: true },
  KV_REPLY_TOO_LARGE: {
    exit: ExitStatus.rejected,
    summary: 'The reply would exceed the line limit (--max-line-bytes), so it was not sent; the connection stays open.',
    retryable: false,
  },
  KV_READ_TIMEOUT: {
    exit: ExitStatus.unreachable,
    summary: 'The connection sent part of a request line and then nothing for too long (--read-timeout-ms); the daemon closed it.',
    retryable: true,
  },
  KV_IDLE_TIMEOUT: {
    exit: ExitStatus.unreachable,
    summary:
      "The connection carried nothing for too long (--idle-timeout-ms), or a peer's connection did (--peer-idle-timeout-ms) or was closed while quiet to make room for another peer; the daemon closed it.",
    retryable: true,
  },
  KV_SHUTTING_DOWN: { exit: ExitStatus.unreachable, summary: 'The daemon is stopping and takes no new requests.', retryable: true },
  KV_INVALID_QUORUM: { exit: ExitStatus.usage, summary: 'W or R is below 1 or above N, the number of replicas per key.', retryable: false },
  KV_QUORUM_UNAVAILABLE: {
    exit: ExitStatus.quorum,
    summary: "Strict mode: fewer of the key's own replicas are reachable than W (or R) needs; nothing was written.",
    retryable: true,
  },
  KV_CLUSTER_MISMATCH: {
    exit: ExitStatus.startFailed,
    summary: 'The node belongs to another cluster, or its settings (N, W, R, consistency) conflict with the cluster it joins.',
    retryable: false,
  },
  KV_NOT_MEMBER: { exit: ExitStatus.rejected, summary: 'The node is leaving or has left the cluster and takes no more requests.', retryable: true },
  KV_NODE_UP: {
    exit: ExitStatus.rejected,
    summary: 'kvctl remove refused: the node is up (alive or suspect); take a live node out with kvctl leave, or remove it with --force.',
    retryable: false,
  },
  KV_REMOVED: {
    exit: ExitStatus.startFailed,
    summary: 'The node was removed from its cluster (kvctl remove); wipe its data dir and join it as a new node.',
    retryable: false,
  },
  KV_QUORUM_NOT_MET: { exit: ExitStatus.quorum, summary: 'Fewer replicas than W (or R) answered before the timeout.', retryable: true },
  KV_PORT_IN_USE: { exit: ExitStatus.startFailed, summary: 'Another process already listens on the address.', retryable: false },
  KV_DATA_DIR_LOCKED: { exit: ExitStatus.startFailed, summary: 'Another daemon already uses the data dir (LevelDB lock).', retryable: false },
  KV_START_FAILED: { exit: ExitStatus.startFailed, summary: 'The daemon could not start; its log says why.', retryable: false },
  KV_NOT_RUNNING: { exit: ExitStatus.unreachable, summary: 'No daemon runs for this data dir or address.', retryable: false },
  KV_STORAGE: { exit: ExitStatus.internal, summary: 'The storage engine failed (disk full, I/O error); nothing was acknowledged.', retryable: true },
  KV_HINTS_FULL: {
    exit: ExitStatus.quorum,
    summary: 'A fallback dropped a hint: its hint cap for the down replica (--hint-max-mb) is reached; the write was not counted there.',
    retryable: true,
  },
  KV_BAD_RANGE: {
    exit: ExitStatus.rejected,
    summary: 'A scan range holds no key: start is not below end, or no key with the prefix lies between them.',
    retryable: false,
  },
  KV_BAD_CURSOR: { exit: ExitStatus.rejected, summary: 'A scan cursor is not one a scan returned; pass it as it was given.', retryable: false },
  KV_TOO_MANY_SCANS: {
    exit: ExitStatus.rejected,
    summary: 'The connection already runs the most scans one connection may run at once; wait for one to finish or use another connection.',
    retryable: true,
  },
  KV_INTERNAL: { exit: ExitStatus.internal, summary: 'A bug: the daemon or the CLI hit an unexpected condition.', retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorCodes, code);
}

/** A failure with a stable code; `details` is plain JSON that travels on the wire. */
export class KvError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KvError';
    this.code = code;
    this.details = details;
  }

  get exitStatus(): ExitStatusValue {
    return errorCodes[this.code].exit;
  }

  toWire(): WireError {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }

  /**
   * Rebuilds an error received on the wire, checked: unknown codes become KV_INTERNAL (keeping the
   * original), and anything that is not an error object says so rather than being trusted.
   */
  static fromWire(raw: unknown): KvError {
    if (!isJsonObject(raw) || typeof raw.code !== 'string') {
      return new KvError('KV_INTERNAL', 'the other side sent an error reply without a valid error');
    }
    const code = raw.code.slice(0, 64);
    const message = typeof raw.message === 'string' ? raw.message.slice(0, 4096) : '';
    const details = isJsonObject(raw.details) ? raw.details : undefined;
    if (isErrorCode(code)) return new KvError(code, message, details);
    return new KvError('KV_INTERNAL', `${code}: ${message}`, details);
  }
}

export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Any thrown value as a KvError; anything unexpected is KV_INTERNAL with the original as cause. */
export function toKvError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KvError('KV_INTERNAL', message, undefined, { cause: err });
}
