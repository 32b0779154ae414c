import t from 'tap';
import type { Sibling } from '../../src/clock/index.js';
import { KvError } from '../../src/errors.js';
import { CODEC_BROTLI, CODEC_RAW, type StoredValue } from '../../src/storage/codec.js';
import { decodeRecord, encodeRecord, recordMemoryBytes, type StoredRecord } from '../../src/storage/record-format.js';
import { ZlibBrotliCodec } from '../../src/storage/zlib-codec.js';
import { seededRandom } from '../helpers/random.js';

const rawValue = (s: string | Buffer): StoredValue => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return { codec: CODEC_RAW, stored: b, raw: b };
};

/** Comparable form: clock entries in stored order, siblings with flag and stored bytes. */
const view = (r: StoredRecord) => ({
  clock: [...r.clock],
  siblings: r.siblings.map((s) => ({
    dot: [...s.dot],
    ts: s.ts,
    value: s.value === null ? null : { codec: s.value.codec, stored: s.value.stored.toString('hex') },
  })),
});

async function sampleRecords(): Promise<[string, StoredRecord][]> {
  const zlib = new ZlibBrotliCodec();
  const json = Buffer.from(JSON.stringify({ rows: Array.from({ length: 100 }, (_, i) => ({ i, name: `row ${i}` })) }));
  const packed = await zlib.compress(json, 4);
  const sib = (actor: string, counter: number, ts: number, value: StoredValue | null): Sibling<StoredValue> => ({ dot: [actor, counter], ts, value });
  return [
    ['empty record', { clock: new Map(), siblings: [] }],
    ['one raw sibling', { clock: new Map([['n1', 1]]), siblings: [sib('n1', 1, 1_700_000_000_000, rawValue('hello'))] }],
    [
      'several clock entries and mixed siblings',
      {
        clock: new Map([
          ['n1', 5],
          ['n2', 2 ** 40],
          ['n3', 1],
        ]),
        siblings: [
          sib('n1', 5, 10, rawValue('raw value')),
          sib('n2', 2 ** 40, 2 ** 48 - 1, { codec: CODEC_BROTLI, stored: packed, raw: json }),
          sib('n3', 1, 0, null),
        ],
      },
    ],
    [
      'unicode actor names',
      {
        clock: new Map([
          ['nœud-é', 3],
          ['узел-😀', 9],
          ['', 1],
        ]),
        siblings: [sib('узел-😀', 9, 123, rawValue('значение ✓')), sib('', 1, 4, rawValue('x'))],
      },
    ],
    ['empty value is not a tombstone', { clock: new Map([['a', 2]]), siblings: [sib('a', 1, 1, rawValue('')), sib('a', 2, 2, null)] }],
    ['only a tombstone', { clock: new Map([['a', 1]]), siblings: [sib('a', 1, 1, null)] }],
    [
      'binary value with every byte',
      { clock: new Map([['a', 1]]), siblings: [sib('a', 1, 1, rawValue(Buffer.from(Array.from({ length: 256 }, (_, i) => i))))] },
    ],
    [
      'many siblings',
      {
        clock: new Map([['a', 300]]),
        siblings: Array.from({ length: 300 }, (_, i) => sib('a', i + 1, i, i % 7 === 0 ? null : rawValue(`v${i}`))),
      },
    ],
  ];
}

t.test('encode/decode round trip', async (t) => {
  for (const [name, record] of await sampleRecords()) {
    const bytes = encodeRecord(record);
    const back = decodeRecord(bytes);
    t.same(view(back), view(record), name);
    t.same(encodeRecord(back).toString('hex'), bytes.toString('hex'), `${name}: re-encodes byte for byte`);
    for (const s of back.siblings) {
      if (s.value === null) continue;
      if (s.value.codec === CODEC_RAW) t.ok(s.value.raw?.equals(s.value.stored), `${name}: raw value has its raw bytes`);
      else t.equal(s.value.raw, undefined, `${name}: brotli value is decoded lazily`);
    }
  }
});

t.test('a decoded brotli value decompresses to the original', async (t) => {
  const zlib = new ZlibBrotliCodec();
  const [, record] = (await sampleRecords())[2]!;
  const back = decodeRecord(encodeRecord(record));
  const brotli = back.siblings[1]!.value!;
  t.equal(brotli.codec, CODEC_BROTLI);
  t.ok((await zlib.decompress(brotli.stored)).equals(record.siblings[1]!.value!.raw!));
});

