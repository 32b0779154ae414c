/**
 * Gathers the per-key messages of one event-loop turn into one line per peer (Dynamo's
 * per-request messages, batched per tick as the group commit batches disk writes): a record for a
 * replica (kv.replicate.many), a clock to ask a replica for (kv.clocks). Each item is its JSON text;
 * a batch holds at most `maxItems` items and `maxBytes` of item text (a single larger item goes
 * alone), so a batch always fits a peer's line limit. Each item's promise settles with the peer's
 * result for it, in order, or with the error of the whole batch.
 */
import type { Clock } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';

interface Pending {
  text: string;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

/** Sends one batch of item texts to a peer; resolves with one result per item, in order. */
export type SendBatch = (peer: string, items: string[]) => Promise<unknown[]>;

export class PeerBatcher {
  private readonly queued = new Map<string, Pending[]>();
  private flushScheduled = false;
  batches = 0;
  items = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limits: { maxItems: number; maxBytes: number },
    private readonly sendBatch: SendBatch,
  ) {}

  /** Queues `text` for `peer`'s next batch; settles with the peer's result for it. */
  add(peer: string, text: string): Promise<unknown> {
    const { promise, resolve, reject } = withResolvers<unknown>();
    let queue = this.queued.get(peer);
    if (!queue) {
      queue = [];
      this.queued.set(peer, queue);
    }
    queue.push({ text, resolve, reject });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.defer(this.flushAtTurnEnd);
    }
    return promise;
  }

  private readonly flushAtTurnEnd = () => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    const byPeer = [...this.queued];
    this.queued.clear();
    const { maxItems, maxBytes } = this.limits;
    for (const [peer, queue] of byPeer) {
      let start = 0;
      while (start < queue.length) {
        let end = start;
        let bytes = 0;
        while (end < queue.length && end - start < maxItems && (end === start || bytes + (queue[end] as Pending).text.length <= maxBytes)) {
          bytes += (queue[end] as Pending).text.length;
          end++;
        }
        void this.send(peer, queue.slice(start, end));
        start = end;
      }
    }
  }

  private async send(peer: string, batch: Pending[]): Promise<void> {
    this.batches++;
    this.items += batch.length;
    try {
      const results = await this.sendBatch(
        peer,
        batch.map((p) => p.text),
      );
      for (let i = 0; i < batch.length; i++) (batch[i] as Pending).resolve(results[i]);
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
