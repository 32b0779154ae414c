/**
 * Codec figures on a JSON corpus: compression ratio (raw bytes / compressed bytes, whole corpus)
 * and throughput in MB/s of raw JSON (10^6 bytes), compressing and decompressing one document per
 * call, awaited one at a time (and, for the async zlib codec, with several calls in flight, since
 * the daemon compresses concurrent puts concurrently on the libuv pool). Every round trip is checked.
 */
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import type { Codec } from '../src/storage/codec.js';
import { runClosedLoop } from './closed-loop.js';

/** What the measurement needs of a codec. */
export type Compressor = Pick<Codec, 'compress' | 'decompress'>;

/**
 * Not a kvctl codec: Node's synchronous brotli with ZlibBrotliCodec's parameters, on the event
 * loop, as a reference for what the async (thread pool) path costs per call.
 */
export const syncZlibReference: Compressor = {
  compress: async (raw, quality) =>
    brotliCompressSync(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: quality, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
  decompress: async (data) => brotliDecompressSync(data),
};

export interface CodecFigures {
  label: string;
  ratio: number;
  compressMBps: number;
  decompressMBps: number;
}

export async function measureCodec(label: string, codec: Compressor, docs: readonly Buffer[], quality: number, inFlight = 1): Promise<CodecFigures> {
  const rawBytes = docs.reduce((sum, d) => sum + d.length, 0);
  const packed: Buffer[] = new Array(docs.length);
  // Warm-up: JIT, wasm instantiation, thread pool start.
  for (const doc of docs.slice(0, 50)) await codec.decompress(await codec.compress(doc, quality));

  const compress = await runClosedLoop(docs.length, inFlight, async (i) => {
    packed[i] = await codec.compress(docs[i] as Buffer, quality);
  });
  const decompress = await runClosedLoop(docs.length, inFlight, async (i) => {
    const out = await codec.decompress(packed[i] as Buffer);
    if (!out.equals(docs[i] as Buffer)) throw new Error(`${label}: round trip of document ${i} differs`);
  });
  const packedBytes = packed.reduce((sum, p) => sum + p.length, 0);
  return {
    label,
    ratio: rawBytes / packedBytes,
    compressMBps: rawBytes / 1e6 / (compress.elapsedMs / 1000),
    decompressMBps: rawBytes / 1e6 / (decompress.elapsedMs / 1000),
  };
}
