/** Reads all of stdin as bytes, refusing more than `maxBytes` (a value larger than the daemon takes). */
import { KvError } from '../errors.js';

export async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new KvError('KV_VALUE_TOO_LARGE', `stdin holds more than ${maxBytes} bytes`, { limit: maxBytes });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
