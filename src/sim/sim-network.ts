/**
 * An in-memory network for a whole cluster in one process, deterministic per seed (the
 * FoundationDB / TigerBeetle approach; memberlist's `mock_transport.go`, with the clock injected
 * too). It carries request and reply frames, the same bytes a peer link carries over TCP once its
 * handshake is done: every node registers a frame handler under its address and talks through
 * `transportFor(addr)`, which implements the same PeerTransport contract as TcpTransport, with the
 * same encoder and validators (net/peer-frames.ts).
 *
 * What it models:
 * - one-way latency, uniform in [min, max] ms, drawn per message from the injected Random;
 * - independent loss per direction (request and reply each lost with probability `lossRate`);
 * - partitions: links cut between two groups, both ways; a message is lost if its link is cut
 *   when it is sent or when it would arrive;
 * - process crashes: a crashed node neither receives, nor replies, nor sends (its attempts reject at
 *   once with KV_UNREACHABLE). A request reaching a crashed or unregistered address is answered by
 *   a reset (the OS refusing the connection), which travels back like a reply (latency, loss,
 *   cuts) and rejects the request with KV_UNREACHABLE. A crashed node's own outstanding requests
 *   never settle: the process that awaited them is gone, and a restart does not revive them.
 * - the wire: requests and replies are binary frames, so nothing is shared by reference and an
 *   encoding bug fails here as it would on TCP; a handler's error travels as its error frame.
 * - timeouts: a lost or cut message surfaces as KV_TIMEOUT when the caller's `timeoutMs` passes.
 *
 * What it does not model: bandwidth, queueing, reordering beyond what random latency gives,
 * connection set-up cost and the handshake, byte limits per frame, duplicated or corrupted messages, asymmetric
 * partitions, clock skew between nodes (all nodes read the same VirtualClock).
 *
 * Every delay goes through the VirtualClock's `setTimer`, every draw through the Random, so a run
 * replays exactly from its seed. Engines awaiting replies continue in microtasks: drive the clock
 * in small steps and let microtasks drain between them (`runFor`).
 */

import { defaultLimits, type Limits } from '../config.js';
import type { Timer, VirtualClock } from '../env/clock.js';
import type { Random } from '../env/random.js';
import { KvError, toKvError, type WireError } from '../errors.js';
import { answerFrame } from '../net/answer.js';
import { encodeErrorFrame, encodePeerRequest, type FrameBounds, nextFrameId, opOfCode, readFrameHeader, replyOf } from '../net/peer-frames.js';
import { newClientConnection, type RequestHandler } from '../protocol/connection.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import { type PeerTransport, wrongNodeError } from '../protocol/transport.js';

/** Serves one request frame arriving from `from`; resolves the reply frame. */
export type SimHandler = (frame: Buffer, from: string) => Promise<Buffer> | Buffer;

export interface SimNetworkOptions {
  /** One-way latency bounds in ms, inclusive of min; each message draws uniformly in [min, max). */
  latencyMs: [number, number];
  /** Probability in [0, 1] that one message (one direction) is lost. */
  lossRate: number;
}

/** Counts of what happened to messages, for reports. */
export interface SimNetworkStats {
  /** Requests sent by live nodes. */
  requests: number;
  /** Messages (either direction) dropped by random loss. */
  lost: number;
  /** Messages dropped because their link was cut. */
  cut: number;
  /** Requests that reached a crashed or unregistered address. */
  refused: number;
  /** Requests rejected with KV_TIMEOUT. */
  timeouts: number;
  /** Requests resolved with a reply. */
  replies: number;
  /** Bytes of every request and reply frame sent (lost ones included), as a TCP link would carry them. */
  frameBytes: number;
}

interface Pending {
  from: string;
  /** The request's id and op code, for an error frame answering it. */
  id: number;
  opCode: number;
  settled: boolean;
  timer: Timer;
  resolve: (reply: Buffer) => void;
  reject: (err: KvError) => void;
}

type Outcome = { reply: Buffer } | { error: WireError } | { reset: true };

