/** JSON from outside (a socket, a file, stdin) is `unknown` until checked: this is the one check that it is an object. */
export function isJsonObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
}

/** The finite number at `path` in JSON from outside (a stats reply), 0 when anything on the way is missing or of another type. */
export function numberAt(raw: unknown, ...path: string[]): number {
  let at = raw;
  for (const key of path) at = isJsonObject(at) ? at[key] : undefined;
  return typeof at === 'number' && Number.isFinite(at) ? at : 0;
}

/** A field name given twice in one object, and how deep that object is (0: the outermost). */
export interface RepeatedField {
  name: string;
  depth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
/** Strings up to this long are scanned here; longer ones with Buffer#indexOf (a native call costs more than a short loop). */
const SHORT_STRING_BYTES = 32;
/**
 * An object's names are compared as bytes of the line while it has at most this many, each plain
 * (short, no escapes): making a string of each name was most of the scan's cost on a small request.
 * Past that, or at the first name with an escape, the object's names go into a set of strings.
 */
const MAX_COMPARED_NAMES = 16;
const MAX_COMPARED_NAME_BYTES = 64;

/**
 * The first field name that one object of `json` gives twice, at any depth, or undefined.
 * JSON.parse keeps the last of repeated names, so a reader that takes the first (a filter, a proxy,
 * another language's parser) would see another message than the one acted on: such a message is
 * refused, never guessed at. `json` is text JSON.parse has already accepted (anything else yields
 * an answer of no meaning). One pass over the bytes; a string is skipped with one native search per
 * quote it holds, so a large base64 value costs about one memchr. Names are compared decoded:
 * `"o\u0070"` is `"op"`.
 */
export function repeatedFieldName(json: Buffer): RepeatedField | undefined {
  const scan: NameScan = { json, opened: [], sets: [], ranges: [] };
  let expectName = false;
  const length = json.length;
  let i = 0;
  while (i < length) {
    const c = json[i] as number;
    if (c === QUOTE) {
      const end = closingQuote(json, i + 1);
      if (end < 0) return undefined;
      if (expectName) {
        if (seenBefore(scan, i + 1, end)) return { name: decodeName(json, i + 1, end), depth: scan.opened.length - 1 };
        expectName = false;
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT) {
      scan.opened.push(scan.ranges.length);
      scan.sets.push(undefined);
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      scan.opened.push(-1);
      scan.sets.push(undefined);
      expectName = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      const start = scan.opened.pop() as number;
      scan.sets.pop();
      if (start >= 0) scan.ranges.length = start;
      expectName = false;
    } else if (c === COMMA) {
      expectName = (scan.opened.at(-1) as number) >= 0;
    }
    i++;
  }
  return undefined;
}

interface NameScan {
  json: Buffer;
  /** Per open container, innermost last: where its object's names start in `ranges` (-1: an array). */
  opened: number[];
  /** Per open container: its object's names as decoded strings, once compared that way. */
  sets: (Set<string> | undefined)[];
  /** Start and end (in `json`) of each name of the open objects, outermost first. */
  ranges: number[];
}

/** Whether the innermost object already gave the name held in json[from, to); records it when not. */
function seenBefore(scan: NameScan, from: number, to: number): boolean {
  const { json, ranges } = scan;
  const depth = scan.opened.length - 1;
  const start = scan.opened[depth] as number;
  let set = scan.sets[depth];
  if (set === undefined) {
    if (ranges.length - start < 2 * MAX_COMPARED_NAMES && isPlainName(json, from, to)) {
      for (let j = start; j < ranges.length; j += 2) if (sameBytes(json, ranges[j] as number, ranges[j + 1] as number, from, to)) return true;
      ranges.push(from, to);
      return false;
    }
    set = new Set();
    for (let j = start; j < ranges.length; j += 2) set.add(json.toString('utf8', ranges[j], ranges[j + 1]));
    scan.sets[depth] = set;
  }
  const name = decodeName(json, from, to);
  if (set.has(name)) return true;
  set.add(name);
  return false;
}

function isPlainName(json: Buffer, from: number, to: number): boolean {
  if (to - from > MAX_COMPARED_NAME_BYTES) return false;
  for (let i = from; i < to; i++) if (json[i] === BACKSLASH) return false;
  return true;
}

function sameBytes(json: Buffer, aFrom: number, aTo: number, bFrom: number, bTo: number): boolean {
  if (aTo - aFrom !== bTo - bFrom) return false;
  for (let i = 0; i < aTo - aFrom; i++) if (json[aFrom + i] !== json[bFrom + i]) return false;
  return true;
}

/** The index of the quote that closes the string whose contents start at `from`, or -1. */
function closingQuote(json: Buffer, from: number): number {
  const shortEnd = Math.min(from + SHORT_STRING_BYTES, json.length);
  let quote = -1;
  for (let i = from; i < shortEnd; i++) {
    if (json[i] === QUOTE) {
      quote = i;
      break;
    }
  }
  if (quote < 0) quote = indexOfQuote(json, shortEnd);
  while (quote >= 0) {
    // A quote is escaped when an odd number of backslashes precede it (`\"` is; `\\"` is not).
    let k = quote - 1;
    while (json[k] === BACKSLASH) k--;
    if ((quote - 1 - k) % 2 === 0) return quote;
    quote = indexOfQuote(json, quote + 1);
  }
  return -1;
}

function indexOfQuote(json: Buffer, from: number): number {
  return from >= json.length ? -1 : json.indexOf(QUOTE, from);
}

/** The name in json[from, to) as JSON.parse reads it: escapes (`\u0070`, `\"`) decoded. */
function decodeName(json: Buffer, from: number, to: number): string {
  const raw = json.toString('utf8', from, to);
  return raw.includes('\\') ? (JSON.parse(json.toString('utf8', from - 1, to + 1)) as string) : raw;
}