t.test('empty value and tombstone stay distinct', async (t) => {
  const [, record] = (await sampleRecords())[4]!;
  const back = decodeRecord(encodeRecord(record));
  t.not(back.siblings[0]!.value, null, 'the empty value is a value');
  t.equal(back.siblings[0]!.value?.stored.length, 0);
  t.equal(back.siblings[1]!.value, null, 'the tombstone is null');
});

t.test('every truncation throws KV_STORAGE', async (t) => {
  for (const [name, record] of await sampleRecords()) {
    const bytes = encodeRecord(record);
    let wrong = 0;
    for (let n = 0; n < bytes.length; n++) {
      try {
        decodeRecord(bytes.subarray(0, n));
        wrong++;
      } catch (err) {
        if (!(err instanceof KvError) || err.code !== 'KV_STORAGE') wrong++;
      }
    }
    t.equal(wrong, 0, `${name}: all ${bytes.length} prefixes rejected with KV_STORAGE`);
  }
});

t.test('specific corruptions throw KV_STORAGE', async (t) => {
  const [, record] = (await sampleRecords())[1]!;
  const good = encodeRecord(record);
  // Layout of 'one raw sibling': fmt(1) nclock(2) [len(2) "n1"(2) ctr(6)] nsib(2) [len(2) "n1" ctr(6) ts(6) flags(1) vlen(4) "hello"]
  const flagsAt = 1 + 2 + 2 + 2 + 6 + 2 + 2 + 2 + 6 + 6;
  const patch = (at: number, bytes: number[]): Buffer => {
    const b = Buffer.from(good);
    for (const [i, x] of bytes.entries()) b[at + i] = x;
    return b;
  };
  t.equal(good[flagsAt], CODEC_RAW, 'layout as documented');
  const cases: [string, Buffer][] = [
    ['empty buffer', Buffer.alloc(0)],
    ['unknown format version', patch(0, [2])],
    ['format 0', patch(0, [0])],
    ['unknown codec 5', patch(flagsAt, [5])],
    ['unknown codec 0x7f', patch(flagsAt, [0x7f])],
    ['value length past the end', patch(flagsAt + 1, [0, 0, 0, 6])],
    ['value length 4 GiB', patch(flagsAt + 1, [0xff, 0xff, 0xff, 0xff])],
    ['clock actor length past the end', patch(3, [0xff, 0xff])],
    ['clock entry count too large', patch(1, [0x00, 0x09])],
    ['sibling count too large', patch(13, [0xff, 0xff])],
    ['sibling actor length past the end', patch(15, [0x7f, 0xff])],
  ];
  for (const [name, buf] of cases) t.throws(() => decodeRecord(buf), { code: 'KV_STORAGE', name: 'KvError' }, name);
  try {
    decodeRecord(Buffer.alloc(0));
  } catch (err) {
    t.ok((err as Error).cause !== undefined, 'keeps the original error as cause');
  }
});

t.test('random garbage and bit flips: KV_STORAGE or a record, never another error', async (t) => {
  const records = await sampleRecords();
  for (let seed = 1; seed <= 300; seed++) {
    const rand = seededRandom(seed);
    let input: Buffer;
    if (seed % 2 === 0) {
      input = Buffer.alloc(Math.floor(rand() * 200));
      for (let i = 0; i < input.length; i++) input[i] = Math.floor(rand() * 256);
      if (input.length > 0) input[0] = 1; // get past the version check
    } else {
      const [, record] = records[Math.floor(rand() * records.length)]!;
      input = encodeRecord(record);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) {
        const i = Math.floor(rand() * input.length);
        input[i] = (input[i] as number) ^ (1 << Math.floor(rand() * 8));
      }
    }
    let outcome = 'decoded';
    try {
      const r = decodeRecord(input);
      // Whatever decodes must at least re-encode.
      encodeRecord(r);
    } catch (err) {
      outcome = err instanceof KvError ? err.code : `${(err as Error).name}: ${(err as Error).message}`;
    }
    t.ok(outcome === 'decoded' || outcome === 'KV_STORAGE', `seed=${seed}: ${outcome}`);
  }
});

