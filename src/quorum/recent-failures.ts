/**
 * A coordinator's short memory of peers that just failed a request (no reply within their
 * deadline, or unreachable): for a few seconds, sloppy requests plan around them as if they were
 * down, and strict ones ask them last, so that requests after the first do not each wait for the
 * same silent peer before gossip notices. It is this node's own view, for its own requests: it
 * never marks anyone down in gossip, and an answer in time forgets the failure at once. Pure:
 * the time is passed in.
 */

export class RecentFailures {
  /** name -> until when (ms) the failure is remembered */
  private readonly until = new Map<string, number>();

  constructor(readonly rememberMs: number) {}

  /** `name` failed a request at `now`. */
  failed(name: string, now: number): void {
    this.until.set(name, now + this.rememberMs);
  }

  /** `name` answered in time: whatever failure was remembered is forgotten. */
  answered(name: string): void {
    if (this.until.size > 0) this.until.delete(name);
  }

  /** True when `name` failed within the last `rememberMs`. */
  has(name: string, now: number): boolean {
    if (this.until.size === 0) return false; // the common case, on every request
    const until = this.until.get(name);
    if (until === undefined) return false;
    if (now < until) return true;
    this.until.delete(name);
    return false;
  }

  /** The peers remembered at `now`, sorted (for stats). */
  list(now: number): string[] {
    return [...this.until.keys()].filter((name) => this.has(name, now)).sort();
  }
}
