/**
 * Node's built-in brotli (zlib) as a `Codec`, two ways, with the same parameters (so the same bytes):
 * - `ZlibBrotliCodec`, the daemon's default: compresses on a worker thread so it stays off the
 *   event loop; measured 3-6x faster than brotli-wasm.
 * - `InlineBrotliCodec`: the same calls on the calling thread, settled before it returns, for the
 *   simulator, whose runs must not depend on when another thread answers.
 * `createCodec` builds the codec a node's settings name.
 */
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { brotliCompressSync, brotliDecompress, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import type { CodecName } from '../config.js';
import type { Codec } from './codec.js';
import { WasmBrotliCodec } from './wasm-codec.js';

const decompressAsync = promisify(brotliDecompress);

/**
 * Stored values up to this size are decompressed synchronously: measured here ~7 µs for a 1 KiB
 * JSON value, less than one thread-pool round trip; larger ones go to the thread pool.
 */
const SYNC_DECOMPRESS_MAX_BYTES = 8 * 1024;

/**
 * The smallest brotli window (log2 bytes) that holds a value of `rawLength` bytes: the output is
 * the same as with zlib's default 4 MiB window (docs/compression.md, A), and the encoder's ring
 * buffer a few KiB.
 */
export function sizedWindow(rawLength: number): number {
  return Math.min(24, Math.max(10, Math.ceil(Math.log2(rawLength + 1))));
}

/** Brotli parameters for one value (zlib's `params` option); `lgwin` defaults to the sized window. */
export function brotliParams(rawLength: number, quality: number, lgwin = sizedWindow(rawLength)): Record<number, number> {
  return {
    [zlibConstants.BROTLI_PARAM_QUALITY]: quality,
    [zlibConstants.BROTLI_PARAM_SIZE_HINT]: rawLength,
    [zlibConstants.BROTLI_PARAM_LGWIN]: lgwin,
  };
}

/**
 * `data` in memory of its own size. zlib's synchronous calls return a view of their 16 KiB output
 * chunk: a 1 KiB value kept in the cache that way holds 16 KiB, 16 times what the cache counts.
 */
function ownBytes(data: Buffer): Buffer {
  return data.buffer.byteLength > 2 * data.byteLength + 1024 ? Buffer.copyBytesFrom(data) : data;
}

/** The outcome of a synchronous call as a promise (settled already: a throw becomes a rejection). */
function settledNow(run: () => Buffer): Promise<Buffer> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The compression worker: one message per batch of values, compressed one after another with the
 * synchronous brotli call. The values travel packed into one transferred ArrayBuffer (with their
 * lengths and qualities), and the results come back the same way: posting Buffers one by one
 * structured-cloned each value's whole backing store (Node's 8 KiB pool slab for a small Buffer)
 * both ways, measured ~15 µs of event-loop time per 1 KiB value. Plain CommonJS source (run with
 * `eval`), so it needs no file of its own and loads the same from `src/` under the tests and from
 * `dist/`; its window formula is `sizedWindow`'s.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const C = zlib.constants;
parentPort.on('message', ({ seq, packed, lengths, qualities }) => {
  const input = Buffer.from(packed);
  const out = [];
  const outLengths = new Int32Array(lengths.length);
  const errors = [];
  let total = 0;
  for (let i = 0, at = 0; i < lengths.length; at += lengths[i], i++) {
    const raw = input.subarray(at, at + lengths[i]);
    const lgwin = Math.min(24, Math.max(10, Math.ceil(Math.log2(raw.length + 1))));
    const params = { [C.BROTLI_PARAM_QUALITY]: qualities[i], [C.BROTLI_PARAM_SIZE_HINT]: raw.length, [C.BROTLI_PARAM_LGWIN]: lgwin };
    try {
      const result = zlib.brotliCompressSync(raw, { params });
      out.push(result);
      outLengths[i] = result.length;
      total += result.length;
    } catch (err) {
      out.push(undefined);
      outLengths[i] = -1;
      errors.push(String((err && err.message) || err));
    }
  }
  const reply = new Uint8Array(total);
  for (let i = 0, at = 0; i < out.length; i++) {
    if (!out[i]) continue;
    reply.set(out[i], at);
    at += out[i].length;
  }
  parentPort.postMessage({ seq, packed: reply.buffer, lengths: outLengths, errors }, [reply.buffer, outLengths.buffer]);
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
 * an encoder with a 4 MiB window and a thread-pool hop per call), the worker ~35 µs; its wall time
 * is about inline compression's, but only 5-11 µs per value of it is spent on the event loop
 * (docs/compression.md, E).
 * Small values decompress synchronously (cheaper than any hand-off).
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
    if (data.length > SYNC_DECOMPRESS_MAX_BYTES) return decompressAsync(data).then(ownBytes);
    return settledNow(() => ownBytes(brotliDecompressSync(data)));
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
    let total = 0;
    for (const request of batch) total += request.raw.length;
    const packed = new Uint8Array(total);
    const lengths = new Int32Array(batch.length);
    const qualities = new Int32Array(batch.length);
    let at = 0;
    batch.forEach((request, i) => {
      packed.set(request.raw, at);
      at += request.raw.length;
      lengths[i] = request.raw.length;
      qualities[i] = request.quality;
    });
    worker.postMessage({ seq, packed: packed.buffer, lengths, qualities }, [packed.buffer]);
  }

  private startedWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref(); // an idle codec never keeps the process alive (ref'd while batches are out)
    worker.on('message', ({ seq, packed, lengths, errors }: { seq: number; packed: ArrayBuffer; lengths: Int32Array; errors: string[] }) => {
      const batch = this.inFlight.get(seq) ?? [];
      this.inFlight.delete(seq);
      if (this.inFlight.size === 0) worker.unref();
      const results = new Uint8Array(packed);
      let at = 0;
      let failed = 0;
      batch.forEach((request, i) => {
        const length = lengths[i] ?? -1;
        if (length < 0) {
          request.reject(new Error(`brotli compression failed: ${errors[failed++] ?? 'no result'}`));
          return;
        }
        // A copy of its own: a view would keep the whole batch's buffer alive as long as any one value is cached.
        request.resolve(Buffer.copyBytesFrom(results, at, length));
        at += length;
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

/**
 * Node's built-in brotli on the calling thread: every call has finished when it returns (its
 * promise already settled), so a run on virtual time takes the same steps whatever the machine's
 * load. Named `zlib` like the worker codec: it is the same codec, only run elsewhere.
 */
export class InlineBrotliCodec implements Codec {
  readonly name = 'zlib' as const;

  compress(raw: Buffer, quality: number): Promise<Buffer> {
    return settledNow(() => ownBytes(brotliCompressSync(raw, { params: brotliParams(raw.length, quality) })));
  }

  decompress(data: Buffer): Promise<Buffer> {
    return settledNow(() => ownBytes(brotliDecompressSync(data)));
  }
}

export function createCodec(name: CodecName): Codec {
  return name === 'brotli-wasm' ? new WasmBrotliCodec() : new ZlibBrotliCodec();
}
