import t from 'tap';
import type { CodecName } from '../../src/config.js';
import { CODEC_BROTLI, CODEC_RAW, type Codec, distinctSampleBytes, ValueCodec } from '../../src/storage/codec.js';
import { WasmBrotliCodec } from '../../src/storage/wasm-codec.js';
import { createCodec, InlineBrotliCodec, ZlibBrotliCodec } from '../../src/storage/zlib-codec.js';
import { seededRandom } from '../helpers/random.js';

function seededBytes(seed: number, n: number): Buffer {
  const rand = seededRandom(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** JSON documents of the kind the store holds: repetitive keys, varied values. */
function jsonDoc(seed: number, records: number): Buffer {
  const rand = seededRandom(seed);
  const rows = Array.from({ length: records }, (_, i) => ({
    id: i,
    user: `user-${Math.floor(rand() * 1000)}`,
    email: `person${Math.floor(rand() * 10000)}@example.com`,
    active: rand() < 0.5,
    score: Math.round(rand() * 10000) / 100,
    tags: ['alpha', 'beta', 'gamma'].filter(() => rand() < 0.5),
    note: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit — ünïcödé ✓',
  }));
  return Buffer.from(JSON.stringify({ version: 1, rows }));
}

/** A Codec that counts calls and delegates to the real one. */
class CountingCodec implements Codec {
  readonly name = 'zlib' as const;
  compressCalls = 0;
  decompressCalls = 0;
  private readonly inner = new ZlibBrotliCodec();
  compress(raw: Buffer, quality: number): Promise<Buffer> {
    this.compressCalls++;
    return this.inner.compress(raw, quality);
  }
  decompress(data: Buffer): Promise<Buffer> {
    this.decompressCalls++;
    return this.inner.decompress(data);
  }
}

t.test('distinctSampleBytes orders zeros < text < JSON < random', async (t) => {
  const zeros = Buffer.alloc(4096);
  const text = Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(100));
  const json = Buffer.from(
    JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: i, name: `user ${i}`, email: `u${i}@example.com`, active: i % 2 === 0 }))),
  );
  const random = seededBytes(1, 4096);
  const [dz, dt, dj, dr] = [zeros, text, json, random].map(distinctSampleBytes) as [number, number, number, number];
  t.equal(dz, 1, 'one repeated byte');
  t.equal(distinctSampleBytes(Buffer.alloc(0)), 0, 'empty is 0');
  t.ok(dz < dt && dt <= dj && dj < dr, `zeros ${dz} < text ${dt} <= JSON ${dj} < random ${dr}`);
  t.ok(dj <= 80 && dr > 80, 'JSON is tried, random is not (threshold 80 of 128)');
  t.equal(distinctSampleBytes(Buffer.from([0, 1, 2, 3, 3, 2])), 4, 'counts distinct values');
  // Repeated calls do not leak state between samples (the mark wraps every 255 calls).
  for (let i = 0; i < 600; i++) t.equal(distinctSampleBytes(Buffer.from([i % 256, (i + 1) % 256])), 2);
  // The sample spans the whole value: random data behind 512 zero bytes is seen.
  t.ok(distinctSampleBytes(Buffer.concat([Buffer.alloc(512), random])) > 60, 'samples across the value, not only a prefix');
});

