/**
 * The byte budgets and clocks of a server's connections, free of sockets and of time (the caller
 * passes `now`), so that the rules can be tested on their own (net/tcp-server.ts applies them).
 *
 * - Replies: a request read from a connection runs only once its cost (its line or the reply it
 *   is expected to make, whichever is larger) fits the connection's budget and the daemon's; an answered request holds
 *   its serialized reply until the socket has flushed it. `ReplySizeEstimate` is the expected reply.
 * - Input: bytes of request lines read but not yet run (unfinished lines, and lines waiting for
 *   the reply budget) are capped daemon-wide (`InputBudget`).
 * - Clocks: when a connection owes the daemon the rest of a line, or owes it taking its replies,
 *   or has been idle too long (`ConnectionClock`), and which peer connection has been idle
 *   longest (`leastRecentlyActive`).
 */

/**
 * The largest reply seen recently, daemon-wide: the maximum over the current block of replies and
 * the one before, never below `floor`. It starts at `initial` (a reply carrying the largest value):
 * until replies have been seen, a request may make the largest one. The floor bounds how far a
 * burst of requests admitted while replies were small can overshoot when they turn out large:
 * by at most (largest reply / floor) times the budget.
 */
export class ReplySizeEstimate {
  private previousMax: number;
  private currentMax = 0;
  private seen = 0;

  constructor(
    initial: number,
    private readonly floor: number,
    private readonly blockSize = 64,
  ) {
    this.previousMax = initial;
  }

  record(bytes: number): void {
    if (bytes > this.currentMax) this.currentMax = bytes;
    if (++this.seen >= this.blockSize) {
      this.previousMax = this.currentMax;
      this.currentMax = 0;
      this.seen = 0;
    }
  }

  get bytes(): number {
    return Math.max(this.floor, this.previousMax, this.currentMax);
  }
}

/** A FIFO queue with O(1) shift and removal by identity (each member at most once). */
class WaitQueue<T> {
  private readonly members = new Set<T>();

  get size(): number {
    return this.members.size;
  }

  has(member: T): boolean {
    return this.members.has(member);
  }

  push(member: T): void {
    this.members.add(member);
  }

  /** The member waiting longest (a Set iterates in insertion order). */
  head(): T | undefined {
    for (const member of this.members) return member;
    return undefined;
  }

  delete(member: T): boolean {
    return this.members.delete(member);
  }
}

/**
 * Who goes first when several wait for room: peers (a flood of client requests must not starve the
 * node's replication and gossip), then clients with nothing running or unsent (a ping or a single
 * request waits for one reply to drain, not for every busy connection's turn), then busy clients.
 */
