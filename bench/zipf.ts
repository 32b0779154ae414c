/**
 * Zipfian key choice over 0..n-1 (Gray et al., "Quickly generating billion-record synthetic
 * databases", as YCSB does it): rank r is drawn with probability proportional to 1/(r+1)^s, then
 * scrambled by a fixed bijection so the hot keys are spread over the key space instead of
 * clustering at its start (LevelDB would otherwise find them all in one block).
 */
import type { Rng } from './json-documents.js';

export class ZipfianKeys {
  private readonly zetaN: number;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly halfPowS: number;
  private readonly spread: Scramble;

  /** O(n) once, to sum the zeta constant. */
  constructor(
    readonly n: number,
    readonly s: number,
    private readonly rng: Rng,
  ) {
    if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`zipfian key space must hold at least 2 keys, got ${n}`);
    if (!(s > 0 && s < 1)) throw new RangeError(`zipfian exponent must be in (0, 1), got ${s}`);
    this.zetaN = zeta(n, s);
    this.alpha = 1 / (1 - s);
    this.eta = (1 - (2 / n) ** (1 - s)) / (1 - zeta(2, s) / this.zetaN);
    this.halfPowS = 0.5 ** s;
    this.spread = new Scramble(n);
  }

  /** The probability of the most popular key. */
  get hottest(): number {
    return 1 / this.zetaN;
  }

  /** The next key, 0..n-1. */
  next(): number {
    return this.spread.at(this.nextRank());
  }

  /** The next popularity rank (0 the most popular). */
  nextRank(): number {
    const u = this.rng();
    const uz = u * this.zetaN;
    if (uz < 1) return 0;
    if (uz < 1 + this.halfPowS) return 1;
    return Math.min(this.n - 1, Math.floor(this.n * (this.eta * u - this.eta + 1) ** this.alpha));
  }
}

/** A fixed permutation of 0..n-1: multiplication by a stride coprime with n (a bijection). */
export class Scramble {
  private readonly stride: number;

  constructor(readonly n: number) {
    // Below 2^26, i * stride (both < n) stays exact in a double.
    if (!Number.isSafeInteger(n) || n < 1 || n >= 2 ** 26) throw new RangeError(`a scramble covers 1 to 2^26 numbers, got ${n}`);
    this.stride = coprimeStride(n);
  }

  at(i: number): number {
    return (i * this.stride) % this.n;
  }
}

function zeta(n: number, s: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / i ** s;
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** A large odd stride (Knuth's multiplicative hash constant, mod n) that shares no factor with n. */
function coprimeStride(n: number): number {
  if (n === 1) return 1;
  let stride = 2654435761 % n || 1;
  while (gcd(stride, n) !== 1) stride = (stride + 1) % n || 1;
  return stride;
}