t.test('ValueCodec decides per value', async (t) => {
  t.test('short values are stored raw without calling the codec', async (t) => {
    const codec = new CountingCodec();
    const vc = new ValueCodec(codec, { minBytes: 512, quality: 4 });
    for (const raw of [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(511, 'a')]) {
      const v = await vc.encode(raw);
      t.equal(v.codec, CODEC_RAW, `${raw.length} bytes stored raw`);
      t.ok(v.stored.equals(raw));
      t.ok(v.raw?.equals(raw));
      t.ok((await vc.decode(v)).equals(raw), 'decodes');
    }
    t.equal(codec.compressCalls, 0, 'compress never called');
    t.equal(codec.decompressCalls, 0, 'decompress never called');
    t.equal(vc.storedRaw, 3);
    t.equal(vc.compressed, 0);
  });

  t.test('random bytes are stored raw without calling the codec', async (t) => {
    const codec = new CountingCodec();
    const vc = new ValueCodec(codec, { minBytes: 64, quality: 4 });
    for (const [i, size] of [600, 4096, 100_000].entries()) {
      const raw = seededBytes(100 + i, size);
      const v = await vc.encode(raw);
      t.equal(v.codec, CODEC_RAW, `${size} random bytes stored raw`);
      t.ok((await vc.decode(v)).equals(raw), `${size} random bytes decode`);
      t.equal(codec.compressCalls, 0, `no compress call after ${i + 1} values`);
    }
    t.equal(vc.storedRaw, 3);
  });

  t.test('compressible JSON is compressed, smaller, and round trips', async (t) => {
    const codec = new CountingCodec();
    const vc = new ValueCodec(codec, { minBytes: 512, quality: 4 });
    for (const records of [5, 50, 2000]) {
      const raw = jsonDoc(records, records);
      t.ok(raw.length >= 512, `doc of ${raw.length} bytes is over minBytes`);
      const v = await vc.encode(raw);
      t.equal(v.codec, CODEC_BROTLI, `${raw.length} bytes of JSON compressed`);
      t.ok(v.stored.length <= raw.length * 0.875, `saved at least 1/8 (${v.stored.length} of ${raw.length})`);
      t.ok(v.raw?.equals(raw), 'raw kept on write');
      // As read back from disk: only the stored form is known.
      const fromDisk = { codec: v.codec, stored: Buffer.from(v.stored), raw: undefined };
      const decoded = await vc.decode(fromDisk);
      t.ok(decoded.equals(raw), 'decodes to the original bytes');
      t.ok(fromDisk.raw !== undefined && decoded.equals(fromDisk.raw), 'decoded form is remembered');
      const calls = codec.decompressCalls;
      await vc.decode(fromDisk);
      t.equal(codec.decompressCalls, calls, 'a second decode does not decompress again');
    }
    t.equal(vc.compressed, 3);
    t.equal(codec.compressCalls, 3);
  });

  t.test('a value that compresses too little is stored raw', async (t) => {
    // Random bytes (so brotli barely shrinks them) except at the sampled positions (so it is tried).
    const raw = seededBytes(7, 20_000);
    const stride = Math.floor(raw.length / 128);
    for (let i = 0; i < 128; i++) raw[i * stride] = 0x61;
    const codec = new CountingCodec();
    const vc = new ValueCodec(codec, { minBytes: 64, quality: 4 });
    const v = await vc.encode(raw);
    t.equal(codec.compressCalls, 1, 'brotli was tried');
    t.equal(v.codec, CODEC_RAW, 'but the raw form was kept');
    t.ok(v.stored.equals(raw));
    t.equal(vc.storedRaw, 1);
  });
});

t.test('zlib and brotli-wasm decode each other', async (t) => {
  const zlib = new ZlibBrotliCodec();
  const wasm = new WasmBrotliCodec();
  t.equal(zlib.name, 'zlib');
  t.equal(wasm.name, 'brotli-wasm');
  const corpus: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['small JSON', jsonDoc(1, 3)],
    ['medium JSON', jsonDoc(2, 200)],
    ['large JSON', jsonDoc(3, 1500)],
    ['random 1 KiB', seededBytes(11, 1024)],
    ['random 100 KiB', seededBytes(12, 100 * 1024)],
    ['zeros 64 KiB', Buffer.alloc(64 * 1024)],
  ];
  const pairs: [Codec, Codec][] = [
    [zlib, wasm],
    [wasm, zlib],
  ];
  for (const [name, raw] of corpus) {
    for (const quality of [0, 4, 11]) {
      for (const [enc, dec] of pairs) {
        const packed = await enc.compress(raw, quality);
        const out = await dec.decompress(packed);
        t.ok(out.equals(raw), `${name} q${quality}: ${enc.name} -> ${dec.name}`);
      }
    }
  }
});

t.test('the inline and worker zlib codecs decode each other, and write the same bytes', async (t) => {
  const worker = new ZlibBrotliCodec();
  t.teardown(() => worker.close());
  const inline = new InlineBrotliCodec();
  const corpus: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['small JSON', jsonDoc(21, 3)],
    ['medium JSON', jsonDoc(22, 200)],
    // Over the size the worker codec decompresses synchronously, so its thread-pool path is used too.
    ['large JSON', jsonDoc(23, 1500)],
    ['random 100 KiB', seededBytes(24, 100 * 1024)],
  ];
  for (const [name, raw] of corpus) {
    for (const quality of [0, 4, 11]) {
      const byWorker = await worker.compress(raw, quality);
      const byInline = await inline.compress(raw, quality);
      t.ok((await inline.decompress(byWorker)).equals(raw), `${name} q${quality}: worker -> inline`);
      t.ok((await worker.decompress(byInline)).equals(raw), `${name} q${quality}: inline -> worker`);
      t.ok(byInline.equals(byWorker), `${name} q${quality}: same parameters, same bytes`);
    }
  }
});

t.test('InlineBrotliCodec settles every call before it returns', async (t) => {
  const codec = new InlineBrotliCodec();
  const raw = jsonDoc(31, 50);
  // A promise settled at return wins a race against one resolved in the same microtask turn.
  const first = <T>(p: Promise<T>) =>
    Promise.race([
      p.then(
        () => 'codec',
        () => 'codec',
      ),
      Promise.resolve().then(() => 'later'),
    ]);
  const packedCall = codec.compress(raw, 4);
  t.equal(await first(packedCall), 'codec', 'compress');
  const packed = await packedCall;
  t.equal(await first(codec.decompress(packed)), 'codec', 'decompress');
  const failed = codec.decompress(Buffer.from('not brotli at all, only text'));
  t.equal(await first(failed), 'codec', 'a failure is settled too');
  await t.rejects(failed, 'and rejects');
});

