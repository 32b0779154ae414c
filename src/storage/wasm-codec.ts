/**
 * Brotli in WebAssembly as a `Codec` (`--codec brotli-wasm`): the same format as Node's zlib
 * brotli, synchronous, measured 3-6x slower than the zlib worker codec (src/storage/zlib-codec.ts).
 * Loaded through createRequire because the package's ESM entry is the web build and fails on Node 20.
 */
import { createRequire } from 'node:module';
import type { Codec } from './codec.js';

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
