/**
 * The peer transport over TCP: a pool of connections to peers, one per peer address, each opened
 * with the peer handshake (and TLS when configured) before any message; from then on it carries
 * binary frames. The handshake names the node at the address; a request meant for another node is
 * refused (see PeerTransport). Messages are written and replies validated by net/peer-frames, as
 * in the simulator.
 *
 * The pool is bounded (rules in net/link-pool.ts): at most `maxPeerLinks` links, a link with no
 * request in flight for `peerIdleTimeoutMs` is closed, and a request to a new address when every
 * link is busy closes the least recently used idle one or, with none idle, waits for one within
 * its own timeout (then KV_UNREACHABLE, unsent). So a node in a large cluster keeps links to the
 * peers it talks to now, not to every peer it ever talked to.
 *
 * Links heal on their own: a connection that ends for any reason (closed or reset by the peer, or
 * refused by it on the connection itself, e.g. KV_LINE_TOO_LONG or KV_TOO_MANY_CONNECTIONS) leaves
 * the pool the moment it ends, and the next request makes a new one. A request is tried once more,
 * on a new link, when its link ended before the request was handed to it, or when the peer closed
 * the link as idle, or to make room for another peer, while it was on its way or the link was
 * being made (KV_IDLE_TIMEOUT: a peer does that only with nothing of ours running, and reads
 * nothing after, so the request was not run there). A link that cannot be made is tried again
 * only after a backoff per address (ReconnectBackoff); meanwhile requests to that address fail at
 * once with KV_UNREACHABLE. A peer's error reply to one request (it carries the request's id) is
 * an answer, not a broken link: the connection stays. Each address has its own connection and
 * backoff, so one peer's broken link never fails requests to another. A link asks its peer's
 * frame limit once made (a frame-layer ping): a message over it fails alone with
 * KV_LINE_TOO_LONG, unsent, rather than making the peer close the connection under every request
 * on it.
 */
