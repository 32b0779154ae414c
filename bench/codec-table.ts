/**
 * The measured codec table behind the value-compression settings (docs/compression.md):
 *
 *   npm run build && node dist/bench/codec-table.js [--json] [--quick] [--out FILE.json]
 *
 * (CODEC_QUALITY=N picks the quality sections B-E use; default: the daemon's.)
 *
 * On a seeded corpus of values (codec-corpus.ts: JSON documents, base64 text, English-like prose,
 * and for the pre-check random bytes, gzipped data and float64 readings; 100 B to 16 KiB):
 *   A. brotli quality 0-5, window sized to the value vs zlib's default (lgwin 22): ratio,
 *      compress and decompress µs per value, compress MB/s; one value per synchronous call, in
 *      this thread, so the figures are CPU cost per value;
 *   B. the entropy pre-check (distinctSampleBytes above a threshold: store raw without trying):
 *      per threshold, how often it skips a value brotli could not shrink (right), skips one it
 *      could (wrong), or lets through one it could not (a compression wasted); and its cost;
 *   C. the minimum saving: which values each MIN_SAVING_RATIO candidate stores compressed;
 *   D. shared dictionaries for small values: zstd (zstd-napi, when installed) with a dictionary
 *      trained by `zstd --train` from other values of the same kind or of all kinds, zstd without
 *      one, deflate with a preset dictionary (Node's zlib), against brotli; Node 20's brotli takes
 *      no custom dictionary;
 *   E. the worker thread against inline compression, 64 values in flight: wall time and
 *      event-loop time per value;
 *   F. bytes on disk: the values stored raw or compressed in a LevelDB (with its own snappy block
 *      compression, as the daemon's), after a full compaction: what compression saves on disk,
 *      which is less than its ratio where snappy already shrinks the raw values across records.
 * Every round trip is checked. CPU figures are noisy on a shared machine: compare within one run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, brotliDecompressSync, deflateRawSync, inflateRawSync } from 'node:zlib';
import { DEFAULT_COMPRESS_QUALITY, distinctSampleBytes } from '../src/storage/codec.js';
import { brotliParams, InlineBrotliCodec, ZlibBrotliCodec } from '../src/storage/zlib-codec.js';
import { runClosedLoop } from './closed-loop.js';
import { ALL_KINDS, CORPUS_SIZES, corpusValues, TEXT_KINDS, type ValueKind } from './codec-corpus.js';
import { compactDir, loadRaw } from './raw-level.js';
import { fmt } from './report.js';

const argv = process.argv.slice(2);
const JSON_OUT = argv.includes('--json');
const QUICK = argv.includes('--quick');
/** `--out FILE`: also write the JSON there (the table still prints). */
const OUT_FILE = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : undefined;
/** Minimum time each timed cell runs, ms. */
const MIN_MS = QUICK ? 5 : 15;
const TRIALS = QUICK ? 2 : 4;
const QUALITIES = [0, 1, 2, 3, 4, 5];
/** zlib's default brotli window, log2 bytes (4 MiB). */
const DEFAULT_LGWIN = 22;
/** The quality sections B-E use (the chosen default; section A shows why). */
const CHOSEN_QUALITY = Number(process.env.CODEC_QUALITY ?? DEFAULT_COMPRESS_QUALITY);
const PRECHECK_THRESHOLDS = [48, 56, 64, 72, 80, 88, 96, 104, 112];
const MIN_SAVING_CANDIDATES = [0.8, 0.875, 0.95, 0.99];

function valuesPerSize(bytes: number): number {
  return QUICK ? (bytes > 4096 ? 30 : 80) : bytes > 4096 ? 100 : 200;
}

const corpus = new Map<string, Buffer[]>();
function values(kind: ValueKind, bytes: number, seed = 1): Buffer[] {
  const id = `${kind}/${bytes}/${seed}`;
  let v = corpus.get(id);
  if (!v) {
    v = corpusValues(kind, bytes, valuesPerSize(bytes), seed * 1000 + bytes);
    corpus.set(id, v);
  }
  return v;
}

/**
 * µs per value of `fn` over `vals`: the fastest of TRIALS timed runs (each repeated until MIN_MS
 * passed), after one unmeasured pass. The fastest, because on a shared machine other processes
 * only ever add time.
 */
