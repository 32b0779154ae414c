/**
 * One life of a simulated node's process, from boot to crash: the clock and transport its engines
 * are built with. When the life ends (kill -9, power loss) its timers are cancelled and its pending
 * and later requests never settle, so nothing the dead process started runs again, even once a new
 * life serves the same address (its store handle is fenced the same way, see sim-store.ts).
 *
 * While the life lasts, every request settles: SimNetwork drops the requests of a node it is told
 * is down, which a pause (SIGSTOP) also uses; the process then finds them timed out, as a real one
 * does once it runs again.
 */
import type { Clock, Timer } from '../env/clock.js';
import { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import type { PeerTransport } from '../protocol/transport.js';

/** A promise that never settles; a fresh one each time, so its waiters are collected with it. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class ProcessLife {
  private alive = true;
  private readonly timers = new Set<Timer>();
  private readonly endings = new Set<() => void>();
  readonly clock: Clock;
  readonly transport: PeerTransport;

  constructor(
    private readonly base: Clock,
    transport: PeerTransport,
  ) {
    this.clock = {
      now: () => base.now(),
      setTimer: (delayMs, fn) => this.setTimer(delayMs, fn),
      defer: (fn) => void this.setTimer(0, fn),
    };
    this.transport = {
      request: <Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string) =>
        this.alive ? this.request(transport, addr, request, timeoutMs, node) : never<PeerReply<Op>>(),
      close: async () => {},
    };
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** The process dies: its timers are cancelled, its requests and `guard`ed promises never settle. */
  end(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
    for (const ending of [...this.endings]) ending();
    this.endings.clear();
  }

  /** Runs `fn` when the life ends (what a client's connection to the process sees); cancel() forgets it. */
  onEnd(fn: () => void): Timer {
    this.endings.add(fn);
    return { cancel: () => this.endings.delete(fn) };
  }

  /** Settles as `promise` does while this life lasts; never, once it has ended. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      promise.then(
        (value) => {
          if (this.alive) resolve(value);
        },
        (err: unknown) => {
          if (this.alive) reject(err);
        },
      );
    });
  }

  /** The transport's request, timed out here if the network dropped it (see the header). */
  private request<Op extends PeerOp>(
    transport: PeerTransport,
    addr: string,
    request: PeerRequestOf<Op>,
    timeoutMs: number,
    node: string | undefined,
  ): Promise<PeerReply<Op>> {
    const sent = transport.request(addr, request, timeoutMs, node);
    return this.guard(
      new Promise((resolve, reject) => {
        const timer = this.setTimer(timeoutMs, () => reject(new KvError('KV_TIMEOUT', `no reply from ${addr} within ${timeoutMs} ms`, { addr, timeoutMs })));
        sent.then(
          (reply) => {
            timer.cancel();
            resolve(reply);
          },
          (err: unknown) => {
            timer.cancel();
            reject(err);
          },
        );
      }),
    );
  }

  private setTimer(delayMs: number, fn: () => void): Timer {
    if (!this.alive) return { cancel: () => {} };
    const timer = this.base.setTimer(delayMs, () => {
      this.timers.delete(timer);
      fn();
    });
    this.timers.add(timer);
    return {
      cancel: () => {
        this.timers.delete(timer);
        timer.cancel();
      },
    };
  }
}