export const Priority = { peer: 0, quietClient: 1, busyClient: 2 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

/**
 * A daemon-wide byte budget that connections take from before running a request. Connections that
 * find no room wait in line, FIFO within each priority; a connection gets room only when no one
 * waits ahead of it, so none starves behind later arrivals of its priority. When nothing is held,
 * the first in line always gets room, however large its request: progress never depends on the
 * limit being larger than a request.
 */
export class SharedBudget<C> {
  private heldBytes = 0;
  private readonly queues = [new WaitQueue<C>(), new WaitQueue<C>(), new WaitQueue<C>()];
  /** Requests that found no room (they waited). */
  waits = 0;

  constructor(readonly limit: number) {}

  get held(): number {
    return this.heldBytes;
  }

  get waiting(): number {
    return this.queues.reduce((sum, queue) => sum + queue.size, 0);
  }

  /** The connection first in line, or undefined when none waits. */
  head(): C | undefined {
    for (const queue of this.queues) if (queue.size > 0) return queue.head();
    return undefined;
  }

  /**
   * Takes `bytes` for `member` when no one waits ahead of it and they fit (or nothing is held);
   * otherwise queues it (once, at `priority`) and returns false. A member that got room goes to
   * the back of the line for its next request, so waiting connections take turns.
   */
  take(member: C, bytes: number, priority: Priority): boolean {
    const head = this.head();
    if ((head === undefined || head === member) && (this.heldBytes === 0 || this.heldBytes + bytes <= this.limit)) {
      if (head !== undefined) this.leave(member);
      this.heldBytes += bytes;
      return true;
    }
    const queue = this.queues[priority] as WaitQueue<C>;
    if (!queue.has(member)) {
      // Already queued at another priority: it moves (its state changed while it waited); else a new wait.
      if (this.queued(member)) this.leave(member);
      else this.waits++;
      queue.push(member);
    }
    return false;
  }

  /** Adds bytes already spent (a reply larger than its estimate): counted, never refused. */
  add(bytes: number): void {
    this.heldBytes += bytes;
  }

  release(bytes: number): void {
    this.heldBytes -= bytes;
  }

  /** Leaves the line (the connection closed, or waits for something else now). */
  leave(member: C): void {
    for (const queue of this.queues) queue.delete(member);
  }

  private queued(member: C): boolean {
    return this.queues.some((queue) => queue.has(member));
  }
}

/**
 * Bytes of request input held across connections: unfinished lines, and finished lines not yet run.
 * A connection holding part of a line may go on reading while the total is within the limit;
 * beyond it, it pauses until room frees, except that one connection holding part of a line is
 * always read, so that some line always completes and frees room (no deadlock among connections
 * each holding half a line). A line that arrives whole in one read never waits here. The server
 * lets the read timeout run while a connection waits here: connections that each sent part of a
 * line and then nothing are all closed after it, not a few at a time as room frees.
 */
export class InputBudget<C> {
  private heldBytes = 0;
  private readonly byMember = new Map<C, number>();
  /** Connections holding part of a line and being read. */
  private readonly reading = new Set<C>();
  /** Connections holding part of a line, paused until room frees (FIFO). */
  private readonly paused = new WaitQueue<C>();
  /** Times a connection was paused for room. */
  waits = 0;

  constructor(readonly limit: number) {}

  get held(): number {
    return this.heldBytes;
  }

  /** Connections paused for room. */
  get pausedCount(): number {
    return this.paused.size;
  }

  /**
   * Records what `member` holds now (`partial`: part of a line among it). Returns false when it must
   * stop reading until `resumable` lists it, true when it may read on.
   */
  hold(member: C, bytes: number, partial: boolean): boolean {
    this.heldBytes += bytes - (this.byMember.get(member) ?? 0);
    if (bytes === 0) this.byMember.delete(member);
    else this.byMember.set(member, bytes);
    if (!partial) {
      this.reading.delete(member);
      this.paused.delete(member);
      return true;
    }
    if (this.paused.has(member)) return false;
    const othersReading = this.reading.size - (this.reading.has(member) ? 1 : 0);
    if (this.heldBytes <= this.limit || othersReading === 0) {
      this.reading.add(member);
      return true;
    }
    this.reading.delete(member);
    this.paused.push(member);
    this.waits++;
    return false;
  }

  /** Forgets `member` (closed). */
  drop(member: C): void {
    this.hold(member, 0, false);
  }

  /**
   * Paused connections that may read again now, in FIFO order (they count as reading from here
   * on). Each one resumed is expected to read up to `readAllowance` bytes before it is counted
   * again, so room for one is not handed to all of them at once.
   */
  resumable(readAllowance: number): C[] {
    const out: C[] = [];
    if (this.paused.size === 0) return out;
    for (;;) {
      const head = this.paused.head();
      if (head === undefined) return out;
      const room = this.heldBytes + out.length * readAllowance < this.limit;
      if (!room && this.reading.size > 0) return out;
      this.paused.delete(head);
      this.reading.add(head);
      out.push(head);
    }
  }
}

export interface ClockLimits {
  /** A connection holding part of a line that receives nothing for this long is closed (0: never). */
  readTimeoutMs: number;
  /** A connection with replies pending that takes none of them for this long is closed (0: never). */
  sendTimeoutMs: number;
  /** A client connection with nothing pending and no bytes either way for this long is closed (0: never). */
  idleTimeoutMs: number;
  /**
   * What a node waits before closing its own idle link to a peer (0: never). A peer's connection
   * to this node, quiet for twice as long, is closed here: the node that opened a link normally
   * closes it first, when it knows nothing is on its way (see incomingPeerIdleMs).
   */
  peerIdleTimeoutMs: number;
}

/** How long a peer's connection to this node may stay quiet before this node closes it (0: never). */
export function incomingPeerIdleMs(limits: Pick<ClockLimits, 'peerIdleTimeoutMs'>): number {
  return 2 * limits.peerIdleTimeoutMs;
}

export interface ConnectionState {
  /** Bytes of an unfinished request line held. */
  partialBytes: number;
  /** Reply bytes written or queued and not yet flushed to the socket. */
  unsentBytes: number;
  /** Requests running or waiting to run. */
  busy: boolean;
  /** Which idle timeout applies: a client's, a peer's, or none (a candidate has its own deadline; a closing connection is closing). */
  idle: 'client' | 'peer' | 'none';
}

export type Overdue = 'read' | 'send' | 'idle' | 'peerIdle';

/** Nothing running, waiting, held or owed: a connection that may be closed without failing anything. */
export function isQuiet(state: ConnectionState): boolean {
  return !state.busy && state.partialBytes === 0 && state.unsentBytes === 0;
}

/**
 * When a connection last moved bytes, and whether it is overdue. The server calls `received` for
 * bytes that arrive (and while it is itself the reason none can: it stopped reading and the
 * socket's buffer is full), `sent` for bytes the socket flushes.
 */
export class ConnectionClock {
  private lastReceivedAt: number;
  private lastSentAt: number;
  /** When the connection last went from owing no reply bytes to owing some. */
  private owingSince: number;
  private owing = false;

  constructor(now: number) {
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    this.owingSince = now;
  }

  received(now: number): void {
    this.lastReceivedAt = now;
  }

  sent(now: number): void {
    this.lastSentAt = now;
  }

  /** Called whenever the unsent byte count changes between zero and non-zero. */
  owes(unsent: boolean, now: number): void {
    if (unsent && !this.owing) this.owingSince = now;
    this.owing = unsent;
  }

  /** When bytes last moved either way. */
  get lastActiveAt(): number {
    return Math.max(this.lastReceivedAt, this.lastSentAt);
  }

  overdue(state: ConnectionState, now: number, limits: ClockLimits): Overdue | undefined {
    const since = (at: number) => now - at;
    if (state.partialBytes > 0 && limits.readTimeoutMs > 0 && since(this.lastReceivedAt) >= limits.readTimeoutMs) return 'read';
    if (state.unsentBytes > 0 && limits.sendTimeoutMs > 0 && since(Math.max(this.lastSentAt, this.owingSince)) >= limits.sendTimeoutMs) return 'send';
    if (state.idle === 'none' || !isQuiet(state)) return undefined;
    const idleMs = state.idle === 'client' ? limits.idleTimeoutMs : incomingPeerIdleMs(limits);
    if (idleMs > 0 && since(this.lastActiveAt) >= idleMs) return state.idle === 'client' ? 'idle' : 'peerIdle';
    return undefined;
  }
}

/**
 * Of `candidates`, the quiet one whose bytes moved least recently (the one to close to make room
 * for another), or undefined when every one is busy.
 */
export function leastRecentlyActive<C>(candidates: Iterable<C>, view: (candidate: C) => { state: ConnectionState; clock: ConnectionClock }): C | undefined {
  let chosen: C | undefined;
  let chosenAt = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const { state, clock } = view(candidate);
    if (!isQuiet(state)) continue;
    if (clock.lastActiveAt < chosenAt) {
      chosen = candidate;
      chosenAt = clock.lastActiveAt;
    }
  }
  return chosen;
}