function usPerValue(vals: readonly Buffer[], fn: (v: Buffer, i: number) => void): number {
  vals.forEach(fn);
  let best = Number.POSITIVE_INFINITY;
  for (let trial = 0; trial < TRIALS; trial++) {
    let reps = 0;
    const start = process.hrtime.bigint();
    let elapsedNs = 0n;
    do {
      vals.forEach(fn);
      reps++;
      elapsedNs = process.hrtime.bigint() - start;
    } while (elapsedNs < BigInt(MIN_MS * 1e6));
    best = Math.min(best, Number(elapsedNs) / 1000 / (reps * vals.length));
  }
  return best;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

// ---------- A. brotli quality and window ----------

interface BrotliCell {
  kind: ValueKind;
  bytes: number;
  quality: number;
  window: 'sized' | 'default';
  ratio: number;
  compressUs: number;
  decompressUs: number;
  compressMBps: number;
}

function brotliCell(kind: ValueKind, bytes: number, quality: number, window: 'sized' | 'default'): BrotliCell {
  const vals = values(kind, bytes);
  const params = vals.map((v) => brotliParams(v.length, quality, window === 'sized' ? undefined : DEFAULT_LGWIN));
  const packed = vals.map((v, i) => brotliCompressSync(v, { params: params[i] }));
  vals.forEach((v, i) => {
    if (!brotliDecompressSync(packed[i] as Buffer).equals(v)) throw new Error(`brotli round trip differs (${kind} ${bytes} q${quality})`);
  });
  const compressUs = usPerValue(vals, (v, i) => brotliCompressSync(v, { params: params[i] }));
  const decompressUs = usPerValue(packed, (p) => brotliDecompressSync(p));
  const raw = sum(vals.map((v) => v.length));
  return {
    kind,
    bytes,
    quality,
    window,
    ratio: raw / sum(packed.map((p) => p.length)),
    compressUs,
    decompressUs,
    compressMBps: raw / vals.length / compressUs,
  };
}

// ---------- B. the entropy pre-check ----------

interface PrecheckRow {
  threshold: number;
  /** Values brotli cannot shrink by the minimum saving, skipped: right. */
  rightSkips: number;
  /** Values brotli would shrink, skipped: bytes left on disk. */
  wrongSkips: number;
  /** Values brotli cannot shrink, let through: a compression wasted. */
  wastedCompressions: number;
  compressible: number;
  incompressible: number;
  /** Bytes brotli would have saved on the wrongly skipped values, over all the bytes it would save. */
  savingLost: number;
}

interface PrecheckSample {
  kind: ValueKind;
  bytes: number;
  distinct: number;
  saving: number;
  pays: boolean;
}

function precheckSamples(minSaving: number, minBytes: number): PrecheckSample[] {
  const out: PrecheckSample[] = [];
  for (const kind of ALL_KINDS) {
    for (const bytes of CORPUS_SIZES) {
      if (bytes < minBytes) continue;
      for (const v of values(kind, bytes)) {
        const packed = brotliCompressSync(v, { params: brotliParams(v.length, CHOSEN_QUALITY) }).length;
        out.push({ kind, bytes, distinct: distinctSampleBytes(v), saving: v.length - packed, pays: packed <= v.length * minSaving });
      }
    }
  }
  return out;
}

function precheckRows(samples: readonly PrecheckSample[]): PrecheckRow[] {
  const totalSaving = sum(samples.filter((s) => s.pays).map((s) => s.saving));
  return PRECHECK_THRESHOLDS.map((threshold) => {
    const skipped = (s: PrecheckSample) => s.distinct > threshold;
    return {
      threshold,
      rightSkips: samples.filter((s) => skipped(s) && !s.pays).length,
      wrongSkips: samples.filter((s) => skipped(s) && s.pays).length,
      wastedCompressions: samples.filter((s) => !skipped(s) && !s.pays).length,
      compressible: samples.filter((s) => s.pays).length,
      incompressible: samples.filter((s) => !s.pays).length,
      savingLost: sum(samples.filter((s) => skipped(s) && s.pays).map((s) => s.saving)) / totalSaving,
    };
  });
}

// ---------- C. the minimum saving ----------

interface MinSavingRow {
  kind: ValueKind;
  bytes: number;
  /** Per candidate ratio: share of values kept compressed, and stored bytes over raw bytes. */
  kept: number[];
  storedOverRaw: number[];
}

function minSavingRows(): MinSavingRow[] {
  const rows: MinSavingRow[] = [];
  for (const kind of [...TEXT_KINDS, 'float64'] as ValueKind[]) {
    for (const bytes of CORPUS_SIZES) {
      const vals = values(kind, bytes);
      const packed = vals.map((v) => brotliCompressSync(v, { params: brotliParams(v.length, CHOSEN_QUALITY) }).length);
      const raw = sum(vals.map((v) => v.length));
      rows.push({
        kind,
        bytes,
        kept: MIN_SAVING_CANDIDATES.map((m) => vals.filter((v, i) => (packed[i] as number) <= v.length * m).length / vals.length),
        storedOverRaw: MIN_SAVING_CANDIDATES.map(
          (m) => sum(vals.map((v, i) => ((packed[i] as number) <= v.length * m ? (packed[i] as number) : v.length))) / raw,
        ),
      });
    }
  }
  return rows;
}

// ---------- D. shared dictionaries ----------

interface ZstdModule {
  Compressor: new () => { compress(b: Uint8Array): Buffer; loadDictionary(d: Uint8Array): void; setParameters(p: Record<string, unknown>): void };
  Decompressor: new () => { decompress(b: Uint8Array): Buffer; loadDictionary(d: Uint8Array): void };
}

function loadZstd(): ZstdModule | undefined {
  try {
    return createRequire(import.meta.url)('zstd-napi') as ZstdModule;
  } catch {
    return undefined;
  }
}

const DICT_BYTES = 32 * 1024;
/** Training values: other values (another seed), the same sizes, as a node would gather from what it stores. */
function trainingValues(kinds: readonly ValueKind[]): Buffer[] {
  const out: Buffer[] = [];
  for (const kind of kinds) for (const bytes of CORPUS_SIZES) out.push(...values(kind, bytes, 7).slice(0, 60));
  return out;
}

/** A dictionary trained by `zstd --train` (zstd's CLI), or undefined when it is not installed. */
function trainedDictionary(samples: readonly Buffer[]): Buffer | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-codec-dict-'));
  try {
    const files = samples.map((s, i) => {
      const file = join(dir, `s${i}`);
      writeFileSync(file, s);
      return file;
    });
    execFileSync('zstd', ['--train', '-q', `--maxdict=${DICT_BYTES}`, '-o', join(dir, 'dict'), ...files], { stdio: 'ignore' });
    return readFileSync(join(dir, 'dict'));
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The last DICT_BYTES of the training values, concatenated: a dictionary that needs no training. */
function rawContentDictionary(samples: readonly Buffer[]): Buffer {
  const all = Buffer.concat(samples as Buffer[]);
  return all.subarray(Math.max(0, all.length - DICT_BYTES));
}

interface DictCell {
  codec: string;
  kind: ValueKind;
  bytes: number;
  ratio: number;
  compressUs: number;
  decompressUs: number;
}

interface PairCodec {
  label: string;
  compress(v: Buffer): Buffer;
  decompress(p: Buffer): Buffer;
}

function dictCell(codec: PairCodec, kind: ValueKind, bytes: number): DictCell {
  const vals = values(kind, bytes);
  const packed = vals.map((v) => codec.compress(v));
  vals.forEach((v, i) => {
    if (!codec.decompress(packed[i] as Buffer).equals(v)) throw new Error(`${codec.label}: round trip differs (${kind} ${bytes})`);
  });
  return {
    codec: codec.label,
    kind,
    bytes,
    ratio: sum(vals.map((v) => v.length)) / sum(packed.map((p) => p.length)),
    compressUs: usPerValue(vals, (v) => codec.compress(v)),
    decompressUs: usPerValue(packed, (p) => codec.decompress(p)),
  };
}

function zstdCodec(zstd: ZstdModule, label: string, level: number, dictionary?: Buffer): PairCodec {
  const c = new zstd.Compressor();
  // No checksum and no dictionary id in the frame: 4-8 bytes matter on 100-byte values.
  c.setParameters({ compressionLevel: level, checksumFlag: false, dictIDFlag: false, contentSizeFlag: true });
  const d = new zstd.Decompressor();
  if (dictionary) {
    c.loadDictionary(dictionary);
    d.loadDictionary(dictionary);
  }
  return { label, compress: (v) => c.compress(v), decompress: (p) => d.decompress(p) };
}

function dictionaryCodecs(kind: ValueKind, zstd: ZstdModule | undefined): { codecs: PairCodec[]; notes: string[] } {
  const notes: string[] = [];
  const own = trainingValues([kind]);
  const mixed = trainingValues(TEXT_KINDS);
  const codecs: PairCodec[] = [
    {
      label: `brotli q${CHOSEN_QUALITY} (sized window)`,
      compress: (v) => brotliCompressSync(v, { params: brotliParams(v.length, CHOSEN_QUALITY) }),
      decompress: (p) => brotliDecompressSync(p),
    },
    {
      label: 'brotli q4 (sized window)',
      compress: (v) => brotliCompressSync(v, { params: brotliParams(v.length, 4) }),
      decompress: (p) => brotliDecompressSync(p),
    },
  ];
  const ownRaw = rawContentDictionary(own);
  codecs.push({
    label: 'deflate-raw 6, raw-content dict (own kind)',
    compress: (v) => deflateRawSync(v, { level: 6, dictionary: ownRaw }),
    decompress: (p) => inflateRawSync(p, { dictionary: ownRaw }),
  });
  if (!zstd) {
    notes.push('zstd: zstd-napi not installed (npm install --no-save zstd-napi) — zstd rows left out');
    return { codecs, notes };
  }
  codecs.push(zstdCodec(zstd, 'zstd 1, no dict', 1), zstdCodec(zstd, 'zstd 3, no dict', 3));
  const ownTrained = trainedDictionary(own);
  const mixedTrained = trainedDictionary(mixed);
  if (ownTrained && mixedTrained) {
    codecs.push(
      zstdCodec(zstd, 'zstd 1, trained dict (own kind)', 1, ownTrained),
      zstdCodec(zstd, 'zstd 3, trained dict (own kind)', 3, ownTrained),
      zstdCodec(zstd, 'zstd 3, trained dict (all kinds)', 3, mixedTrained),
    );
  } else notes.push('zstd --train unavailable (apt-get install zstd): trained-dictionary rows left out');
  codecs.push(zstdCodec(zstd, 'zstd 3, raw-content dict (own kind)', 3, ownRaw));
  return { codecs, notes };
}

// ---------- E. worker thread vs inline ----------

interface PlacementRow {
  /** `none`: a codec that returns at once, the driver's own cost. */
  codec: 'worker' | 'inline' | 'none';
  kind: ValueKind;
  bytes: number;
  quality: number;
  wallUsPerValue: number;
  /** Event-loop busy time per value: what compression takes from the daemon's main thread. */
  loopUsPerValue: number;
}

async function placementRow(which: PlacementRow['codec'], kind: ValueKind, bytes: number, quality: number): Promise<PlacementRow> {
  const vals = values(kind, bytes);
  const codec = which === 'worker' ? new ZlibBrotliCodec() : which === 'inline' ? new InlineBrotliCodec() : { compress: async (raw: Buffer) => raw };
  const ops = QUICK ? 2000 : 10000;
  const run = () => runClosedLoop(ops, 64, async (i) => void (await codec.compress(vals[i % vals.length] as Buffer, quality)));
  await run(); // warm-up: worker start, JIT
  const elu = performance.eventLoopUtilization();
  const result = await run();
  const used = performance.eventLoopUtilization(elu);
  if (codec instanceof ZlibBrotliCodec) await codec.close();
  return { codec: which, kind, bytes, quality, wallUsPerValue: (result.elapsedMs * 1000) / ops, loopUsPerValue: (used.active * 1000) / ops };
}

// ---------- F. bytes on disk ----------

interface DiskRow {
  kind: ValueKind;
  bytes: number;
  values: number;
  /** Keys and raw values, bytes. */
  logicalBytes: number;
  /** Table-file bytes after compaction, per variant: raw, brotli at each quality. */
  diskBytes: Record<string, number>;
}

/** Bytes of a compacted LevelDB's table files (the fixed MANIFEST/LOG files left out). */
function tableBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ldb') || f.endsWith('.sst'))
    .reduce((total, f) => total + statSync(join(dir, f)).size, 0);
}

async function diskRow(kind: ValueKind, bytes: number): Promise<DiskRow> {
  const count = Math.ceil(((QUICK ? 1 : 4) * 1024 * 1024) / bytes);
  const vals = corpusValues(kind, bytes, count, 77);
  const variants: Array<[string, (v: Buffer) => Buffer]> = [
    ['raw', (v) => v],
    ...[0, 1, 4].map((q): [string, (v: Buffer) => Buffer] => [`brotli q${q}`, (v) => brotliCompressSync(v, { params: brotliParams(v.length, q) })]),
  ];
  const diskBytes: Record<string, number> = {};
  for (const [label, encode] of variants) {
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-codec-disk-'));
    try {
      const location = join(dir, 'db');
      await loadRaw(
        location,
        vals.map((v, i): [string, Buffer] => [`d${kind}:${String(i).padStart(8, '0')}`, encode(v)]),
      );
      await compactDir(location);
      diskBytes[label] = tableBytes(location);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const logicalBytes = vals.reduce((total, v, i) => total + v.length + `d${kind}:${String(i).padStart(8, '0')}`.length, 0);
  return { kind, bytes, values: count, logicalBytes, diskBytes };
}

// ---------- printing ----------

function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  for (const r of cells) console.log(`   ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}`);
}

function heading(text: string): void {
  console.log(`\n== ${text}`);
}

const sizeLabel = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg();
  const brotli: BrotliCell[] = [];
  for (const kind of TEXT_KINDS) {
    for (const quality of QUALITIES) {
      for (const window of ['sized', 'default'] as const) for (const bytes of CORPUS_SIZES) brotli.push(brotliCell(kind, bytes, quality, window));
    }
  }
  const distinctCostNs = CORPUS_SIZES.map((bytes) => ({ bytes, ns: usPerValue(values('json', bytes), (v) => distinctSampleBytes(v)) * 1000 }));
  const precheckAll = precheckRows(precheckSamples(0.875, 0));
  const precheckFrom512 = precheckRows(precheckSamples(0.875, 512));
  const distinctByKind = ALL_KINDS.map((kind) => ({
    kind,
    bySize: CORPUS_SIZES.map((bytes) => {
      const d = values(kind, bytes).map(distinctSampleBytes);
      return { bytes, min: Math.min(...d), mean: sum(d) / d.length, max: Math.max(...d) };
    }),
  }));
  const minSaving = minSavingRows();
  const zstd = loadZstd();
  const dictionary: DictCell[] = [];
  const dictNotes = new Set<string>();
  for (const kind of TEXT_KINDS) {
    const { codecs, notes } = dictionaryCodecs(kind, zstd);
    for (const n of notes) dictNotes.add(n);
    for (const codec of codecs) for (const bytes of [100, 512, 1024, 4096]) dictionary.push(dictCell(codec, kind, bytes));
  }
  const placement: PlacementRow[] = [];
  for (const [kind, bytes] of [
    ['json', 1024],
    ['base64', 1024],
    ['english', 16384],
  ] as const) {
    for (const quality of [...new Set([CHOSEN_QUALITY, 4])]) {
      for (const which of ['none', 'inline', 'worker'] as const) placement.push(await placementRow(which, kind, bytes, quality));
    }
  }
  const disk: DiskRow[] = [];
  for (const kind of [...TEXT_KINDS, 'cjk'] as ValueKind[]) for (const bytes of [512, 1024, 2048, 4096, 8192, 16384]) disk.push(await diskRow(kind, bytes));
  const result = {
    node: process.version,
    loadavg: load,
    chosenQuality: CHOSEN_QUALITY,
    brotli,
    distinctCostNs,
    distinctByKind,
    precheck: { allSizes: precheckAll, from512: precheckFrom512 },
    minSaving: { candidates: MIN_SAVING_CANDIDATES, rows: minSaving },
    dictionary,
    dictionaryNotes: [...dictNotes],
    placement,
    disk,
    seconds: (Date.now() - started) / 1000,
  };
  if (OUT_FILE) writeFileSync(OUT_FILE, `${JSON.stringify(result, null, 1)}\n`);
  if (JSON_OUT) {
    console.log(JSON.stringify(result, null, 1));
    return;
  }

  console.log(`codec table: node ${process.version}, load average ${load.map((l) => l.toFixed(2)).join(' ')} at start; ${result.seconds.toFixed(0)} s`);
  heading('A. brotli: ratio (raw/compressed), compress µs, decompress µs per value; one synchronous call per value');
  for (const kind of TEXT_KINDS) {
    console.log(`\n   ${kind}`);
    table(
      ['quality window', ...CORPUS_SIZES.map(sizeLabel)],
      QUALITIES.flatMap((quality) =>
        (['sized', 'default'] as const).map((window) => [
          `q${quality} ${window}`,
          ...CORPUS_SIZES.map((bytes) => {
            const c = brotli.find((x) => x.kind === kind && x.bytes === bytes && x.quality === quality && x.window === window) as BrotliCell;
            return `${fmt(c.ratio, 2)} ${fmt(c.compressUs, 1)}/${fmt(c.decompressUs, 1)}`;
          }),
        ]),
      ),
    );
  }
  console.log('\n   compress MB/s (raw bytes), sized window');
  table(
    ['kind quality', ...CORPUS_SIZES.map(sizeLabel)],
    TEXT_KINDS.flatMap((kind) =>
      QUALITIES.map((quality) => [
        `${kind} q${quality}`,
        ...CORPUS_SIZES.map((bytes) =>
          fmt((brotli.find((x) => x.kind === kind && x.bytes === bytes && x.quality === quality && x.window === 'sized') as BrotliCell).compressMBps, 1),
        ),
      ]),
    ),
  );

  heading(
    `B. entropy pre-check: distinct byte values in a 128-byte sample (min/mean/max); brotli q${CHOSEN_QUALITY} decides what "compressible" means (saves ≥ 1/8)`,
  );
  table(
    ['kind', ...CORPUS_SIZES.map(sizeLabel)],
    distinctByKind.map((k) => [k.kind, ...k.bySize.map((s) => `${s.min}/${fmt(s.mean, 0)}/${s.max}`)]),
  );
  for (const [label, rows] of [
    ['every size (100 B included)', precheckAll],
    ['values of 512 B and more (the default --compress-min-bytes)', precheckFrom512],
  ] as const) {
    console.log(`\n   ${label}: ${rows[0]?.compressible} compressible, ${rows[0]?.incompressible} not`);
    table(
      ['skip above', 'right skips', 'wrong skips', 'saving lost', 'wasted compressions'],
      rows.map((r) => [r.threshold, r.rightSkips, r.wrongSkips, `${fmt(r.savingLost * 100, 1)}%`, r.wastedCompressions]),
    );
  }
  console.log(`\n   cost of the check, ns per value: ${distinctCostNs.map((c) => `${sizeLabel(c.bytes)} ${fmt(c.ns, 0)}`).join(', ')}`);

  heading(`C. minimum saving (brotli q${CHOSEN_QUALITY}): share of values kept compressed / stored bytes over raw, per MIN_SAVING_RATIO`);
  table(
    ['kind size', ...MIN_SAVING_CANDIDATES.map((m) => `≤ ${m}`)],
    minSaving.map((r) => [`${r.kind} ${sizeLabel(r.bytes)}`, ...r.kept.map((k, i) => `${fmt(k * 100, 0)}% / ${fmt(r.storedOverRaw[i] ?? 0, 3)}`)]),
  );

  heading('D. shared dictionaries (32 KiB, from other values): ratio, compress µs, decompress µs per value');
  for (const n of dictNotes) console.log(`   ${n}`);
  const dictCodecs = [...new Set(dictionary.map((d) => d.codec))];
  for (const kind of TEXT_KINDS) {
    console.log(`\n   ${kind}`);
    table(
      ['codec', ...[100, 512, 1024, 4096].map(sizeLabel)],
      dictCodecs.map((codec) => [
        codec,
        ...[100, 512, 1024, 4096].map((bytes) => {
          const c = dictionary.find((d) => d.codec === codec && d.kind === kind && d.bytes === bytes);
          return c ? `${fmt(c.ratio, 2)} ${fmt(c.compressUs, 1)}/${fmt(c.decompressUs, 1)}` : '';
        }),
      ]),
    );
  }

  heading('E. worker thread vs inline, 64 compressions in flight: wall µs per value, event-loop busy µs per value');
  table(
    ['values', 'quality', 'codec', 'wall µs/value', 'event loop µs/value'],
    placement.map((p) => [`${p.kind} ${sizeLabel(p.bytes)}`, p.quality, p.codec, fmt(p.wallUsPerValue, 1), fmt(p.loopUsPerValue, 1)]),
  );
  heading("F. bytes on disk: values in LevelDB (snappy blocks on, as the daemon's) after a full compaction, over the raw values' table bytes");
  const variantLabels = Object.keys(disk[0]?.diskBytes ?? {});
  table(
    ['kind size', 'values', 'raw on disk / logical', ...variantLabels],
    disk.map((d) => [
      `${d.kind} ${sizeLabel(d.bytes)}`,
      d.values,
      `${fmt(((d.diskBytes.raw ?? 0) / d.logicalBytes) * 100, 0)}%`,
      ...variantLabels.map((l) => `${fmt(((d.diskBytes[l] ?? 0) / (d.diskBytes.raw ?? 1)) * 100, 0)}%`),
    ]),
  );
  console.log(
    `\n   load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
