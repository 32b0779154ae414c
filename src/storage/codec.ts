/**
 * Value compression, the pure part: the stored form of a value is a flag (raw or brotli) plus
 * bytes (the flag lives in the record encoding), and ValueCodec decides per value whether brotli
 * pays. The brotli implementations are injected as a `Codec`: src/storage/zlib-codec.ts (worker
 * thread, and inline for the simulator) and src/storage/wasm-codec.ts.
 *
 * Values under `minBytes`, and values that look incompressible (many distinct bytes in a sample),
 * are stored raw without calling brotli: on them it costs ~15 µs to save little or nothing.
 */
import type { CodecName } from '../config.js';

export const CODEC_RAW = 0;
export const CODEC_BROTLI = 1;
export type CodecFlag = typeof CODEC_RAW | typeof CODEC_BROTLI;

/**
 * A compressor/decompressor of brotli streams. Every implementation reads the others' output
 * (brotli is one format; test/storage/codec.test.ts proves each pair), so the choice never
 * reaches the stored data.
 */
export interface Codec {
  readonly name: CodecName;
  compress(raw: Buffer, quality: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

/** A value as stored: its flag and stored bytes, with the raw bytes when known. */
export interface StoredValue {
  readonly codec: CodecFlag;
  readonly stored: Buffer;
  /** Raw bytes; filled on write, or on first decode. */
  raw: Buffer | undefined;
}

/**
 * Brotli quality a node compresses values with. Measured (bench/codec-table.ts, docs/compression.md):
 * on 1 KiB JSON and text, quality 1 keeps ~90 % of quality 4's ratio at about a third of its CPU
 * (~20 µs against ~60 µs per value); quality 0 saves a few µs more but loses a further tenth of
 * the saving on JSON and base64.
 */
export const DEFAULT_COMPRESS_QUALITY = 1;

export interface ValueCodecOptions {
  minBytes: number;
  quality: number;
}

const SAMPLE_BYTES = 128;
/**
 * Distinct byte values in a 128-byte sample above which brotli is not worth trying. Measured
 * (docs/compression.md) on values of 512 B and more: random and gzipped data show 87-113, while
 * JSON shows 29-45, English 18-31, Chinese UTF-8 32-52 and base64 49-61 (base64 cannot pass 65);
 * any threshold from 64 to 88 skipped every value brotli could not shrink and none it could.
 * Counting them costs under a microsecond, where an entropy estimate over 512 bytes cost ~4 µs.
 */
const INCOMPRESSIBLE_DISTINCT_BYTES = 80;
/**
 * Keep the compressed form only when it saves at least 1/8 of the bytes. Measured: values of
 * 512 B and more that brotli shrinks at all save 16 % or more, so the cut only matters on short
 * values, where a few percent would not repay the decompression on every read.
 */
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
  /** Bytes of the values encoded, and of what was stored for them: their ratio is the compression ratio. */
  rawBytes = 0;
  storedBytes = 0;

  constructor(
    readonly codec: Codec,
    private readonly options: ValueCodecOptions,
  ) {}

  /** The value stored raw when compressing it cannot pay (short, or random-looking), else undefined. */
  encodeCheap(raw: Buffer): StoredValue | undefined {
    if (raw.length < this.options.minBytes || distinctSampleBytes(raw) > INCOMPRESSIBLE_DISTINCT_BYTES) {
      this.storedRaw++;
      this.rawBytes += raw.length;
      this.storedBytes += raw.length;
      return { codec: CODEC_RAW, stored: raw, raw };
    }
    return undefined;
  }

  async encode(raw: Buffer): Promise<StoredValue> {
    const cheap = this.encodeCheap(raw);
    if (cheap) return cheap;
    const packed = await this.codec.compress(raw, this.options.quality);
    this.rawBytes += raw.length;
    if (packed.length > raw.length * MIN_SAVING_RATIO) {
      this.storedRaw++;
      this.storedBytes += raw.length;
      return { codec: CODEC_RAW, stored: raw, raw };
    }
    this.compressed++;
    this.storedBytes += packed.length;
    return { codec: CODEC_BROTLI, stored: packed, raw };
  }

  async decode(value: StoredValue): Promise<Buffer> {
    if (value.raw === undefined) {
      value.raw = value.codec === CODEC_RAW ? value.stored : await this.codec.decompress(value.stored);
    }
    return value.raw;
  }
}
