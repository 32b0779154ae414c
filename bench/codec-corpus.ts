/**
 * The corpus the codec table measures: values as users store them, seeded, by kind and size.
 * Compressible kinds: JSON documents (json-documents.ts), base64 text (random bytes, encoded) and
 * English-like prose; Chinese-like prose (3-byte UTF-8: many distinct bytes, yet compressible); kinds the entropy pre-check should skip: random bytes and already
 * gzip-compressed JSON; and a kind that is binary yet compressible (float64 readings), the case
 * where a pre-check that counts distinct bytes can be wrong.
 */
import { gzipSync } from 'node:zlib';
import { base64TextValues, jsonDocument, type Rng, randomValues, seededRng } from './json-documents.js';

export const CORPUS_SIZES = [100, 512, 1024, 4096, 16384] as const;

export type ValueKind = 'json' | 'base64' | 'english' | 'cjk' | 'random' | 'gzipped' | 'float64';
/** Kinds users store as text, the ones the settings are chosen on. */
export const TEXT_KINDS: readonly ValueKind[] = ['json', 'base64', 'english'];
export const ALL_KINDS: readonly ValueKind[] = ['json', 'base64', 'english', 'cjk', 'random', 'gzipped', 'float64'];

/** Common English words, most frequent first: prose draws them with Zipf weights. */
const ENGLISH = (
  'the of and to a in is it you that he was for on are with as I his they be at one have this from or had by hot word but what some we can out other were all ' +
  'there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two ' +
  'has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take ' +
  'get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think ' +
  'say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand ' +
  'port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point ' +
  'mother world near build self earth father head stand own page should country found answer school grow study still learn plant cover food sun four between ' +
  'state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press close night real life few north'
).split(' ');
const ZIPF = (() => {
  const weights = ENGLISH.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((w) => {
    sum += w / total;
    return sum;
  });
})();

function zipfWord(rng: Rng): string {
  const u = rng();
  let lo = 0;
  let hi = ZIPF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ZIPF[mid] as number) < u) lo = mid + 1;
    else hi = mid;
  }
  return ENGLISH[lo] as string;
}

/** Exactly `bytes` characters of prose: sentences of 4-20 Zipf-distributed words. */
export function englishText(rng: Rng, bytes: number): string {
  let out = '';
  while (out.length < bytes) {
    const words = Array.from({ length: 4 + Math.floor(rng() * 17) }, () => zipfWord(rng));
    const sentence = words.join(' ');
    out += `${out ? ' ' : ''}${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}${rng() < 0.15 ? ',' : '.'}`;
  }
  return out.slice(0, bytes);
}

/** About `bytes` bytes of Chinese-like prose: Zipf-distributed characters of the CJK block, in UTF-8 (3 bytes each), cut to `bytes`. */
function cjkText(rng: Rng, bytes: number): Buffer {
  let out = '';
  while (Buffer.byteLength(out) < bytes) {
    const u = zipfWord(rng);
    // A character per word rank: the same Zipf law over 300 characters, then a full stop now and then.
    out += String.fromCodePoint(0x4e00 + ENGLISH.indexOf(u) * 37) + (rng() < 0.06 ? '\u3002' : '');
  }
  return Buffer.from(out, 'utf8').subarray(0, bytes);
}

/** A series of float64 sensor readings (a slow random walk with 2 decimals), little-endian. */
function float64Readings(rng: Rng, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let v = 20 + rng() * 10;
  for (let at = 0; at + 8 <= bytes; at += 8) {
    v += (rng() - 0.5) * 0.2;
    out.writeDoubleLE(Math.round(v * 100) / 100, at);
  }
  return out;
}

/** `count` values of one kind, each of exactly `bytes` bytes (gzipped: gzip output of JSON, about that size). */
export function corpusValues(kind: ValueKind, bytes: number, count: number, seed: number): Buffer[] {
  const rng = seededRng(seed);
  switch (kind) {
    case 'json':
      return Array.from({ length: count }, (_, i) => Buffer.from(jsonDocument(rng, i, bytes), 'utf8'));
    case 'base64':
      return base64TextValues(rng, count, bytes - (bytes % 4)).map((v) => Buffer.from(v, 'utf8'));
    case 'english':
      return Array.from({ length: count }, () => Buffer.from(englishText(rng, bytes), 'utf8'));
    case 'cjk':
      return Array.from({ length: count }, () => cjkText(rng, bytes));
    case 'random':
      return randomValues(rng, count, bytes - (bytes % 4));
    case 'gzipped':
      // JSON about 8x the size, gzipped, cut: what a client that compresses before storing sends.
      return Array.from({ length: count }, (_, i) => gzipSync(jsonDocument(rng, i, bytes * 8)).subarray(0, bytes));
    case 'float64':
      return Array.from({ length: count }, () => float64Readings(rng, bytes));
  }
}
