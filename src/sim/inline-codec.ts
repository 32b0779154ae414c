/**
 * Brotli for the simulator: Node's synchronous brotli calls behind the `Codec` interface, answered
 * with already-settled promises. The daemon's codec compresses on a worker thread, whose replies
 * arrive whenever the OS schedules that thread, so a simulated run with compressible values would
 * not replay from its seed; here every compression finishes within the microtasks of the step that
 * asked for it. Same parameters as the daemon's worker, so stored bytes are the same too.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import type { Codec } from '../storage/codec.js';

export class InlineBrotliCodec implements Codec {
  readonly name = 'zlib' as const;

  compress(raw: Buffer, quality: number): Promise<Buffer> {
    try {
      // The window just large enough for the value, as the daemon's compression worker sets it.
      const lgwin = Math.min(24, Math.max(10, Math.ceil(Math.log2(raw.length + 1))));
      const params = { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length, [constants.BROTLI_PARAM_LGWIN]: lgwin };
      return Promise.resolve(brotliCompressSync(raw, { params }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  decompress(data: Buffer): Promise<Buffer> {
    try {
      return Promise.resolve(brotliDecompressSync(data));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
