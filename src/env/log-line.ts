/**
 * One log line, built from a call: the fixed fields first, in this order, then the call's own.
 *
 *   {"time":"2025-01-31T12:00:00.000Z","level":"warn","node":"n1","event":"storage.degraded","msg":"…",…fields}
 *
 * A call cannot overwrite a fixed field: its field of that name is written as `field_<name>`. A line
 * longer than the cap (a huge error message, a big object) is cut down rather than written whole:
 * long fields are shortened with a marker saying how much was cut, fields that still do not fit are
 * left out from the last, and the line says `"truncated":true`. A field JSON cannot write (a
 * BigInt, a cycle) becomes a string saying so, rather than losing the line. Pure.
 */
import type { LogLevel } from './logger.js';

/** The fields every line starts with; `truncated` only on a line that was cut down. */
export const FIXED_FIELDS = ['time', 'level', 'node', 'event', 'msg', 'truncated'] as const;

/** The longest line written by default, newline included. */
export const MAX_LINE_BYTES = 16 * 1024;

export interface LineHead {
  /** ISO 8601, UTC, milliseconds. */
  time: string;
  level: LogLevel;
  node: string;
  event: string;
  msg: string;
}

const FIXED = new Set<string>(FIXED_FIELDS);

/**
 * The line for one call, newline-terminated, at most `maxBytes` UTF-8 bytes long (newline included)
 * for any cap of 512 bytes or more: below that the fixed fields alone, shortened, may not fit.
 */
export function formatLine(head: LineHead, fields: Record<string, unknown> | undefined, maxBytes = MAX_LINE_BYTES): string {
  const out: Record<string, unknown> = { ...head };
  if (fields) for (const key of Object.keys(fields)) out[FIXED.has(key) ? `field_${key}` : key] = fields[key];
  let line: string | undefined;
  try {
    line = JSON.stringify(out);
  } catch {
    // A field JSON cannot write: the slow path below names it.
  }
  if (line !== undefined && fitsBytes(line, maxBytes - 1)) return `${line}\n`;
  return `${boundedLine(head, out, maxBytes - 1)}\n`;
}

/** True when `text` is at most `maxBytes` UTF-8 bytes; without counting when it cannot be longer (3 bytes per UTF-16 unit at most). */
function fitsBytes(text: string, maxBytes: number): boolean {
  return text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes;
}

function boundedLine(head: LineHead, all: Record<string, unknown>, maxBytes: number): string {
  // Room for each field and for the message, in characters: generous, the loop below enforces the real cap.
  const fieldChars = Math.max(32, Math.floor(maxBytes / 8));
  const msgChars = Math.max(32, Math.floor(maxBytes / 4));
  const boundedHead: Record<string, unknown> = { ...head, msg: shorten(head.msg, msgChars), truncated: true };
  const fields = Object.keys(all)
    .filter((key) => !FIXED.has(key))
    .map((key) => [key, boundedValue(all[key], fieldChars)] as const);
  for (let keep = fields.length; keep >= 0; keep--) {
    const line = JSON.stringify({ ...boundedHead, ...Object.fromEntries(fields.slice(0, keep)) });
    if (fitsBytes(line, maxBytes)) return line;
  }
  // Not even the fixed fields fit (a tiny cap, or a long node name): shorten the message, then the name.
  for (let chars = msgChars; ; chars = Math.floor(chars / 2)) {
    boundedHead.msg = shorten(head.msg, chars);
    boundedHead.node = shorten(head.node, Math.max(chars, 16));
    const line = JSON.stringify(boundedHead);
    if (fitsBytes(line, maxBytes) || chars === 0) return line;
  }
}

/** A field as it can be written: itself when short, else its text cut to `chars` with a marker. */
function boundedValue(value: unknown, chars: number): unknown {
  if (typeof value === 'string') return shorten(value, chars);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return `[not loggable: ${(err as Error).message}]`;
  }
  if (json === undefined || json.length <= chars) return value;
  return shorten(json, chars);
}

/** `text` itself when at most `chars` long, else its start and how much was left out. */
export function shorten(text: string, chars: number): string {
  if (text.length <= chars) return text;
  // Never split a surrogate pair: half of one is not a character.
  let end = chars;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}...[truncated ${text.length - end} chars]`;
}
