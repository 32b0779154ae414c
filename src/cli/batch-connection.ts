/**
 * The connection a `--stdin` batch runs on, reopened when the daemon closes it or it drops. Every
 * connection is pinged before use, which also tells the client the daemon's limits (so a line the
 * daemon would refuse at the connection level is refused before it is sent). Reopening is tried
 * with backoff for up to `reopenWindowMs`; after that the batch gives up with KV_UNREACHABLE.
 * Lines waiting for a connection share one reopening.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KvClient } from '../client/client.js';
import { KvError, toKvError } from '../errors.js';

const FIRST_RETRY_DELAY_MS = 25;
const MAX_RETRY_DELAY_MS = 1_000;

export class BatchConnection {
  private current: KvClient;
  /** A connection we stopped sending on (the daemon said it is stopping) though it is not closed yet. */
  private retired: KvClient | undefined;
  private reopening: Promise<KvClient> | undefined;
  private gaveUp: KvError | undefined;
  /** Connections opened since the first one (the caller owns the first). */
  reopened = 0;

  constructor(
    private readonly first: KvClient,
    private readonly open: () => Promise<KvClient>,
    private readonly reopenWindowMs: number,
  ) {
    this.current = first;
  }

  /** Pings the first connection: a daemon that does not answer fails the batch before its first line. */
  async start(): Promise<void> {
    await this.first.ping();
  }

  /** The connection to send on right now, or undefined when it was lost (then await `reopen`). */
  openClient(): KvClient | undefined {
    return this.current.closeReason || this.current === this.retired ? undefined : this.current;
  }

  /** Stops sending on `client` (still open, but the daemon will not run more on it); the next send reopens. */
  retire(client: KvClient): void {
    this.retired = client;
  }

  /** A fresh connection in place of the lost one; rejects KV_UNREACHABLE once the daemon stayed away too long. */
  reopen(): Promise<KvClient> {
    if (this.gaveUp) return Promise.reject(this.gaveUp);
    const open = this.openClient();
    if (open) return Promise.resolve(open);
    this.reopening ??= this.reopenWithBackoff().finally(() => {
      this.reopening = undefined;
    });
    return this.reopening;
  }

  /** Closes the connections this batch opened; the first one is its caller's to close. */
  async close(): Promise<void> {
    if (this.current !== this.first) await this.current.close();
  }

  private async reopenWithBackoff(): Promise<KvClient> {
    const lost = this.current;
    if (lost !== this.first) void lost.close();
    const giveUpAt = Date.now() + this.reopenWindowMs;
    let lastError = lost.closeReason ?? new KvError('KV_SHUTTING_DOWN', `the daemon at ${lost.addr} is stopping`);
    for (let delayMs = FIRST_RETRY_DELAY_MS; ; delayMs = Math.min(2 * delayMs, MAX_RETRY_DELAY_MS)) {
      try {
        const client = await this.open();
        try {
          await client.ping();
        } catch (err) {
          await client.close();
          throw err;
        }
        this.current = client;
        this.reopened++;
        return client;
      } catch (err) {
        lastError = toKvError(err);
      }
      if (Date.now() + delayMs > giveUpAt) break;
      await sleep(delayMs);
    }
    this.gaveUp = new KvError(
      'KV_UNREACHABLE',
      `the connection to ${lost.addr} was lost and could not be reopened within ${this.reopenWindowMs} ms (${lastError.message})`,
      { addr: lost.addr, cause: lastError.code },
    );
    throw this.gaveUp;
  }
}
