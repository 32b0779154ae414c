/**
 * Value compression. The stored form of a value is a flag (raw or brotli) plus bytes; the flag
 * lives in the record encoding. Brotli is one format, so the two implementations here decode
 * each other's output (a test proves it):
 * - `zlib` (default): Node's built-in brotli, async on the libuv thread pool so compression stays
 *   off the event loop; measured 3-6x faster than brotli-wasm.
 * - `brotli-wasm`: the same codec in WebAssembly, synchronous; loaded through createRequire
 *   because its ESM entry is the web build and fails on Node 20.
 *
 * Values under `minBytes`, and values that look incompressible (byte entropy of a sample), are
 * stored raw without calling brotli: on them it costs ~15 µs to save little or nothing.
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

const ENTROPY_SAMPLE_BYTES = 256;
/** Bits per byte above which brotli is not worth trying (random or already-compressed data). */
const INCOMPRESSIBLE_BITS_PER_BYTE = 6.9;
/** Keep the compressed form only when it saves at least 1/8 of the bytes. */
const MIN_SAVING_RATIO = 0.875;

/** Shannon entropy, in bits per byte, of a prefix sample of `data` (measured ≈2-4 µs for 256 B). */
export function sampleEntropy(data: Buffer): number {
  const n = Math.min(data.length, ENTROPY_SAMPLE_BYTES);
  if (n === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < n; i++) counts[data[i] as number] = (counts[data[i] as number] as number) + 1;
  let bits = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Decides per value whether compression pays, and does it. */
export class ValueCodec {
  compressed = 0;
  storedRaw = 0;

  constructor(
    readonly codec: Codec,
    private readonly options: ValueCodecOptions,
  ) {}

  async encode(raw: Buffer): Promise<StoredValue> {
    if (raw.length < this.options.minBytes || sampleEntropy(raw) > INCOMPRESSIBLE_BITS_PER_BYTE) {
      this.storedRaw++;
      return { codec: CODEC_RAW, stored: raw, raw };
    }
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