t.test('ZlibBrotliCodec compresses the values of one turn in one worker message', async (t) => {
  const codec = new ZlibBrotliCodec();
  t.teardown(() => codec.close());
  const raws = Array.from({ length: 50 }, (_, i) => jsonDoc(100 + i, 1 + (i % 7) * 20));
  const packed = await Promise.all(raws.map((raw, i) => codec.compress(raw, i % 2 === 0 ? 4 : 9)));
  t.equal(codec.batches, 1, '50 compressions issued in one turn: one message');
  let roundTrips = 0;
  for (const [i, p] of packed.entries()) {
    if (p.length < (raws[i] as Buffer).length && (await codec.decompress(p)).equals(raws[i] as Buffer)) roundTrips++;
  }
  t.equal(roundTrips, raws.length, 'each value came back compressed and decodes to itself');
  const later = await codec.compress(raws[0] as Buffer, 4);
  t.equal(codec.batches, 2, 'a later turn is a new message');
  t.ok((await codec.decompress(later)).equals(raws[0] as Buffer));
});

t.test('ZlibBrotliCodec: values of mixed sizes and qualities in one batch come back as the inline codec writes them, each in its own memory', async (t) => {
  const codec = new ZlibBrotliCodec();
  t.teardown(() => codec.close());
  const inline = new InlineBrotliCodec();
  const raws = [Buffer.alloc(0), ...Array.from({ length: 7 }, (_, i) => jsonDoc(200 + i, 1 + i * 40)), seededBytes(9, 3000)];
  const qualities = raws.map((_, i) => i % 6);
  const packed = await Promise.all(raws.map((raw, i) => codec.compress(raw, qualities[i] as number)));
  t.equal(codec.batches, 1, 'one batch');
  for (const [i, p] of packed.entries()) {
    const raw = raws[i] as Buffer;
    t.ok(p.equals(await inline.compress(raw, qualities[i] as number)), `value ${i} (${raw.length} bytes, q${qualities[i]}): the same bytes as inline`);
    // A cached value must not pin the whole batch's buffer.
    t.ok(p.buffer.byteLength <= Math.max(p.byteLength, 8192), `value ${i}: its own allocation, not a view of the batch`);
  }
});

t.test('values the zlib codecs return hold memory of about their own size, not a 16 KiB zlib chunk', async (t) => {
  const worker = new ZlibBrotliCodec();
  t.teardown(() => worker.close());
  const raws = [jsonDoc(301, 3), jsonDoc(302, 20), jsonDoc(303, 60)];
  for (const codec of [worker, new InlineBrotliCodec()]) {
    for (const raw of raws) {
      const packed = await codec.compress(raw, 1);
      const unpacked = await codec.decompress(packed);
      t.ok(unpacked.equals(raw), `${codec.constructor.name}: ${raw.length} bytes round trip`);
      // Small copies share Node's 8 KiB pool with other small Buffers; larger ones get at most about twice their size.
      for (const [what, b] of [
        ['compressed', packed],
        ['decompressed', unpacked],
      ] as const) {
        t.ok(
          b.buffer.byteLength <= Math.max(8192, 2 * b.byteLength + 1024),
          `${codec.constructor.name}: ${what} ${b.byteLength} bytes in ${b.buffer.byteLength}`,
        );
      }
    }
  }
});

t.test('ZlibBrotliCodec: compressions pending when the worker stops fail, and the next call starts a new worker', async (t) => {
  const codec = new ZlibBrotliCodec();
  t.teardown(() => codec.close());
  const raw = jsonDoc(7, 400);
  const pending = codec.compress(raw, 11);
  await new Promise<void>((r) => setImmediate(r)); // the batch is now with the worker
  const closed = codec.close();
  await t.rejects(pending, /brotli worker exited/, 'the pending compression is rejected, not left hanging');
  await closed;
  const again = await codec.compress(raw, 4);
  t.ok((await codec.decompress(again)).equals(raw), 'a new worker serves the next call');
});

t.test('each codec rejects data that is not brotli', async (t) => {
  const garbage = Buffer.from('this is definitely not a brotli stream, just plain text....');
  for (const codec of [new ZlibBrotliCodec(), new InlineBrotliCodec(), new WasmBrotliCodec()]) {
    await t.rejects(codec.decompress(garbage), `${codec.name} rejects garbage`);
  }
});

t.test('createCodec picks by name', async (t) => {
  const cases: [CodecName, string][] = [
    ['zlib', 'zlib'],
    ['brotli-wasm', 'brotli-wasm'],
  ];
  for (const [name, want] of cases) t.equal(createCodec(name).name, want);
  const vc = new ValueCodec(createCodec('brotli-wasm'), { minBytes: 16, quality: 4 });
  const raw = jsonDoc(9, 100);
  const v = await vc.encode(raw);
  t.equal(v.codec, CODEC_BROTLI);
  const viaZlib = new ValueCodec(createCodec('zlib'), { minBytes: 16, quality: 4 });
  t.ok((await viaZlib.decode({ codec: v.codec, stored: v.stored, raw: undefined })).equals(raw), 'a value written with wasm reads with zlib');
});