export class SimNetwork {
  private readonly handlers = new Map<string, SimHandler>();
  private readonly crashed = new Set<string>();
  /** Cut links, as "a\u0000b" with a < b. */
  private readonly cuts = new Set<string>();
  /** Bumped on each crash, so replies addressed to a previous life of a node are dropped. */
  private readonly lives = new Map<string, number>();
  private readonly pending = new Set<Pending>();
  private lossRate: number;
  private lastId = 0;
  readonly stats: SimNetworkStats = { requests: 0, lost: 0, cut: 0, refused: 0, timeouts: 0, replies: 0, frameBytes: 0 };
  /** Frame bytes sent per op code (a reply counts toward the op it answers). */
  private readonly bytesByOpCode = new Map<number, number>();
  /** Told of every message as it arrives: a request or reply frame as sent, or 'reset' (for trace hashes). */
  onDeliver: ((at: number, from: string, to: string, message: Buffer | string) => void) | undefined;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Random,
    private readonly options: SimNetworkOptions,
  ) {
    const [min, max] = options.latencyMs;
    if (!(min >= 0 && max >= min)) throw new RangeError(`latencyMs must be [min, max] with 0 <= min <= max, got [${min}, ${max}]`);
    this.lossRate = checkRate(options.lossRate);
  }

  /** The node serving each address, as a TCP link's handshake would name it (when registered with a name). */
  private readonly nodes = new Map<string, string>();

  /** Serves `addr` with `handler` (replacing any previous one, e.g. after a restart); `node` names the node there. */
  register(addr: string, handler: SimHandler, node?: string): void {
    this.handlers.set(addr, handler);
    if (node !== undefined) this.nodes.set(addr, node);
  }

  /** Removes `addr`: requests to it are refused from now on. */
  unregister(addr: string): void {
    this.handlers.delete(addr);
  }

  /** A peer transport whose requests come from `fromAddr`: messages written and replies validated as over TCP. */
  transportFor(fromAddr: string, bounds: FrameBounds = defaultLimits): PeerTransport {
    const request = async <Op extends PeerOp>(addr: string, message: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>> => {
      const found = this.nodes.get(addr);
      if (node !== undefined && found !== undefined && found !== node) throw wrongNodeError(addr, node, found);
      this.lastId = nextFrameId(this.lastId);
      const id = this.lastId;
      const reply = await this.requestFrame(fromAddr, addr, encodePeerRequest(message, id), timeoutMs);
      return replyOf(message, id, reply, bounds);
    };
    return { request, close: async () => {} };
  }

  /** Kills the process at `addr`: it stops receiving, replying and sending; its pending requests are dropped. */
  crash(addr: string): void {
    this.crashed.add(addr);
    this.lives.set(addr, this.lifeOf(addr) + 1);
    for (const p of this.pending) {
      if (p.from !== addr) continue;
      p.settled = true;
      p.timer.cancel();
      this.pending.delete(p);
    }
  }

  /** Brings `addr` back, optionally with a new handler (a restarted process has new state). */
  restart(addr: string, handler?: SimHandler): void {
    this.crashed.delete(addr);
    if (handler) this.handlers.set(addr, handler);
  }

  isCrashed(addr: string): boolean {
    return this.crashed.has(addr);
  }

  /** Cuts every link between a node of `groupA` and a node of `groupB`, both ways (adds to existing cuts). */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) for (const b of groupB) if (a !== b) this.cuts.add(linkKey(a, b));
  }

  /** Restores every cut link. */
  heal(): void {
    this.cuts.clear();
  }

  setLossRate(rate: number): void {
    this.lossRate = checkRate(rate);
  }

  /**
   * Sends one request frame from `from` to `to`; resolves the reply frame. Rejects with
   * KV_UNREACHABLE (refused, or `from` crashed) or KV_TIMEOUT; a handler that throws is answered
   * by an error reply built from its error.
   */
  requestFrame(from: string, to: string, wire: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.crashed.has(from)) return Promise.reject(new KvError('KV_UNREACHABLE', `${from} is crashed and cannot send`));
    this.stats.requests++;
    return new Promise((resolve, reject) => {
      const { id, opCode } = readFrameHeader(wire);
      this.countBytes(opCode, wire.length);
      const p: Pending = {
        from,
        id,
        opCode,
        settled: false,
        resolve,
        reject,
        timer: this.clock.setTimer(timeoutMs, () => {
          if (p.settled) return;
          this.settle(p);
          this.stats.timeouts++;
          reject(new KvError('KV_TIMEOUT', `no reply from ${to} within ${timeoutMs} ms`, { addr: to, timeoutMs }));
        }),
      };
      this.pending.add(p);
      this.send(from, to, () => this.deliver(p, from, to, wire));
    });
  }

  /** Carries one message from `from` to `to`: loss and cuts now, latency, cuts again on arrival. */
  private send(from: string, to: string, arrive: () => void): void {
    if (this.linkCut(from, to)) {
      this.stats.cut++;
      return;
    }
    // Both draws happen for every message sent, lost or not, so one extra loss does not shift
    // every later latency: runs that differ in one loss stay comparable.
    const lost = this.random.next() < this.lossRate;
    const delay = this.latency();
    if (lost) {
      this.stats.lost++;
      return;
    }
    this.clock.setTimer(delay, () => {
      if (this.linkCut(from, to)) {
        this.stats.cut++;
        return;
      }
      arrive();
    });
  }

  /** The request arrives at `to`: run its handler (or refuse), then send the outcome back. */
  private deliver(p: Pending, from: string, to: string, wire: Buffer): void {
    this.onDeliver?.(this.clock.now(), from, to, wire);
    const handler = this.handlers.get(to);
    if (!handler || this.crashed.has(to)) {
      this.stats.refused++;
      this.reply(p, to, from, { reset: true });
      return;
    }
    const life = this.lifeOf(to);
    let result: ReturnType<SimHandler>;
    try {
      result = handler(wire, from);
    } catch (err) {
      this.reply(p, to, from, { error: toKvError(err).toWire() });
      return;
    }
    // A plain object answers at once; a promise answers when it settles (if `to` still lives).
    const answered = (outcome: Outcome) => {
      if (this.crashed.has(to) || this.lifeOf(to) !== life) outcome = { reset: true };
      this.reply(p, to, from, outcome);
    };
    if (result instanceof Promise) {
      result.then(
        (reply) => answered({ reply }),
        (err: unknown) => answered({ error: toKvError(err).toWire() }),
      );
    } else {
      answered({ reply: result });
    }
  }

  private reply(p: Pending, to: string, from: string, outcome: Outcome): void {
    const wire = 'reply' in outcome ? outcome.reply : 'error' in outcome ? encodeErrorFrame(p.id, p.opCode, outcome.error) : undefined;
    if (wire !== undefined) this.countBytes(p.opCode, wire.length);
    const life = this.lifeOf(from);
    this.send(to, from, () => {
      this.onDeliver?.(this.clock.now(), to, from, wire ?? 'reset');
      if (p.settled || this.crashed.has(from) || this.lifeOf(from) !== life) return;
      this.settle(p);
      if (wire !== undefined) {
        this.stats.replies++;
        p.resolve(wire);
      } else {
        p.reject(new KvError('KV_UNREACHABLE', `connection to ${to} refused`, { addr: to }));
      }
    });
  }

  /** Frame bytes sent so far per peer op ('ping' and unknown codes by number). */
  frameBytesByOp(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [code, bytes] of this.bytesByOpCode) out[opOfCode(code) ?? `op${code}`] = bytes;
    return out;
  }

  private countBytes(opCode: number, bytes: number): void {
    this.stats.frameBytes += bytes;
    this.bytesByOpCode.set(opCode, (this.bytesByOpCode.get(opCode) ?? 0) + bytes);
  }

  private settle(p: Pending): void {
    p.settled = true;
    p.timer.cancel();
    this.pending.delete(p);
  }

  private latency(): number {
    const [min, max] = this.options.latencyMs;
    return min + this.random.next() * (max - min);
  }

  private linkCut(a: string, b: string): boolean {
    return this.cuts.size > 0 && this.cuts.has(linkKey(a, b));
  }

  private lifeOf(addr: string): number {
    return this.lives.get(addr) ?? 0;
  }
}

/** Serves a node's requests on the network: each frame answered as a peer link's frame is. */
export function serveFrames(handler: RequestHandler, limits: Limits): SimHandler {
  return (frame, from) => answerFrame(frame, handler, { ...newClientConnection(from, false), kind: 'peer' }, limits);
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

function checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`lossRate must be in [0, 1], got ${rate}`);
  return rate;
}

/**
 * Advances `clock` by `ms` in steps of `stepMs`, letting pending microtasks (engines continuing
 * after an awaited reply) run between steps; `onStep` runs after each step (for invariant checks).
 * Uses setImmediate only to drain microtasks: no real time passes in the simulation.
 */
export async function runFor(clock: VirtualClock, ms: number, stepMs: number, onStep?: (now: number) => boolean | undefined): Promise<boolean> {
  if (!(stepMs > 0)) throw new RangeError('stepMs must be positive');
  const end = clock.now() + ms;
  while (clock.now() < end) {
    clock.advance(Math.min(stepMs, end - clock.now()));
    await drainMicrotasks();
    if (onStep?.(clock.now()) === true) return true;
  }
  return false;
}

/** Resolves once every microtask queued so far (and those they queue) has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
