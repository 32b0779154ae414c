/**
 * The NDJSON client that commands, tests and benchmarks use: a LineConnection (net/) with the
 * client ops as typed methods.
 */
import type { Consistency, Limits } from '../config.js';
import { isJsonObject } from '../json.js';
import { LineConnection } from '../net/line-connection.js';
import type { Encoding } from '../protocol/client.js';

export interface GetResult {
  found: boolean;
  /** Raw bytes of each concurrent value (one unless there are siblings). */
  values: Buffer[];
  context: string | undefined;
  /** Nodes that answered; with fallbacks among them (sloppy), the value may be stale. */
  replicas: string[];
  maybeStale: boolean;
  /** Each value's deadline in ms since the epoch (null: none), when any value has one. */
  expiresAt?: (number | null)[];
}

export interface WriteOptions {
  context?: string;
  w?: number;
  consistency?: Consistency;
  /** put without a context: keep what is there as siblings instead of superseding it. */
  keepSiblings?: boolean;
  /** put: the value expires this many ms after the daemon takes it. */
  ttlMs?: number;
}

export class KvClient extends LineConnection {
  /** Asks the daemon its name, and remembers the limits it reports (see `daemonLimits`). */
  async ping(): Promise<string> {
    const reply = await this.request({ op: 'ping' });
    this.limits = limitsOf(reply.limits) ?? this.limits;
    return String(reply.node);
  }

  async stats(): Promise<Record<string, unknown>> {
    const { id: _id, ok: _ok, ...rest } = await this.request({ op: 'stats' });
    return rest;
  }

  async put(
    key: Buffer | string,
    value: Buffer | string,
    options: WriteOptions = {},
  ): Promise<{ context: string; siblings: number; hinted: string[]; hintsDropped: string[]; expiresAt?: number }> {
    const reply = await this.requestText(`"op":"put",${bytesFields(key, value)}${writeFieldsText(options)}`);
    return {
      context: String(reply.context),
      siblings: Number(reply.siblings ?? 1),
      hinted: (reply.hinted as string[] | undefined) ?? [],
      hintsDropped: (reply.hintsDropped as string[] | undefined) ?? [],
      ...(typeof reply.expiresAt === 'number' ? { expiresAt: reply.expiresAt } : {}),
    };
  }

  async get(key: Buffer | string, options: { r?: number; consistency?: Consistency } = {}): Promise<GetResult> {
    const reply = await this.requestText(`"op":"get",${bytesFields(key)}${writeFieldsText({ r: options.r, consistency: options.consistency })}`);
    const encoding = (reply.encoding as Encoding | undefined) ?? 'utf8';
    const values = reply.found ? (reply.values as string[]).map((v) => Buffer.from(v, encoding)) : [];
    return {
      found: reply.found === true,
      values,
      context: typeof reply.context === 'string' ? reply.context : undefined,
      replicas: (reply.replicas as string[] | undefined) ?? [],
      maybeStale: reply.maybeStale === true,
      ...(Array.isArray(reply.expiresAt) ? { expiresAt: reply.expiresAt as (number | null)[] } : {}),
    };
  }

  async delete(key: Buffer | string, options: WriteOptions = {}): Promise<{ existed: boolean; context: string }> {
    const reply = await this.requestText(`"op":"delete",${bytesFields(key)}${writeFieldsText(options)}`);
    return { existed: reply.existed === true, context: String(reply.context) };
  }
}

const LIMIT_NAMES: readonly (keyof Limits)[] = ['maxLineBytes', 'maxKeyBytes', 'maxValueBytes', 'maxConnections', 'maxInFlightPerConnection', 'maxSiblings'];

/** The limits in a ping reply, when every one is there as a whole number (a daemon that does not say them gives undefined). */
function limitsOf(raw: unknown): Limits | undefined {
  if (!isJsonObject(raw)) return undefined;
  const fields = raw;
  const limits: Partial<Limits> = {};
  for (const name of LIMIT_NAMES) {
    const value = fields[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined;
    limits[name] = value;
  }
  return limits as Limits;
}

/**
 * The key (and value) fields as JSON text. Strings travel as UTF-8 (escaped by JSON.stringify); any
 * Buffer makes the whole request base64, which is binary-safe and needs no escaping.
 */
function bytesFields(key: Buffer | string, value?: Buffer | string): string {
  if (typeof key === 'string' && (value === undefined || typeof value === 'string')) {
    return value === undefined ? `"key":${JSON.stringify(key)}` : `"key":${JSON.stringify(key)},"value":${JSON.stringify(value)}`;
  }
  const b64 = (x: Buffer | string) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x).toString('base64');
  return value === undefined ? `"key":"${b64(key)}","encoding":"base64"` : `"key":"${b64(key)}","value":"${b64(value)}","encoding":"base64"`;
}

/** Optional request fields as JSON text, each with its leading comma. */
function writeFieldsText(options: { context?: string; w?: number; r?: number; consistency?: Consistency; keepSiblings?: boolean; ttlMs?: number }): string {
  let out = '';
  if (options.keepSiblings) out += ',"keepSiblings":true';
  if (options.ttlMs !== undefined) out += `,"ttlMs":${JSON.stringify(options.ttlMs)}`;
  if (options.context !== undefined) out += `,"context":${JSON.stringify(options.context)}`;
  if (options.w !== undefined) out += `,"w":${JSON.stringify(options.w)}`;
  if (options.r !== undefined) out += `,"r":${JSON.stringify(options.r)}`;
  if (options.consistency !== undefined) out += `,"consistency":${JSON.stringify(options.consistency)}`;
  return out;
}
