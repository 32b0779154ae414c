/**
 * The baseline: classic-level used directly in this process (keyEncoding/valueEncoding buffer),
 * with the same closed loop and 64 operations in flight, and helpers to load a data set into a
 * raw LevelDB and to compact a LevelDB directory for a fair bytes-on-disk comparison.
 */
import { ClassicLevel } from 'classic-level';
import { type LoopResult, type Median, medianRun, runClosedLoop } from './closed-loop.js';
import type { Rng } from './json-documents.js';
import { IN_FLIGHT, keyOf, lastRound, shuffled } from './kv-workload.js';

/** Bounds that hold every key the bench writes (kvctl prefixes data keys with one byte). */
const LOWEST_KEY = Buffer.from([0x00]);
const HIGHEST_KEY = Buffer.alloc(64, 0xff);

export async function openRaw(location: string): Promise<ClassicLevel<Buffer, Buffer>> {
  const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return db;
}

/** A raw phase: the loop's figures and this process's CPU per operation (µs). */
export interface RawResult extends LoopResult {
  cpuUsPerOp: number;
}

async function withCpu(run: () => Promise<LoopResult>): Promise<RawResult> {
  const before = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(before);
  return { ...result, cpuUsPerOp: (cpu.user + cpu.system) / result.ops };
}

/**
 * `rounds` rounds of puts of fresh keys `raw.R:0..ops-1`, then `rounds` rounds of `getOps` gets of
 * the last round's keys in a shuffled order (values checked); the median round of each.
 */
export async function rawPutGet(
  db: ClassicLevel<Buffer, Buffer>,
  values: readonly Buffer[],
  ops: number,
  getOps: number,
  warmOps: { put: number; get: number },
  rounds: number,
  rng: Rng,
): Promise<{ put: Median<RawResult>; get: Median<RawResult> }> {
  const valueAt = (i: number) => values[i % values.length] as Buffer;
  const putOp = (prefix: string) => (i: number) => db.put(Buffer.from(keyOf(prefix, i)), valueAt(i));
  if (warmOps.put > 0) await runClosedLoop(warmOps.put, IN_FLIGHT, putOp('raw-warm'));
  const puts: RawResult[] = [];
  for (let r = 0; r < rounds; r++) puts.push(await withCpu(() => runClosedLoop(ops, IN_FLIGHT, putOp(`raw.${r}`))));
  const prefix = lastRound('raw', rounds);
  const order = shuffled(ops, rng);
  const getOp = (offset: number) => async (i: number) => {
    const k = order[(i + offset) % ops] as number;
    const value = await db.get(Buffer.from(keyOf(prefix, k)));
    if (!value?.equals(valueAt(k))) throw new Error(`raw get ${keyOf(prefix, k)}: wrong or missing value`);
  };
  if (warmOps.get > 0) await runClosedLoop(warmOps.get, IN_FLIGHT, getOp(0));
  const gets: RawResult[] = [];
  for (let r = 0; r < rounds; r++) gets.push(await withCpu(() => runClosedLoop(getOps, IN_FLIGHT, getOp(warmOps.get + r * getOps))));
  return { put: medianRun(puts), get: medianRun(gets) };
}

/** Writes `entries` into a new LevelDB at `location` in batches of 1,000 and closes it. */
export async function loadRaw(location: string, entries: Iterable<[string, Buffer]>): Promise<void> {
  const db = await openRaw(location);
  let batch = db.batch();
  for (const [key, value] of entries) {
    batch.put(Buffer.from(key), value);
    if (batch.length >= 1000) {
      await batch.write();
      batch = db.batch();
    }
  }
  await batch.write();
  await db.close();
}

/** Opens a closed LevelDB, compacts every key, closes it: what is left is SST files only. */
export async function compactDir(location: string): Promise<void> {
  const db = await openRaw(location);
  await db.compactRange(LOWEST_KEY, HIGHEST_KEY);
  await db.close();
}
