/**
 * The rules of a node's pool of outgoing peer links, free of sockets and of time (the caller
 * passes `now`), so that they can be tested on their own (net/tcp-transport.ts applies them):
 *
 * - One link per peer address, carrying any number of requests at once. A link is busy while a
 *   request is in flight on it (the request that makes a link counts from the start, so a link
 *   being made is busy too), idle otherwise.
 * - At most `maxLinks` links, open or being made. A request to an address with no link takes a
 *   free place; with none free, the least recently used idle link is closed to make room; with
 *   every link busy, the request waits in line (FIFO) until a link goes idle or ends, or until
 *   its own deadline (the caller's). A request never waits on itself: it holds no place while it
 *   waits, so a wait ends when any other request does.
 * - At most `maxWaiting` requests wait; one more is refused at once (no queue grows without bound).
 * - A link idle for `idleTimeoutMs` is closed (0: never). Idleness is seen by the caller's regular
 *   looks (`takeIdle`), not stamped on every request: a link used since the last look counts as
 *   used at this one, so it is closed between the timeout and the timeout plus two looks' interval
 *   after its last request, and a request costs no clock read.
 */

export interface LinkPoolLimits {
  /** Links open or being made at once. */
  maxLinks: number;
  /** A link with no request in flight for this long is closed (0: never). */
  idleTimeoutMs: number;
  /** Requests waiting for a place at once. */
  maxWaiting: number;
}

/** One link's bookkeeping. `closed` once it left the pool (idle, evicted or ended): a late release does nothing. */
export interface LinkSlot {
  readonly addr: string;
  inFlight: number;
  /** The pool's count of request ends (and links made) when a request on it last ended: orders links by last use. */
  lastUse: number;
  /** `lastUse` as the last look saw it, and when that look (or the link's making) was. */
  seenUse: number;
  seenUsedAt: number;
  closed: boolean;
}

/**
 * What a request to an address gets: the link there (`use`), or a new place (`open`), made by
 * closing `evicted` (the least recently used idle link) when the pool was full. The request is
 * counted in flight on the slot from here on; `release` it when it ends.
 */
export type LinkGrant = { kind: 'use'; slot: LinkSlot } | { kind: 'open'; slot: LinkSlot; evicted: LinkSlot | undefined };

export class LinkPool<W> {
  /** By address. */
  private readonly slots = new Map<string, LinkSlot>();
  /** Requests waiting for a place, FIFO, with the address each is for. */
  private readonly waiters = new Map<W, string>();
  private uses = 0;

  constructor(readonly limits: LinkPoolLimits) {}

  /** Links open or being made. */
  get size(): number {
    return this.slots.size;
  }

  /** Requests waiting for a place. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** The link to `addr`, if any. */
  slotOf(addr: string): LinkSlot | undefined {
    return this.slots.get(addr);
  }

  /**
   * A request to `addr`: the link there, or a new place; undefined when it must wait (`wait`). A
   * request for a new place waits behind those already waiting, even when it could take one.
   */
  acquire(addr: string, now: number): LinkGrant | undefined {
    const slot = this.slots.get(addr);
    if (slot) {
      this.use(slot);
      return { kind: 'use', slot };
    }
    if (this.waiters.size > 0) return undefined;
    return this.place(addr, now);
  }

  /** Another request on `slot`, the link to its address (what `acquire` does when there is one). */
  use(slot: LinkSlot): void {
    slot.inFlight++;
  }

  /** Puts `waiter` in line for a place to `addr`; false when the line is full (refuse the request). */
  wait(waiter: W, addr: string): boolean {
    if (this.waiters.size >= this.limits.maxWaiting) return false;
    this.waiters.set(waiter, addr);
    return true;
  }

  /** `waiter` gives up (its deadline passed). */
  cancel(waiter: W): void {
    this.waiters.delete(waiter);
  }

  /** Every request waiting, in order, out of line (the pool is closing). */
  takeWaiting(): W[] {
    const out = [...this.waiters.keys()];
    this.waiters.clear();
    return out;
  }

  /**
   * A request on `slot` ended. Returns true when that made room for those waiting (the link is
   * idle now and someone waits): call `grant`.
   */
  release(slot: LinkSlot): boolean {
    if (slot.closed) return false;
    slot.inFlight--;
    slot.lastUse = ++this.uses;
    return slot.inFlight === 0 && this.waiters.size > 0;
  }

  /** The link left the pool (it ended, or the caller closes it). Returns true when someone waits: call `grant`. */
  remove(slot: LinkSlot): boolean {
    if (slot.closed) return false;
    slot.closed = true;
    if (this.slots.get(slot.addr) === slot) this.slots.delete(slot.addr);
    return this.waiters.size > 0;
  }

  /**
   * Hands places to waiting requests, in order, while there is room: each one granted leaves the
   * line. A waiter whose address got a link meanwhile (an earlier waiter's, in this same pass)
   * uses it without taking a place.
   */
  grant(now: number): [W, LinkGrant][] {
    const out: [W, LinkGrant][] = [];
    for (const [waiter, addr] of this.waiters) {
      const slot = this.slots.get(addr);
      let granted: LinkGrant | undefined;
      if (slot) {
        slot.inFlight++;
        granted = { kind: 'use', slot };
      } else granted = this.place(addr, now);
      if (!granted) continue; // no room: only those whose address has a link may go on
      this.waiters.delete(waiter);
      out.push([waiter, granted]);
    }
    return out;
  }

  /**
   * A look at the pool at `now` (the caller's regular sweep): takes the links not used since a
   * look at least `idleTimeoutMs` ago out of the pool and returns them (the caller closes them).
   */
  takeIdle(now: number): LinkSlot[] {
    const { idleTimeoutMs } = this.limits;
    if (idleTimeoutMs <= 0) return [];
    const out: LinkSlot[] = [];
    for (const slot of this.slots.values()) {
      if (slot.inFlight > 0 || slot.lastUse !== slot.seenUse) {
        // Busy now, or used since the last look: counted as used now.
        slot.seenUse = slot.lastUse;
        slot.seenUsedAt = now;
      } else if (now - slot.seenUsedAt >= idleTimeoutMs) out.push(slot);
    }
    for (const slot of out) this.remove(slot);
    return out;
  }

  /** A new slot for `addr`, closing the least recently used idle one when the pool is full; undefined when all are busy. */
  private place(addr: string, now: number): LinkGrant | undefined {
    let evicted: LinkSlot | undefined;
    if (this.slots.size >= this.limits.maxLinks) {
      // A scan of at most maxLinks, only when a link is made at the cap: cheaper than keeping the
      // slots in order of use on every request.
      for (const slot of this.slots.values()) {
        if (slot.inFlight === 0 && (evicted === undefined || slot.lastUse < evicted.lastUse)) evicted = slot;
      }
      if (!evicted) return undefined;
      evicted.closed = true;
      this.slots.delete(evicted.addr);
    }
    const use = ++this.uses;
    const slot: LinkSlot = { addr, inFlight: 1, lastUse: use, seenUse: use, seenUsedAt: now, closed: false };
    this.slots.set(addr, slot);
    return { kind: 'open', slot, evicted };
  }
}
