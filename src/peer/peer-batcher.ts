/**
 * Gathers the per-key messages of one event-loop turn into one message per peer (Dynamo's
 * per-request messages, batched per tick as the group commit batches disk writes): records for a
 * replica (kv.replicate.many), clocks to ask a replica for (kv.clocks). A batch holds at most
 * `maxItems` items and `maxBytes` of their payload (a single larger item goes alone), so it always
 * fits a peer's line limit. Each item's promise settles with the peer's result for it, in order,
 * or with the error of the whole batch.
 */
import type { Clock } from '../env/clock.js';
import { withResolvers } from '../env/with-resolvers.js';

interface Pending<Item, Result> {
  item: Item;
  bytes: number;
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
}

/** Sends one batch of items to a peer; resolves with one result per item, in order. */
export type SendBatch<Item, Result> = (peer: string, items: Item[]) => Promise<Result[]>;

export class PeerBatcher<Item, Result> {
  private readonly queued = new Map<string, Pending<Item, Result>[]>();
  private flushScheduled = false;
  batches = 0;
  items = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limits: { maxItems: number; maxBytes: number },
    /** The payload bytes of an item, for the batch's byte bound. */
    private readonly bytesOf: (item: Item) => number,
    private readonly sendBatch: SendBatch<Item, Result>,
  ) {}

  /** Queues `item` for `peer`'s next batch; settles with the peer's result for it. */
  add(peer: string, item: Item): Promise<Result> {
    const { promise, resolve, reject } = withResolvers<Result>();
    let queue = this.queued.get(peer);
    if (!queue) {
      queue = [];
      this.queued.set(peer, queue);
    }
    queue.push({ item, bytes: this.bytesOf(item), resolve, reject });
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
        while (end < queue.length && end - start < maxItems && (end === start || bytes + (queue[end] as Pending<Item, Result>).bytes <= maxBytes)) {
          bytes += (queue[end] as Pending<Item, Result>).bytes;
          end++;
        }
        void this.send(peer, queue.slice(start, end));
        start = end;
      }
    }
  }

  private async send(peer: string, batch: Pending<Item, Result>[]): Promise<void> {
    this.batches++;
    this.items += batch.length;
    try {
      const results = await this.sendBatch(
        peer,
        batch.map((p) => p.item),
      );
      for (let i = 0; i < batch.length; i++) (batch[i] as Pending<Item, Result>).resolve(results[i] as Result);
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
