import t from 'tap';
import { hashString, murmur3 } from '../../src/ring/index.js';

const bytes = (...xs: number[]) => Uint8Array.from(xs);
const utf8 = (s: string) => new TextEncoder().encode(s);

// MurmurHash3_x86_32 reference vectors (Austin Appleby's SMHasher; the widely cited table of
// known answers, e.g. https://stackoverflow.com/a/31929528), covering every tail length.
const vectors: [string, Uint8Array, number, number][] = [
  ['empty, seed 0', bytes(), 0, 0x00000000],
  ['empty, seed 1', bytes(), 1, 0x514e28b7],
  ['empty, seed 0xffffffff', bytes(), 0xffffffff, 0x81f16f39],
  ['ff ff ff ff', bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
  ['21 43 65 87', bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
  ['21 43 65 87, seed 0x5082edee', bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
  ['21 43 65', bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
  ['21 43', bytes(0x21, 0x43), 0, 0xa0f7b07a],
  ['21', bytes(0x21), 0, 0x72661cf4],
  ['00 00 00 00', bytes(0, 0, 0, 0), 0, 0x2362f9de],
  ['00 00 00', bytes(0, 0, 0), 0, 0x85f0b427],
  ['00 00', bytes(0, 0), 0, 0x30f4c306],
  ['00', bytes(0), 0, 0x514e28b7],
  ['"aaaa"', utf8('aaaa'), 0x9747b28c, 0x5a97808a],
  ['"aaa"', utf8('aaa'), 0x9747b28c, 0x283e0130],
  ['"aa"', utf8('aa'), 0x9747b28c, 0x5d211726],
  ['"a"', utf8('a'), 0x9747b28c, 0x7fa09ea6],
  ['"abcd"', utf8('abcd'), 0x9747b28c, 0xf0478627],
  ['"abc"', utf8('abc'), 0x9747b28c, 0xc84a62dd],
  ['"ab"', utf8('ab'), 0x9747b28c, 0x74875592],
  ['"Hello, world!"', utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
  ['UTF-8 "ππππππππ"', utf8('ππππππππ'), 0x9747b28c, 0xd58063c1],
  ['256 × "a"', utf8('a'.repeat(256)), 0x9747b28c, 0x37405bdc],
  ['"abc", seed 0', utf8('abc'), 0, 0xb3dd93fa],
  ['"Hello, world!", seed 1234', utf8('Hello, world!'), 1234, 0xfaf6cdb3],
  ['"The quick brown fox jumps over the lazy dog"', utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
];

t.test('murmur3 matches the reference vectors', async (t) => {
  for (const [name, data, seed, expected] of vectors) {
    t.equal(murmur3(data, seed), expected, `${name} -> 0x${expected.toString(16).padStart(8, '0')}`);
  }
});

t.test('hashString hashes the UTF-8 bytes', async (t) => {
  for (const s of ['', 'a', 'user:1', 'ππ', '🙂 emoji', 'n003#17']) t.equal(hashString(s), murmur3(utf8(s)), JSON.stringify(s));
  t.equal(hashString('Hello, world!', 1234), 0xfaf6cdb3);
});

t.test('results are unsigned 32-bit integers', async (t) => {
  for (let i = 0; i < 1000; i++) {
    const h = hashString(`key-${i}`);
    if (!(Number.isInteger(h) && h >= 0 && h < 2 ** 32)) t.fail(`key-${i} hashed to ${h}`);
  }
  t.pass('1000 hashes in [0, 2^32)');
});

t.test('the hash spreads keys evenly over the ring', async (t) => {
  const buckets = new Array<number>(16).fill(0);
  const total = 64_000;
  for (let i = 0; i < total; i++) {
    const b = hashString(`key-${i}`) >>> 28;
    buckets[b] = (buckets[b] ?? 0) + 1;
  }
  const expected = total / 16;
  // chi-square with 15 degrees of freedom: p = 0.001 at 37.7.
  const chi2 = buckets.reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
  t.ok(chi2 < 37.7, `chi-square over 16 buckets is ${chi2.toFixed(1)}`);
});