import { performance } from 'node:perf_hooks';
import { defaultLimits, type Limits } from '../config.js';
import { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import { type PeerTransport, wrongNodeError } from '../protocol/transport.js';
import { type ClientTls, LineConnection } from './line-connection.js';
import { type LinkGrant, LinkPool, type LinkSlot } from './link-pool.js';
import { type PeerHandshake, provePeer } from './peer-auth.js';
import {
  decodeErrorFrame,
  decodePingReply,
  encodePeerRequest,
  encodePingFrame,
  FRAME_ERROR,
  type FrameBounds,
  readFrameHeader,
  replyOf,
} from './peer-frames.js';
import { type BackoffSettings, defaultBackoff, ReconnectBackoff } from './reconnect-backoff.js';

/** Requests that may wait for a link at once; one more fails at once (KV_UNREACHABLE). */
export const MAX_WAITING_FOR_LINK = 4096;

/** A connection that completed the peer handshake, and the node that proved itself on it. */
interface PeerLink {
  connection: LineConnection;
  node: string;
}

/** A place in the pool: its bookkeeping, and the link, made or being made (`ready` once made). */
interface Pooled {
  slot: LinkSlot;
  link: Promise<PeerLink>;
  ready: PeerLink | undefined;
}

/** A request waiting for a place in the pool. */
interface Waiter {
  addr: string;
  /** When the request's own timeout runs out (performance.now). */
  deadline: number;
  resolve: (pooled: Pooled) => void;
  reject: (err: KvError) => void;
  timer: NodeJS.Timeout;
}

/** The pool's own settings (the node's limits). */
export type PeerLinkSettings = Pick<Limits, 'maxPeerLinks' | 'peerIdleTimeoutMs'>;

export class TcpTransport implements PeerTransport {
  private readonly links = new Map<string, Pooled>();
  private readonly pool: LinkPool<Waiter>;
  private readonly backoff: ReconnectBackoff;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /**
   * Links made and links that ended (any way), links that could not be made, links closed for
   * being idle and to make room for another, requests that waited for a place and those whose
   * deadline passed waiting, and requests tried again on a new link; for stats and tests.
   */
  readonly counters = { opened: 0, ended: 0, failedToOpen: 0, idleClosed: 0, evicted: 0, waited: 0, waitsTimedOut: 0, retried: 0 };

  constructor(
    /** What records in replies may hold (the node's own limits). */
    private readonly bounds: FrameBounds,
    /**
     * How this node proves itself to peers, TLS for its peer connections, and who hears of a peer
     * that refused the handshake (a secret or cluster that does not match is an operator's to fix).
     */
    private readonly link: { peer: PeerHandshake; tls?: ClientTls | undefined; onRefused?: (addr: string, err: KvError) => void },
    private readonly connectTimeoutMs = 1000,
    backoff: BackoffSettings = defaultBackoff,
    /** The time for backoffs and idle links (ms); injected for tests. */
    private readonly now: () => number = Date.now,
    settings: PeerLinkSettings = defaultLimits,
  ) {
    this.backoff = new ReconnectBackoff(backoff);
    this.pool = new LinkPool({ maxLinks: settings.maxPeerLinks, idleTimeoutMs: settings.peerIdleTimeoutMs, maxWaiting: MAX_WAITING_FOR_LINK });
    if (settings.peerIdleTimeoutMs > 0) {
      // A quarter of the timeout: a link is closed within 1.5 times it (two looks after its last
      // use), before the peer closes it (twice the timeout).
      const sweepMs = Math.min(1000, Math.max(10, Math.floor(settings.peerIdleTimeoutMs / 4)));
      this.sweepTimer = setInterval(() => this.closeIdle(), sweepMs);
      this.sweepTimer.unref();
    }
  }

  async request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      // Awaited only when there is something to wait for: a link made and free is used in this same turn.
      const acquired = this.acquire(addr, attempt === 1 ? timeoutMs : timeLeft(started, timeoutMs));
      const pooled = acquired instanceof Promise ? await acquired : acquired;
      let link: PeerLink | undefined = pooled.ready;
      // Unchanged when nothing was waited for: requests made in one millisecond share one deadline, and
      // their connection's one timer is not set again for each.
      let sendTimeoutMs = attempt === 1 && link !== undefined && !(acquired instanceof Promise) ? timeoutMs : undefined;
      let sentId = 0;
      try {
        if (link === undefined) link = await pooled.link;
        sendTimeoutMs ??= timeLeft(started, timeoutMs);
        if (node !== undefined && link.node !== node) throw wrongNodeError(addr, node, link.node);
        const reply = await link.connection.requestFrame((id) => {
          sentId = id;
          return encodePeerRequest(request, id);
        }, sendTimeoutMs);
        return replyOf(request, sentId, reply, this.bounds);
      } catch (err) {
        const notRun = link === undefined ? isQuietClose(err) : notRunByPeer(err, link.connection, sentId);
        if (attempt === 1 && notRun && performance.now() - started < timeoutMs) {
          this.counters.retried++;
          continue;
        }
        throw err;
      } finally {
        this.release(pooled);
      }
    }
  }

  /** Gossip heard from the node at `addr`: forget its backoff, so a restarted node is reached at once. */
  heardFrom(addr: string): void {
    this.backoff.succeeded(addr);
  }

  /**
   * A place in the pool for a request to `addr`, the request counted in flight on it: the link
   * there, a new one (unless a backoff says to wait), or, with every link busy, the first place
   * that frees within `timeoutMs`.
   */
  private acquire(addr: string, timeoutMs: number): Pooled | Promise<Pooled> {
    const pooled = this.links.get(addr);
    if (pooled) {
      this.pool.use(pooled.slot);
      return pooled;
    }
    if (this.closing) return Promise.reject(stoppingError());
    const inBackoff = this.backoffError(addr);
    if (inBackoff) return Promise.reject(inBackoff);
    const grant = this.pool.acquire(addr, this.now());
    if (grant) return this.take(addr, grant, timeoutMs);
    return new Promise<Pooled>((resolve, reject) => {
      const waiter: Waiter = {
        addr,
        deadline: performance.now() + timeoutMs,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.pool.cancel(waiter);
          this.counters.waitsTimedOut++;
          reject(
            new KvError(
              'KV_UNREACHABLE',
              `no link to ${addr}: all ${this.pool.limits.maxLinks} peer links (--max-peer-links) stayed busy for ${timeoutMs} ms; not sent`,
              { addr, limit: this.pool.limits.maxLinks },
            ),
          );
        }, timeoutMs).unref(),
      };
      if (!this.pool.wait(waiter, addr)) {
        clearTimeout(waiter.timer);
        reject(
          new KvError(
            'KV_UNREACHABLE',
            `no link to ${addr}: all ${this.pool.limits.maxLinks} peer links are busy and ${MAX_WAITING_FOR_LINK} requests wait already; not sent`,
            {
              addr,
              limit: this.pool.limits.maxLinks,
            },
          ),
        );
        return;
      }
      this.counters.waited++;
    });
  }

  /** KV_UNREACHABLE while a backoff says a link to `addr` must not be tried yet. */
  private backoffError(addr: string): KvError | undefined {
    const wait = this.backoff.waitMs(addr, this.now());
    if (wait <= 0) return undefined;
    const failures = this.backoff.failures(addr);
    return new KvError('KV_UNREACHABLE', `no link to ${addr}: the last ${failures} attempt(s) failed; next attempt in ${wait} ms`, { addr, retryInMs: wait });
  }

  /** Turns a grant into the pooled link: the one there, or a new one (closing the idle link it replaces). */
  private take(addr: string, grant: LinkGrant, timeoutMs: number): Pooled {
    if (grant.kind === 'use') return this.links.get(addr) as Pooled;
    if (grant.evicted) {
      this.counters.evicted++;
      this.closeLink(grant.evicted.addr);
    }
    const slot = grant.slot;
    const pending = this.open(addr, Math.min(this.connectTimeoutMs, timeoutMs), () => {
      this.counters.ended++;
      this.drop(addr, pooled);
    });
    const pooled: Pooled = { slot, link: pending, ready: undefined };
    this.links.set(addr, pooled);
    pending.then(
      (made) => {
        pooled.ready = made;
        this.counters.opened++;
        this.backoff.succeeded(addr);
      },
      (err: unknown) => {
        this.counters.failedToOpen++;
        this.drop(addr, pooled);
        // A peer that closed the new link as idle (it made room for another peer) is up: no backoff.
        if (!isQuietClose(err)) this.backoff.failed(addr, this.now());
        const code = (err as KvError).code;
        if (code === 'KV_AUTH_FAILED' || code === 'KV_CLUSTER_MISMATCH' || code === 'KV_TLS_FAILED' || isVersionRefusal(err))
          this.link.onRefused?.(addr, err as KvError);
      },
    );
    return pooled;
  }

  /** A request on `pooled` ended. */
  private release(pooled: Pooled): void {
    if (this.pool.release(pooled.slot)) this.grantWaiting();
  }

  /** `pooled` ended (or could not be made): out of the pool, unless it left already. */
  private drop(addr: string, pooled: Pooled): void {
    if (this.links.get(addr) === pooled) this.links.delete(addr);
    if (this.pool.remove(pooled.slot)) this.grantWaiting();
  }

  /** Hands freed places to the requests waiting for one, in order. */
  private grantWaiting(): void {
    // Each pass takes granted waiters out of line; one that cannot go on (its address in backoff) frees its place for the next pass.
    for (let granted = this.pool.grant(this.now()); granted.length > 0; granted = this.pool.grant(this.now())) {
      for (const [waiter, grant] of granted) {
        clearTimeout(waiter.timer);
        const inBackoff = grant.kind === 'open' ? this.backoffError(waiter.addr) : undefined;
        if (inBackoff) {
          // Its place goes back to the pool (an evicted link is closed all the same: it was idle).
          if (grant.kind === 'open' && grant.evicted) {
            this.counters.evicted++;
            this.closeLink(grant.evicted.addr);
          }
          this.pool.remove(grant.slot);
          waiter.reject(inBackoff);
          continue;
        }
        waiter.resolve(this.take(waiter.addr, grant, Math.max(1, waiter.deadline - performance.now())));
      }
    }
  }

  /** Closes the links idle for the idle timeout (the sweep). */
  private closeIdle(): void {
    for (const slot of this.pool.takeIdle(this.now())) {
      this.counters.idleClosed++;
      this.closeLink(slot.addr);
    }
  }

  /** Closes the link to `addr` (its slot already left the pool, idle: no request of ours is on it). */
  private closeLink(addr: string): void {
    const pooled = this.links.get(addr);
    if (!pooled) return;
    this.links.delete(addr);
    pooled.link.then((l) => l.connection.close()).catch(() => {});
  }

  /** Connects (TLS when configured) and runs the peer handshake, keeping the name the other node proved. */
  private async open(addr: string, timeoutMs: number, onEnded: () => void): Promise<PeerLink> {
    const connection = await LineConnection.connect(addr, { timeoutMs, tls: this.link.tls });
    try {
      const other = await provePeer((body) => connection.request(body), this.link.peer, addr);
      // The peer's frame limit: a message longer than it is refused here, unsent, and the link and
      // every other request on it stay (the peer would close the connection over it).
      const pong = await connection.requestFrame(encodePingFrame);
      if (readFrameHeader(pong).kind === FRAME_ERROR) throw decodeErrorFrame(pong);
      connection.learnFrameLimit(decodePingReply(pong));
      // Watched from here on: a link that ends leaves the pool at once (during the handshake, the
      // handshake's own failure does). A link that ended in between is refused like a failed handshake.
      if (connection.closeReason) throw connection.closeReason;
      connection.onEnded = onEnded;
      return { connection, node: other.name };
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  /** Addresses with a link open or being made. */
  get linkCount(): number {
    return this.links.size;
  }

  /** Requests waiting for a link. */
  get waitingCount(): number {
    return this.pool.waiting;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    for (const waiter of this.pool.takeWaiting()) {
      clearTimeout(waiter.timer);
      waiter.reject(stoppingError());
    }
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((p) => p.link.then((l) => l.connection.close()).catch(() => {})));
  }
}

