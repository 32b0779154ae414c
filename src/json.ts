/** JSON from outside (a socket, a file, stdin) is `unknown` until checked: this is the one check that it is an object. */
export function isJsonObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
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
 * The first field name that one object of `json` gives twice, at any depth, or undefined.
 * JSON.parse keeps the last of repeated names, so a reader that takes the first (a filter, a proxy,
 * another language's parser) would see another message than the one acted on: such a message is
 * refused, never guessed at. `json` is text JSON.parse has already accepted (anything else yields
 * an answer of no meaning). One pass over the bytes; a string is skipped with one native search per
 * quote it holds, so a large base64 value costs about one memchr. Names are compared decoded:
 * `"o\u0070"` is `"op"`.
 */
export function repeatedFieldName(json: Buffer): RepeatedField | undefined {
  // Per open container, innermost last: the names its object gave so far (undefined: an array).
  // A depth's set is reused by the next object at that depth.
  const names: (Set<string> | undefined)[] = [];
  const spare: Set<string>[] = [];
  let depth = -1;
  let expectName = false;
  const length = json.length;
  let i = 0;
  while (i < length) {
    const c = json[i] as number;
    if (c === QUOTE) {
      const end = closingQuote(json, i + 1);
      if (end < 0) return undefined;
      if (expectName) {
        const name = decodeName(json, i, end);
        const seen = names[depth] as Set<string>;
        if (seen.has(name)) return { name, depth };
        seen.add(name);
        expectName = false;
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT) {
      depth++;
      let seen = spare[depth];
      if (seen) seen.clear();
      else spare[depth] = seen = new Set();
      names[depth] = seen;
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      depth++;
      names[depth] = undefined;
      expectName = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      expectName = false;
    } else if (c === COMMA) {
      expectName = names[depth] !== undefined;
    }
    i++;
  }
  return undefined;
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

/** A field name as JSON.parse reads it: escapes (`\u0070`, `\"`) decoded. */
function decodeName(json: Buffer, open: number, close: number): string {
  const raw = json.toString('utf8', open + 1, close);
  return raw.includes('\\') ? (JSON.parse(json.toString('utf8', open, close + 1)) as string) : raw;
}
