/**
 * Codec figures on a JSON corpus: compression ratio (raw bytes / compressed bytes, whole corpus)
 * and throughput in MB/s of raw JSON (10^6 bytes), compressing and decompressing one document per
 * call, awaited one at a time (and, for the worker codec, with several calls in flight, since the
 * daemon compresses concurrent puts together on its worker thread). Every round trip is checked.
 */
import type { Codec } from '../src/storage/codec.js';
import { runClosedLoop } from './closed-loop.js';

/** What the measurement needs of a codec. */
export type Compressor = Pick<Codec, 'compress' | 'decompress'>;

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
