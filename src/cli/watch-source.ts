/**
 * Where a --watch view gets its snapshots: it polls one node over a kept connection and, when that
 * node stops answering, tries the other nodes its last good snapshot showed up, in that order, and
 * stays with the first that answers. Every result says when, from which address, and on failure why
 * and which other nodes were tried; nothing is cached, so a failed poll never returns old data.
 */
import { KvClient } from '../client/client.js';
import { type KvError, toKvError } from '../errors.js';
import type { ClientOptions } from '../net/line-connection.js';

/** A node a snapshot knows of; `up` ones are where the watch may move. */
export interface KnownNode {
  name: string;
  addr: string;
  up: boolean;
}

export interface WatchSourceOptions<T> {
  addr: string;
  /** Deadline of each connect and each request, ms. */
  /** How to reach the daemons: deadline, TLS, token. */
  access: ClientOptions;
  /** The request whose reply is the snapshot (a view op: members, ring). */
  body: Record<string, unknown>;
  /** The nodes a snapshot lists. */
  nodes: (snapshot: T) => KnownNode[];
  /** The name of the node that answered, when the snapshot says. */
  self?: (snapshot: T) => string | undefined;
}

export interface Answer<T> {
  /** When the reply arrived, ms since the epoch. */
  at: number;
  addr: string;
  node?: string;
  snapshot: T;
}

export type PollResult<T> =
  | ({ ok: true; movedFrom?: { addr: string; at: number; error: KvError } } & Answer<T>)
  | { ok: false; at: number; addr: string; error: KvError; tried: string[] };

export class WatchSource<T> {
  private current: string;
  private client: KvClient | undefined;
  /** Other nodes that were up in the last good snapshot, in its order. */
  private fallbacks: string[] = [];
  private closed = false;

  constructor(private readonly o: WatchSourceOptions<T>) {
    this.current = o.addr;
  }

  /** The node polled first on the next poll. */
  get addr(): string {
    return this.current;
  }

  /** One poll: the current node, else each fallback in turn (the first that answers becomes current). */
  async poll(): Promise<PollResult<T>> {
    let error: KvError;
    try {
      return { ok: true, ...(await this.ask(this.current)) };
    } catch (err) {
      error = toKvError(err);
    }
    const failedAt = Date.now();
    const tried: string[] = [];
    for (const addr of this.fallbacks) {
      if (this.closed) break;
      tried.push(addr);
      try {
        const answer = await this.ask(addr);
        const movedFrom = { addr: this.current, at: failedAt, error };
        this.current = addr;
        return { ok: true, ...answer, movedFrom };
      } catch {
        // this one is gone too: try the next
      }
    }
    return { ok: false, at: Date.now(), addr: this.current, error, tried };
  }

  /** Drops the connection at once; a poll in flight fails and tries nothing more. */
  close(): void {
    this.closed = true;
    this.drop();
  }

  /** Asks `addr` for a snapshot; a kept connection that fails is replaced by a fresh one once (the daemon may have restarted). */
  private async ask(addr: string): Promise<Answer<T>> {
    if (this.client && this.client.addr !== addr) this.drop();
    if (this.client) {
      try {
        return await this.request(this.client, addr);
      } catch {
        this.drop();
      }
    }
    const client = await KvClient.connect(addr, this.o.access);
    if (this.closed) {
      client.destroy();
      throw new Error('watch closed');
    }
    this.client = client;
    try {
      return await this.request(client, addr);
    } catch (err) {
      this.drop();
      throw err;
    }
  }

  private async request(client: KvClient, addr: string): Promise<Answer<T>> {
    const { id: _id, ok: _ok, ...reply } = await client.request(this.o.body);
    const snapshot = reply as unknown as T;
    const nodes = this.o.nodes(snapshot);
    const node = this.o.self?.(snapshot) ?? nodes.find((n) => n.addr === addr)?.name;
    this.fallbacks = nodes.filter((n) => n.up && n.addr !== addr && n.name !== node).map((n) => n.addr);
    return { at: Date.now(), addr, ...(node === undefined ? {} : { node }), snapshot };
  }

  private drop(): void {
    this.client?.destroy();
    this.client = undefined;
  }
}
