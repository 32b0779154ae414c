/**
 * A bench key space: keys `prefix:00000000`…, the value each key holds after each write, and the
 * highest version written to each key so far, so a read can be checked against every value the
 * key may hold (writes still in flight included) without a lock. Version v of key k holds value
 * (k + v) mod the number of distinct values: a read that returns another key's value or a mangled
 * one fails the check.
 */
import { keyOf } from './kv-workload.js';

/** A value as kvctl's client sends it (text as a UTF-8 string, binary as a Buffer) and its bytes. */
export interface Payload {
  send: string | Buffer;
  bytes: Buffer;
}

export function payloadsOf(values: ReadonlyArray<string | Buffer>): Payload[] {
  return values.map((send) => ({ send, bytes: typeof send === 'string' ? Buffer.from(send, 'utf8') : send }));
}

export class KeySpace {
  /** Highest version issued per key (0: the first write). */
  private readonly versions: Uint32Array;

  constructor(
    readonly prefix: string,
    readonly size: number,
    readonly values: readonly Payload[],
  ) {
    if (values.length === 0) throw new RangeError('a key space needs at least one value');
    this.versions = new Uint32Array(size);
  }

  key(k: number): string {
    return keyOf(this.prefix, k);
  }

  /** The value of version v of key k. */
  valueAt(k: number, v: number): Payload {
    return this.values[(k + v) % this.values.length] as Payload;
  }

  /** The first write of key k. */
  first(k: number): Payload {
    return this.valueAt(k, 0);
  }

  /** Issues the next version of key k (an overwrite) and returns its value. */
  next(k: number): Payload {
    return this.valueAt(k, ++(this.versions[k] as number));
  }

  /** True when `got` is the value of some version of key k written (or being written) so far. */
  accepts(k: number, got: Buffer): boolean {
    const newest = this.versions[k] as number;
    // Newest first: a read usually sees the latest write; older ones repeat after `values.length`.
    for (let v = newest; v >= 0 && v > newest - this.values.length; v--) if (this.valueAt(k, v).bytes.equals(got)) return true;
    return false;
  }

  /** Bytes of the average value, for the report. */
  get valueBytes(): number {
    return Math.round(this.values.reduce((sum, v) => sum + v.bytes.length, 0) / this.values.length);
  }
}
