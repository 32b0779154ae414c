/**
 * Seeded test data: realistic JSON documents (user records with repeated field names, nested
 * address and preferences, a list of orders, free text) of a chosen size, and incompressible
 * random values. The same seed gives the same bytes, so runs compare like with like.
 */

/** A seeded PRNG (mulberry32): uniform in [0, 1). */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Leslie', 'Shafi', 'Tony', 'Lynn'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Liskov', 'Dijkstra', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Lamport', 'Goldwasser'];
const CITIES = ['Lisbon', 'Berlin', 'Oslo', 'Nairobi', 'Osaka', 'Toronto', 'Lyon', 'Porto', 'Austin', 'Seoul', 'Krakow', 'Dublin'];
const COUNTRIES = ['PT', 'DE', 'NO', 'KE', 'JP', 'CA', 'FR', 'US', 'KR', 'PL', 'IE'];
const STREETS = ['Main Street', 'Station Road', 'Harbour Lane', 'Market Square', 'Mill Road', 'Church Street', 'Park Avenue'];
const TAGS = ['beta', 'premium', 'newsletter', 'mobile', 'early-adopter', 'churn-risk', 'enterprise', 'trial', 'referral'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'refunded'];
const WORDS =
  'the a order customer shipping delivery account support request update payment invoice product review quality fast slow great item package arrived late early thanks please contact again'.split(
    ' ',
  );

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)] as T;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** Exactly `n` characters of space-separated words. */
function text(rng: Rng, n: number): string {
  let out = '';
  while (out.length < n) out += `${out.length === 0 ? '' : ' '}${pick(rng, WORDS)}`;
  return out.slice(0, n);
}

function isoDate(rng: Rng): string {
  return new Date(Date.UTC(2020, 0, 1) + Math.floor(rng() * 5 * 365 * 86_400_000)).toISOString();
}

/**
 * A user record serialized to JSON of `targetBytes` bytes (ASCII, so bytes = characters): fields
 * are added while they fit, then orders, then a `note` of words pads it to the exact size.
 * Targets under ~100 bytes give the smallest record, which is somewhat longer.
 */
export function jsonDocument(rng: Rng, id: number, targetBytes: number): string {
  const first = pick(rng, FIRST);
  const last = pick(rng, LAST);
  const doc: Record<string, unknown> = { id, username: `${first.toLowerCase()}.${last.toLowerCase()}${id % 1000}`, createdAt: isoDate(rng) };
  const optional: Array<[string, () => unknown]> = [
    ['email', () => `${first.toLowerCase()}.${last.toLowerCase()}@example.com`],
    ['name', () => ({ first, last })],
    ['active', () => rng() < 0.8],
    [
      'address',
      () => ({
        street: `${int(rng, 1, 200)} ${pick(rng, STREETS)}`,
        city: pick(rng, CITIES),
        country: pick(rng, COUNTRIES),
        postcode: String(int(rng, 10000, 99999)),
      }),
    ],
    ['tags', () => Array.from({ length: int(rng, 1, 4) }, () => pick(rng, TAGS))],
    [
      'preferences',
      () => ({ theme: rng() < 0.5 ? 'dark' : 'light', language: pick(rng, ['en', 'pt', 'de', 'ja']), notifications: { email: rng() < 0.7, sms: rng() < 0.2 } }),
    ],
    ['lastLoginAt', () => isoDate(rng)],
  ];
  const fits = () => JSON.stringify(doc).length <= targetBytes - 12; // leave room for `,"note":"x"`
  for (const [field, make] of optional) {
    doc[field] = make();
    if (!fits()) {
      delete doc[field];
      break;
    }
  }
  const orders: unknown[] = [];
  doc.orders = orders;
  for (let n = 0; n < 1000; n++) {
    orders.push({
      orderId: `ord-${id}-${n}`,
      sku: `SKU-${int(rng, 1000, 9999)}`,
      qty: int(rng, 1, 5),
      priceCents: int(rng, 199, 99999),
      status: pick(rng, STATUSES),
      at: isoDate(rng),
    });
    if (!fits()) {
      orders.pop();
      break;
    }
  }
  if (orders.length === 0) delete doc.orders;
  const room = targetBytes - JSON.stringify(doc).length - ',"note":""'.length;
  if (room > 0) doc.note = text(rng, room);
  return JSON.stringify(doc);
}

/** `count` documents whose sizes are log-uniform in [minBytes, maxBytes]. */
export function jsonCorpus(rng: Rng, count: number, minBytes: number, maxBytes: number): string[] {
  const ratio = Math.log(maxBytes / minBytes);
  return Array.from({ length: count }, (_, i) => jsonDocument(rng, i, Math.round(minBytes * Math.exp(rng() * ratio))));
}

/** `count` random (incompressible) values of `bytes` bytes each, from the seeded generator. */
export function randomValues(rng: Rng, count: number, bytes: number): Buffer[] {
  if (bytes % 4 !== 0) throw new RangeError(`random value size must be a multiple of 4, got ${bytes}`);
  return Array.from({ length: count }, () => {
    const value = Buffer.allocUnsafe(bytes);
    for (let i = 0; i < bytes; i += 4) value.writeUInt32LE(Math.floor(rng() * 4294967296), i);
    return value;
  });
}

/**
 * `count` values of `chars` characters of base64 text (seeded random bytes, encoded), as people
 * store tokens, blobs and ids: brotli saves about a quarter of them.
 */
export function base64TextValues(rng: Rng, count: number, chars: number): string[] {
  if (chars % 4 !== 0) throw new RangeError(`base64 text length must be a multiple of 4, got ${chars}`);
  return Array.from({ length: count }, () => {
    const bytes = Buffer.allocUnsafe((chars / 4) * 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
    return bytes.toString('base64');
  });
}
