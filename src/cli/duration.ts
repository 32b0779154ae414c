/**
 * Durations on the command line (`--ttl 30s`): a whole number with a unit, ms, s, m, h or d, or a
 * bare number of seconds (as redis-cli's EX). Composite forms such as `1h30m` are accepted too.
 */
import { KvError } from '../errors.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+)(ms|s|m|h|d)/gy;

/** Milliseconds of `text`; KV_USAGE naming `flag` when it is not a duration or is zero. */
export function parseDurationMs(text: string, flag: string): number {
  const trimmed = text.trim();
  let ms = 0;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    PART.lastIndex = 0;
    let at = 0;
    for (let match = PART.exec(trimmed); match; match = PART.exec(trimmed)) {
      ms += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
      at = PART.lastIndex;
    }
    if (at === 0 || at !== trimmed.length) ms = Number.NaN;
  }
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new KvError(
      'KV_USAGE',
      `--${flag} ${JSON.stringify(text)} is not a duration: give a number and a unit (500ms, 30s, 5m, 2h, 7d, 1h30m) or a number of seconds`,
      {
        flag,
        value: text,
      },
    );
  }
  return ms;
}