/**
 * Whether a request that failed on `connection` was certainly not run by the peer, so that trying
 * it once more on a new link cannot run it twice: the link ended before the request was handed to
 * it (`sentId` still 0), or the peer closed the link as idle (its own farewell, KV_IDLE_TIMEOUT,
 * sent only with nothing of ours running there; what it reads after is dropped unread).
 */
function notRunByPeer(err: unknown, connection: LineConnection, sentId: number): boolean {
  const reason = connection.closeReason;
  if (reason === undefined) return false;
  if (sentId === 0) return true;
  return err === reason && isQuietClose(reason);
}

/** The peer closed the connection while nothing of ours ran on it: idle, or to make room for another peer. */
function isQuietClose(err: unknown): boolean {
  return err instanceof KvError && err.code === 'KV_IDLE_TIMEOUT';
}

/** What a request started at `started` (performance.now) with `timeoutMs` has left, in whole ms, at least 1. */
function timeLeft(started: number, timeoutMs: number): number {
  return Math.max(1, Math.ceil(timeoutMs - (performance.now() - started)));
}

/** A request after `close`: this node is stopping (unreachable, to the engines: no peer answer). */
function stoppingError(): KvError {
  return new KvError('KV_UNREACHABLE', 'this node is stopping: no new peer links');
}

/** A peer that speaks another version of the peer protocol refused the handshake (or was refused). */
function isVersionRefusal(err: unknown): boolean {
  return err instanceof KvError && err.code === 'KV_BAD_REQUEST' && /peer protocol version/.test(err.message);
}
