/**
 * Put and get phases against a running kvctl daemon over NDJSON/TCP, driven by the closed loop
 * from this (client) process. Every put writes a fresh key (a put without a context to an existing
 * key would add a sibling, not replace it); gets read keys written earlier, in a seeded shuffled
 * order, and check every value byte for byte. The workload remembers what it wrote, so the same
 * data can be loaded into a raw LevelDB for the bytes-on-disk comparison.
 */
import { KvClient } from '../src/client/client.js';
import { type LoopResult, runClosedLoop, warmThenRun } from './closed-loop.js';
import type { Rng } from './json-documents.js';

export const IN_FLIGHT = 64;

/** One connection with 64 in flight, or 4 connections with 16 each. */
export interface Lanes {
  label: string;
  clients: KvClient[];
}

export async function openLanes(addr: string, connections: number): Promise<Lanes> {
  const clients: KvClient[] = [];
  for (let c = 0; c < connections; c++) clients.push(await KvClient.connect(addr, { timeoutMs: 30_000 }));
  return { label: `${connections}x${IN_FLIGHT / connections}`, clients };
}

export async function closeLanes(lanes: Lanes[]): Promise<void> {
  for (const { clients } of lanes) await Promise.all(clients.map((c) => c.close()));
}

/** Measured phase result plus, for gets, the daemon's cache hit ratio during the phase. */
export interface PhaseResult extends LoopResult {
  cacheHitRatio?: number;
}

export function keyOf(prefix: string, i: number): string {
  return `${prefix}:${String(i).padStart(8, '0')}`;
}

export class KvWorkload {
  /** Key ranges written so far: keys `keyOf(prefix, 0..count-1)`, value `i % values.length`. */
  readonly written: Array<{ prefix: string; count: number }> = [];
  private readonly valueBytes: Buffer[];

  /** Buffer values travel base64-encoded (with their keys); string values as UTF-8 JSON strings. */
  constructor(readonly values: ReadonlyArray<Buffer | string>) {
    this.valueBytes = values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  }

  valueAt(i: number): Buffer {
    return this.valueBytes[i % this.valueBytes.length] as Buffer;
  }

  /** Writes keys `prefix:0..ops-1` (after `warmOps` writes to `prefix-warm:…`). */
  async put(lanes: Lanes, prefix: string, ops: number, warmOps: number): Promise<PhaseResult> {
    const { clients } = lanes;
    const putOp = (p: string) => async (i: number, worker: number) => {
      await (clients[worker % clients.length] as KvClient).put(keyOf(p, i), this.values[i % this.values.length] as Buffer | string);
    };
    const result = await warmThenRun(warmOps, ops, IN_FLIGHT, putOp(`${prefix}-warm`), putOp(prefix));
    this.written.push({ prefix: `${prefix}-warm`, count: warmOps }, { prefix, count: ops });
    return result;
  }

  /** Reads `ops` keys drawn from `prefix:0..keyCount-1` in a shuffled order; each value is checked. */
  async get(lanes: Lanes, prefix: string, keyCount: number, ops: number, warmOps: number, rng: Rng): Promise<PhaseResult> {
    const { clients } = lanes;
    const order = shuffled(keyCount, rng);
    const getOp = (offset: number) => async (i: number, worker: number) => {
      const k = order[(i + offset) % keyCount] as number;
      const result = await (clients[worker % clients.length] as KvClient).get(keyOf(prefix, k));
      const [value] = result.values;
      if (!result.found || result.values.length !== 1 || !value?.equals(this.valueAt(k))) {
        throw new Error(`get ${keyOf(prefix, k)}: expected one ${this.valueAt(k).length}-byte value, got found=${result.found} x${result.values.length}`);
      }
    };
    const first = clients[0] as KvClient;
    if (warmOps > 0) await runClosedLoop(warmOps, IN_FLIGHT, getOp(0));
    const before = await cacheCounts(first);
    const result = await runClosedLoop(ops, IN_FLIGHT, getOp(warmOps));
    const after = await cacheCounts(first);
    const hits = after.hits - before.hits;
    const lookups = hits + after.misses - before.misses;
    return { ...result, cacheHitRatio: lookups > 0 ? hits / lookups : 0 };
  }

  /** Every key and value written, in write order. */
  *entries(): Generator<[string, Buffer]> {
    for (const { prefix, count } of this.written) for (let i = 0; i < count; i++) yield [keyOf(prefix, i), this.valueAt(i)];
  }
}

async function cacheCounts(client: KvClient): Promise<{ hits: number; misses: number }> {
  const cache = (await client.stats()).cache as { hits?: number; misses?: number } | undefined;
  return { hits: Number(cache?.hits ?? 0), misses: Number(cache?.misses ?? 0) };
}

/** 0..n-1 in a seeded random order (Fisher-Yates). */
export function shuffled(n: number, rng: Rng): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}
