/**
 * Value compression. The stored form of a value is a flag (raw or brotli) plus bytes; the flag
 * lives in the record encoding. Brotli is one format, so the two implementations here decode
 * each other's output (a test proves it):
 * - `zlib` (default): Node's built-in brotli, compressing on a worker thread so it stays off the
 *   event loop; measured 3-6x faster than brotli-wasm.
 * - `brotli-wasm`: the same codec in WebAssembly, synchronous; loaded through createRequire
 *   because its ESM entry is the web build and fails on Node 20.
 *
 * Values under `minBytes`, and values that look incompressible (many distinct bytes in a sample),
 * are stored raw without calling brotli: on them it costs ~15 µs to save little or nothing.
 */
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { brotliDecompress, brotliDecompressSync } from 'node:zlib';
import type { CodecName } from '../config.js';

export const CODEC_RAW = 0;
export const CODEC_BROTLI = 1;
export type CodecFlag = typeof CODEC_RAW | typeof CODEC_BROTLI;

/** A compressor/decompressor of brotli streams. */
export interface Codec {
  readonly name: CodecName;
  compress(raw: Buffer, quality: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

const decompressAsync = promisify(brotliDecompress);

/**
 * Stored values up to this size are decompressed synchronously: measured here ~7 µs for a 1 KiB
 * JSON value, less than one thread-pool round trip; larger ones go to the thread pool.
 */
const SYNC_DECOMPRESS_MAX_BYTES = 8 * 1024;

/**
 * The compression worker: one message per batch of values, compressed one after another with the
 * synchronous brotli call. Plain CommonJS source (run with `eval`), so it needs no file of its own
 * and loads the same from `src/` under the tests and from `dist/`.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const C = zlib.constants;
parentPort.on('message', ({ seq, values, qualities }) => {
  const out = [];
  for (let i = 0; i < values.length; i++) {
    const raw = values[i];
    try {
      // A window just large enough for the value: measured 42 -> 33 µs per 1 KiB JSON value against
      // the default 4 MiB window, output the same size.
      const lgwin = Math.min(24, Math.max(10, Math.ceil(Math.log2(raw.length + 1))));
      out.push(zlib.brotliCompressSync(raw, { params: {
        [C.BROTLI_PARAM_QUALITY]: qualities[i],
        [C.BROTLI_PARAM_SIZE_HINT]: raw.length,
        [C.BROTLI_PARAM_LGWIN]: lgwin,
      } }));
    } catch (err) {
      out.push(String((err && err.message) || err));
    }
  }
  parentPort.postMessage({ seq, out });
});
`;

interface CompressRequest {
  raw: Buffer;
  quality: number;
  resolve: (packed: Buffer) => void;
  reject: (err: Error) => void;
}

/**
 * Node's built-in brotli, compressing on a worker thread: the compressions of one event-loop turn
 * go to the worker as one message and come back as one. Measured here on 1 KiB JSON values with 64
 * in flight: zlib's async brotliCompress spent ~170 µs of wall time per value on 2 cores (a stream,
 * an encoder with a 4 MiB window and a thread-pool hop per call), the worker ~35 µs, all of it off
 * the event loop. Small values decompress synchronously (cheaper than any hand-off).
 */
export class ZlibBrotliCodec implements Codec {
  readonly name = 'zlib' as const;
  private worker: Worker | undefined;
  private queue: CompressRequest[] = [];
  private scheduled = false;
  private seq = 0;
  private readonly inFlight = new Map<number, CompressRequest[]>();
  /** Messages sent to the worker (one per turn that compressed something). */
  batches = 0;

  compress(raw: Buffer, quality: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ raw, quality, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  decompress(data: Buffer): Promise<Buffer> {
    if (data.length > SYNC_DECOMPRESS_MAX_BYTES) return decompressAsync(data);
    try {
      return Promise.resolve(brotliDecompressSync(data));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const seq = ++this.seq;
    this.batches++;
    this.inFlight.set(seq, batch);
    const worker = this.startedWorker();
    if (this.inFlight.size === 1) worker.ref(); // pending compressions keep the process alive
    worker.postMessage({ seq, values: batch.map((r) => r.raw), qualities: batch.map((r) => r.quality) });
  }

  private startedWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref(); // an idle codec never keeps the process alive (ref'd while batches are out)
    worker.on('message', ({ seq, out }: { seq: number; out: (Uint8Array | string)[] }) => {
      const batch = this.inFlight.get(seq) ?? [];
      this.inFlight.delete(seq);
      if (this.inFlight.size === 0) worker.unref();
      batch.forEach((request, i) => {
        const packed = out[i];
        if (packed instanceof Uint8Array) request.resolve(Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength));
        else request.reject(new Error(`brotli compression failed: ${packed ?? 'no result'}`));
      });
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined; // the next batch starts a new one
      const lost = [...this.inFlight.values()].flat();
      this.inFlight.clear();
      for (const request of lost) request.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`brotli worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** Stops the worker (pending compressions fail); a later call starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) await worker.terminate();
  }
}

interface BrotliWasmModule {
  compress(buf: Uint8Array, options?: { quality?: number }): Uint8Array;
  decompress(buf: Uint8Array): Uint8Array;
}

export class WasmBrotliCodec implements Codec {
  readonly name = 'brotli-wasm' as const;
  private readonly wasm: BrotliWasmModule = createRequire(import.meta.url)('brotli-wasm') as BrotliWasmModule;

  async compress(raw: Buffer, quality: number): Promise<Buffer> {
    const out = this.wasm.compress(raw, { quality });
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }

  async decompress(data: Buffer): Promise<Buffer> {
    const out = this.wasm.decompress(data);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}

export function createCodec(name: CodecName): Codec {
  return name === 'brotli-wasm' ? new WasmBrotliCodec() : new ZlibBrotliCodec();
}

/** A value as stored: its flag and stored bytes, with the raw bytes when known. */
export interface StoredValue {
  readonly codec: CodecFlag;
  readonly stored: Buffer;
  /** Raw bytes; filled on write, or on first decode. */
  raw: Buffer | undefined;
}

export interface ValueCodecOptions {
  minBytes: number;
  quality: number;
}

const SAMPLE_BYTES = 128;
/**
 * Distinct byte values in a 128-byte sample above which brotli is not worth trying: random or
 * already-compressed data shows ~100 of 256, text and JSON 20-50. Counting them costs well under
 * a microsecond, where an entropy estimate over 512 bytes cost ~4 µs per put in the profile.
 */
const INCOMPRESSIBLE_DISTINCT_BYTES = 80;
/** Keep the compressed form only when it saves at least 1/8 of the bytes. */
const MIN_SAVING_RATIO = 0.875;
const seen = new Uint8Array(256);
let seenMark = 0;

/** Number of distinct byte values among the first 128 bytes of `data`, sampled evenly. */
export function distinctSampleBytes(data: Buffer): number {
  const n = data.length;
  if (n === 0) return 0;
  // A fresh mark per call avoids clearing the table; it wraps after 255 calls.
  seenMark = seenMark === 255 ? 1 : seenMark + 1;
  if (seenMark === 1) seen.fill(0);
  const take = Math.min(n, SAMPLE_BYTES);
  const stride = n > SAMPLE_BYTES ? Math.floor(n / SAMPLE_BYTES) : 1;
  let distinct = 0;
  for (let i = 0, at = 0; i < take; i++, at += stride) {
    const b = data[at] as number;
    if (seen[b] !== seenMark) {
      seen[b] = seenMark;
      distinct++;
    }
  }
  return distinct;
}

/** Decides per value whether compression pays, and does it. */
export class ValueCodec {
  compressed = 0;
  storedRaw = 0;

  constructor(
    readonly codec: Codec,
    private readonly options: ValueCodecOptions,
  ) {}

  /** The value stored raw when compressing it cannot pay (short, or random-looking), else undefined. */
  encodeCheap(raw: Buffer): StoredValue | undefined {
    if (raw.length < this.options.minBytes || distinctSampleBytes(raw) > INCOMPRESSIBLE_DISTINCT_BYTES) {
      this.storedRaw++;
      return { codec: CODEC_RAW, stored: raw, raw };
    }
    return undefined;
  }

  async encode(raw: Buffer): Promise<StoredValue> {
    const cheap = this.encodeCheap(raw);
    if (cheap) return cheap;
    const packed = await this.codec.compress(raw, this.options.quality);
    if (packed.length > raw.length * MIN_SAVING_RATIO) {
      this.storedRaw++;
      return { codec: CODEC_RAW, stored: raw, raw };
    }
    this.compressed++;
    return { codec: CODEC_BROTLI, stored: packed, raw };
  }

  async decode(value: StoredValue): Promise<Buffer> {
    if (value.raw === undefined) {
      value.raw = value.codec === CODEC_RAW ? value.stored : await this.codec.decompress(value.stored);
    }
    return value.raw;
  }
}
