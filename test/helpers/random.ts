/**
 * Seeded randomness for property tests, as a plain `() => number` in [0, 1): the project's one
 * PRNG (SeededRandom, sfc32) behind it, so every failing run names the seed that reproduces it.
 */
import { SeededRandom } from '../../src/env/random.js';

export function seededRandom(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}