t.test('recordMemoryBytes counts stored and decoded bytes', async (t) => {
  const small: StoredRecord = { clock: new Map([['a', 1]]), siblings: [{ dot: ['a', 1], ts: 1, value: rawValue('x') }] };
  const big: StoredRecord = { clock: new Map([['a', 1]]), siblings: [{ dot: ['a', 1], ts: 1, value: rawValue('x'.repeat(1000)) }] };
  t.equal(recordMemoryBytes(big) - recordMemoryBytes(small), 999, 'raw bytes counted once (stored === raw)');
  const stored = Buffer.alloc(100);
  const lazy: StoredRecord = { clock: new Map(), siblings: [{ dot: ['a', 1], ts: 1, value: { codec: CODEC_BROTLI, stored, raw: undefined } }] };
  const decoded: StoredRecord = {
    clock: new Map(),
    siblings: [{ dot: ['a', 1], ts: 1, value: { codec: CODEC_BROTLI, stored, raw: Buffer.alloc(700) } }],
  };
  t.equal(recordMemoryBytes(decoded) - recordMemoryBytes(lazy), 700, 'decoded bytes of a compressed value counted too');
  const tomb: StoredRecord = { clock: new Map(), siblings: [{ dot: ['a', 1], ts: 1, value: null }] };
  t.ok(recordMemoryBytes(tomb) > recordMemoryBytes({ clock: new Map(), siblings: [] }), 'a tombstone still weighs something');
});

t.test('a record without deadlines keeps format 1; a deadline makes format 2, which round-trips', async (t) => {
  const plain: StoredRecord = { clock: new Map([['a', 1]]), siblings: [{ dot: ['a', 1], ts: 1_700_000_000_000, value: rawValue('v') }] };
  const plainBytes = encodeRecord(plain);
  t.equal(plainBytes[0], 1, 'format 1, byte for byte as before deadlines existed');
  t.equal(plainBytes.length, 1 + 2 + (2 + 1 + 6) + 2 + (2 + 1 + 6 + 6 + 1 + 4 + 1));
  const expiring: StoredRecord = {
    clock: new Map([
      ['a', 1],
      ['b', 2],
    ]),
    siblings: [
      { dot: ['a', 1], ts: 1_700_000_000_000, value: rawValue('keep') },
      { dot: ['b', 2], ts: 1_700_000_000_001, value: rawValue('soon'), expiresAt: 1_700_000_060_001 },
    ],
  };
  const bytes = encodeRecord(expiring);
  t.equal(bytes[0], 2);
  t.equal(
    bytes.length,
    encodeRecord({ ...expiring, siblings: expiring.siblings.map(({ expiresAt: _, ...s }) => s) }).length + 2 * 6,
    '6 bytes more per sibling',
  );
  const back = decodeRecord(bytes);
  t.same(
    back.siblings.map((s) => [s.dot, s.expiresAt]),
    [
      [['a', 1], undefined],
      [['b', 2], 1_700_000_060_001],
    ],
  );
  t.ok(encodeRecord(back).equals(bytes), 'the decoded record encodes to the same bytes');
});

t.test('a tombstone with a deadline, and an unknown format, are corrupt records', async (t) => {
  const record: StoredRecord = { clock: new Map([['a', 1]]), siblings: [{ dot: ['a', 1], ts: 5, value: rawValue('x'), expiresAt: 9 }] };
  const bytes = encodeRecord(record);
  // The flags byte follows actor (2 + 1), counter, ts and deadline (18): make it a tombstone.
  const flagsAt = 1 + 2 + (2 + 1 + 6) + 2 + (2 + 1 + 6 + 6 + 6);
  const tombstoneWithDeadline = Buffer.from(bytes);
  tombstoneWithDeadline[flagsAt] = 0x80;
  t.throws(() => decodeRecord(tombstoneWithDeadline), { code: 'KV_STORAGE', message: /tombstone with a deadline/ });
  const unknownFormat = Buffer.from(bytes);
  unknownFormat[0] = 3;
  t.throws(() => decodeRecord(unknownFormat), { code: 'KV_STORAGE', message: /unknown record format 3/ });
});
