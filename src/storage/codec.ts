/**
 * Value compression. The stored form of a value is a flag (raw or brotli) plus bytes; the flag
 * lives in the record encoding. Brotli is one format, so the two implementations here decode
 * each other's output (a test proves it):
 * - `zlib` (default): Node's built-in brotli, async on the libuv thread pool so compression stays
 *   off the event loop; measured 3-6x faster than brotli-wasm.
 * - `brotli-wasm`: the same codec in WebAssembly, synchronous; loaded through createRequire
 *   because its ESM entry is the web build and fails on Node 20.
 *
 * Values under `minBytes`, and values that look incompressible (many distinct bytes in a sample),
 * are stored raw without calling brotli: on them it costs ~15 µs to save little or nothing.
 */
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlibConstants } from 'node:zlib';
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

const compressAsync = promisify(brotliCompress);
const decompressAsync = promisify(brotliDecompress);

export class ZlibBrotliCodec implements Codec {
  readonly name = 'zlib' as const;

  compress(raw: Buffer, quality: number): Promise<Buffer> {
    return compressAsync(raw, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: quality,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    });
  }

  decompress(data: Buffer): Promise<Buffer> {
    return decompressAsync(data);
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
