/**
 * What a node has to tell the cluster, piggybacked on its gossip messages, in the manner of
 * memberlist's TransmitLimitedQueue: a member's entry whose fields changed (or that is new, or
 * back), and suspicions. Each item is sent at most RETRANSMIT_MULT · ⌈log10(members + 1)⌉ times,
 * least-sent first, so news reaches every node in O(log n) rounds with high probability while a
 * message carries a bounded number of bytes; an item replaced by a newer one about the same member
 * starts over, and an entry with a newer refutation drops the suspicions it refutes. Pure.
 */
import type { MemberSuspicion } from './gossip-delta.js';
import type { MemberInfo } from './member-table.js';

/**
 * Each item goes out about 6 log10(n) times from each node that holds it. Memberlist's default is 4,
 * and its push-pull every 30 s mends what gossip missed; at 10 % loss, 4 left one node in a few
 * hundred unaware of a joiner for seconds in simulations of 50 nodes booting at once, 6 none.
 */
export const RETRANSMIT_MULT = 6;

/** Times an item is sent at most, with `members` in the cluster. */
export function retransmitLimit(members: number): number {
  return RETRANSMIT_MULT * Math.max(1, Math.ceil(Math.log10(members + 1)));
}

interface Item {
  member?: MemberInfo;
  suspicion?: MemberSuspicion;
  bytes: number;
  sent: number;
}

export interface News {
  members: MemberInfo[];
  suspects: MemberSuspicion[];
}

export class NewsQueue {
  /** Items by key ('m' or 's', then the member's name); each also sits in the bucket of its send count. */
  private readonly items = new Map<string, Item>();
  private readonly bySent: Map<string, Item>[] = [];
  /** The keys of the suspicions queued about each member. */
  private readonly suspicionKeys = new Map<string, Set<string>>();

  get size(): number {
    return this.items.size;
  }

  /** Queues a member's entry (replacing an older one); suspicions it refutes go. */
  addMember(info: MemberInfo): void {
    const keys = this.suspicionKeys.get(info.name);
    for (const key of keys ?? []) {
      const suspicion = this.items.get(key)?.suspicion;
      if (!suspicion || suspicion[1] !== info.generation || suspicion[2] < (info.refuted ?? 0)) this.drop(key);
    }
    this.put(`m${info.name}`, { member: info, bytes: JSON.stringify(info).length, sent: 0 });
  }

  /** Queues a suspicion (one per member and suspecting node). */
  addSuspicion(suspicion: MemberSuspicion): void {
    const key = `s${suspicion[0]}\n${suspicion[3]}`;
    this.put(key, { suspicion, bytes: JSON.stringify(suspicion).length, sent: 0 });
    let keys = this.suspicionKeys.get(suspicion[0]);
    if (!keys) {
      keys = new Set();
      this.suspicionKeys.set(suspicion[0], keys);
    }
    keys.add(key);
  }

  /**
   * Items for one message, least-sent first, up to `maxBytes` (at least one item, whatever its
   * size); each counts as sent once, and goes after its last allowed send.
   */
  take(maxBytes: number, members: number): News {
    const news: News = { members: [], suspects: [] };
    const limit = retransmitLimit(members);
    let bytes = 0;
    const taken: [string, Item][] = [];
    for (const bucket of this.bySent) {
      if (!bucket) continue;
      for (const [key, item] of bucket) {
        if (taken.length > 0 && bytes + item.bytes > maxBytes) break;
        bytes += item.bytes;
        taken.push([key, item]);
        if (item.member) news.members.push(item.member);
        if (item.suspicion) news.suspects.push(item.suspicion);
      }
      if (bytes >= maxBytes) break;
    }
    for (const [key, item] of taken) {
      this.bySent[item.sent]?.delete(key);
      item.sent++;
      if (item.sent >= limit) this.forget(key, item);
      else this.bucket(item.sent).set(key, item);
    }
    return news;
  }

  private put(key: string, item: Item): void {
    this.drop(key);
    this.items.set(key, item);
    this.bucket(0).set(key, item);
  }

  private drop(key: string): void {
    const held = this.items.get(key);
    if (!held) return;
    this.forget(key, held);
    this.bySent[held.sent]?.delete(key);
  }

  private forget(key: string, item: Item): void {
    this.items.delete(key);
    if (!item.suspicion) return;
    const keys = this.suspicionKeys.get(item.suspicion[0]);
    keys?.delete(key);
    if (keys?.size === 0) this.suspicionKeys.delete(item.suspicion[0]);
  }

  private bucket(sent: number): Map<string, Item> {
    let bucket = this.bySent[sent];
    if (!bucket) {
      bucket = new Map();
      this.bySent[sent] = bucket;
    }
    return bucket;
  }
}
