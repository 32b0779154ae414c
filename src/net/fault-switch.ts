/**
 * A per-link fault switch for tests (reachable only when the daemon runs with --testing-faults):
 * traffic from this node to a named peer can be dropped (sent nowhere; the sender times out),
 * hung (delivered, but the reply never comes back: the peer applied it, the sender times out)
 * or reset (refused at once). Setting both directions on both nodes makes a partition on
 * loopback without root.
 */
import type { Clock } from '../env/clock.js';
import { KvError } from '../errors.js';
import type { PeerOp, PeerReply, PeerRequestOf } from '../protocol/peer.js';
import type { PeerTransport } from '../protocol/transport.js';

export type FaultMode = 'drop' | 'hang' | 'reset' | 'none';
export const FAULT_MODES: readonly FaultMode[] = ['drop', 'hang', 'reset', 'none'];

function isFaultMode(mode: string): mode is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(mode);
}

export class FaultSwitch implements PeerTransport {
  readonly modes: readonly string[] = FAULT_MODES;
  private readonly rules = new Map<string, FaultMode>();

  constructor(
    private readonly inner: PeerTransport,
    private readonly clock: Clock,
  ) {}

  set(addr: string, mode: string): void {
    if (!isFaultMode(mode)) throw new KvError('KV_BAD_REQUEST', `mode must be one of ${FAULT_MODES.join(', ')}`);
    if (mode === 'none') this.rules.delete(addr);
    else this.rules.set(addr, mode);
  }

  clear(): void {
    this.rules.clear();
  }

  snapshot(): Record<string, FaultMode> {
    return Object.fromEntries(this.rules);
  }

  async request<Op extends PeerOp>(addr: string, request: PeerRequestOf<Op>, timeoutMs: number, node?: string): Promise<PeerReply<Op>> {
    const mode = this.rules.get(addr);
    if (!mode) return this.inner.request(addr, request, timeoutMs, node);
    if (mode === 'reset') throw new KvError('KV_UNREACHABLE', `link to ${addr} reset (fault switch)`, { addr });
    if (mode === 'hang') void this.inner.request(addr, request, timeoutMs, node).catch(() => {});
    await new Promise<void>((resolve) => this.clock.setTimer(timeoutMs, resolve));
    throw new KvError('KV_TIMEOUT', `no reply from ${addr} within ${timeoutMs} ms (fault switch: ${mode})`, { addr });
  }

  heardFrom(addr: string): void {
    this.inner.heardFrom?.(addr);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
