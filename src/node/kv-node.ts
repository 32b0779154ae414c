/**
 * A node's request handler: validates each wire request and runs it against the local replica.
 * The same KvNode serves the daemon (over TCP) and tests (in-process). In a single-node store
 * N = 1, so a `w` or `r` above 1 is refused rather than silently weakened.
 */
import { encodeContext, isTombstone, liveSiblings } from '../clock/index.js';
import type { Limits } from '../config.js';
import type { Clock } from '../env/clock.js';
import { KvError, toKvError } from '../errors.js';
import { encodeBytes, parseRequest, type Reply, type Request, replyEncoding, requestIdOf } from '../net/protocol.js';
import type { LocalReplica } from './local-replica.js';

export interface KvNodeOptions {
  name: string;
  clock: Clock;
  limits: Limits;
  /** Replicas per key; 1 until the node joins a cluster. */
  replicas: number;
  /** Extra figures for `stats` from the process around the node (connections, pid, addresses). */
  processStats?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
}

export class KvNode {
  private readonly startedAt: number;
  errors = 0;

  constructor(
    private readonly replica: LocalReplica,
    private readonly options: KvNodeOptions,
  ) {
    this.startedAt = options.clock.now();
  }

  /** Answers one request line; never throws (errors become error replies). */
  async handleLine(line: Buffer): Promise<Reply> {
    let request: Request;
    try {
      request = parseRequest(line, this.options.limits);
    } catch (err) {
      this.errors++;
      return { id: requestIdOf(err), ok: false, error: toKvError(err).toWire() };
    }
    try {
      return await this.handle(request);
    } catch (err) {
      this.errors++;
      return { id: request.id, ok: false, error: toKvError(err).toWire() };
    }
  }

  async handle(request: Request): Promise<Reply> {
    const { id } = request;
    switch (request.op) {
      case 'ping':
        return { id, ok: true, node: this.options.name };
      case 'stats':
        return { id, ok: true, ...(await this.stats()) };
      case 'put': {
        this.checkQuorum('w', request.w);
        const { record } = await this.replica.write(request.key, request.value, request.context);
        return { id, ok: true, context: encodeContext(record.clock), siblings: liveSiblings(record).length };
      }
      case 'delete': {
        this.checkQuorum('w', request.w);
        const { record, existed } = await this.replica.write(request.key, null, request.context);
        return { id, ok: true, context: encodeContext(record.clock), existed };
      }
      case 'get': {
        this.checkQuorum('r', request.r);
        const record = await this.replica.read(request.key);
        if (!record || isTombstone(record)) {
          return record ? { id, ok: true, found: false, context: encodeContext(record.clock) } : { id, ok: true, found: false };
        }
        const values = await this.replica.values(record);
        const encoding = replyEncoding(values, request.encoding);
        return {
          id,
          ok: true,
          found: true,
          values: values.map((v) => encodeBytes(v, encoding)),
          encoding,
          context: encodeContext(record.clock),
        };
      }
    }
  }

  private checkQuorum(field: 'w' | 'r', value: number | undefined): void {
    if (value !== undefined && value > this.options.replicas) {
      throw new KvError('KV_BAD_REQUEST', `${field}=${value} exceeds N=${this.options.replicas} replicas`, { field, value, n: this.options.replicas });
    }
  }

  private async stats(): Promise<Record<string, unknown>> {
    const { cache, codec, counters } = this.replica;
    return {
      node: this.options.name,
      uptimeMs: this.options.clock.now() - this.startedAt,
      ops: { ...counters, errors: this.errors },
      cache: { entries: cache.size, bytes: cache.bytes, budgetBytes: cache.budgetBytes, hits: cache.hits, misses: cache.misses, hitRatio: cache.hitRatio },
      codec: { name: codec.codec.name, compressedValues: codec.compressed, rawValues: codec.storedRaw },
      limits: this.options.limits,
      ...(await this.options.processStats?.()),
    };
  }
}
