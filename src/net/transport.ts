/**
 * The node-to-node transport contract (memberlist's `transport.go` idea, with the clock injected
 * too): one request, one reply, over whatever carries them. TcpTransport carries them over the
 * same NDJSON port clients use; the simulator's SimNetwork carries them in memory with latency,
 * loss and partitions.
 */
import { KvClient } from '../client/client.js';
import { KvError } from '../errors.js';
import type { RequestBody } from './prepared-body.js';

export interface Transport {
  /**
   * Sends `body` (a dotted node-to-node op) to the node at `addr` and resolves its reply.
   * Rejects with KvError: KV_UNREACHABLE (cannot connect, connection lost), KV_TIMEOUT (no reply
   * in `timeoutMs`), or the error code the peer replied with. Best effort: no retries here.
   */
  request(addr: string, body: RequestBody, timeoutMs: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** One pooled connection per peer address, re-made after a failure. */
export class TcpTransport implements Transport {
  private readonly clients = new Map<string, Promise<KvClient>>();

  constructor(private readonly connectTimeoutMs = 1000) {}

  async request(addr: string, body: RequestBody, timeoutMs: number): Promise<Record<string, unknown>> {
    let pending = this.clients.get(addr);
    if (!pending) {
      pending = KvClient.connect(addr, { timeoutMs: Math.min(this.connectTimeoutMs, timeoutMs) });
      this.clients.set(addr, pending);
    }
    let client: KvClient;
    try {
      client = await pending;
    } catch (err) {
      if (this.clients.get(addr) === pending) this.clients.delete(addr);
      throw err;
    }
    try {
      return await client.request(body, timeoutMs);
    } catch (err) {
      if ((err as KvError).code === 'KV_UNREACHABLE' && this.clients.get(addr) === pending) {
        this.clients.delete(addr);
        void client.close();
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((p) => p.then((c) => c.close()).catch(() => {})));
  }
}

export function isUnreachable(err: unknown): boolean {
  return err instanceof KvError && (err.code === 'KV_UNREACHABLE' || err.code === 'KV_TIMEOUT');
}
