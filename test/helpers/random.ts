/**
 * Seeded randomness for property tests, as a plain `() => number` in [0, 1): the project's one
 * PRNG (SeededRandom, sfc32) behind it, so every failing run names the seed that reproduces it.
 */
import { SeededRandom } from '../../src/env/random.js';
import { CODEC_BROTLI, CODEC_RAW } from '../../src/storage/codec.js';
import type { StoredRecord } from '../../src/storage/record-format.js';

export function seededRandom(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}

export function pick<T>(rng: () => number, list: readonly T[]): T {
  return list[Math.floor(rng() * list.length)] as T;
}

/** Up to `max` - 1 random bytes. */
export function randomBytes(rng: () => number, max: number): Buffer {
  return Buffer.from(Array.from({ length: Math.floor(rng() * max) }, () => Math.floor(rng() * 256)));
}

/**
 * A random record: clock entries of some of `actors` below `maxCounter`, up to four siblings
 * (tombstones, raw values, and bytes flagged brotli that are never decoded) of up to `maxValueBytes`.
 */
export function randomRecord(rng: () => number, options: { actors: readonly string[]; maxCounter: number; maxValueBytes: number }): StoredRecord {
  const clock = new Map<string, number>();
  for (const a of options.actors) if (rng() < 0.5) clock.set(a, 1 + Math.floor(rng() * options.maxCounter));
  const siblings: StoredRecord['siblings'][number][] = [];
  const count = Math.floor(rng() * 5);
  for (let i = 0; i < count; i++) {
    const actor = pick(rng, options.actors);
    const bytes = randomBytes(rng, options.maxValueBytes);
    const kind = rng();
    const value = kind < 0.3 ? null : kind < 0.6 ? { codec: CODEC_RAW, stored: bytes, raw: bytes } : { codec: CODEC_BROTLI, stored: bytes, raw: undefined };
    const counter = 1 + Math.floor(rng() * 1e9);
    if (siblings.some((s) => s.dot[0] === actor && s.dot[1] === counter)) continue;
    clock.set(actor, Math.max(clock.get(actor) ?? 0, counter));
    const ts = Math.floor(rng() * 2 ** 48);
    // A fifth of the values have a deadline (a put with a TTL), which changes the stored format.
    const expiring = value !== null && rng() < 0.2;
    siblings.push(
      (expiring
        ? { dot: [actor, counter], ts, value, expiresAt: 1 + Math.floor(rng() * (2 ** 48 - 1)) }
        : { dot: [actor, counter], ts, value }) as StoredRecord['siblings'][number],
    );
  }
  return { clock, siblings };
}
