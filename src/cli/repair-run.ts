/**
 * `kvctl repair`: drives anti-entropy across the cluster, one node, or one ring range. For each
 * pair of live nodes that share keys, it asks one of them to run a Merkle exchange with the
 * other, and reports progress after each pair and a summary at the end. Keys are counted once
 * however many pairs touched them.
 */
import { type ExchangeSummary, emptyExchangeFigures } from '../antientropy/anti-entropy.js';
import { KvClient } from '../client/client.js';
import { KvError } from '../errors.js';
import type { ClientOptions } from '../net/line-connection.js';

export interface RepairOptions {
  addr: string;
  node?: string;
  range?: [number, number];
  dryRun: boolean;
  /** How to reach each node: deadline, TLS, token. */
  access: ClientOptions;
}

/** One pair's exchange as the CLI reports it: the exchange's figures, without the key list. */
export type PairResult = Omit<ExchangeSummary, 'peer' | 'keys'> & {
  pair: [string, string];
  error?: { code: string; message: string };
};

export interface RepairSummary {
  dryRun: boolean;
  pairs: number;
  pairsFailed: number;
  rangesCompared: number;
  keysDiffering: number;
  keysTransferred: number;
  bytesTransferred: number;
  /** Tombstones dropped because every replica held them (not in a dry run, nor when a pair failed). */
  tombstonesReaped: number;
  ms: number;
}

interface MemberLite {
  name: string;
  addr: string;
  status: string;
  health: string;
}

export async function runRepair(o: RepairOptions, onProgress: (done: number, total: number, result: PairResult) => void): Promise<RepairSummary> {
  const started = Date.now();
  const entry = await KvClient.connect(o.addr, o.access);
  const members = ((await entry.request({ op: 'members' })).members as MemberLite[]).filter((m) => m.status === 'up');
  await entry.close();
  if (o.node && !members.some((m) => m.name === o.node)) throw new KvError('KV_USAGE', `no member named ${o.node}`);
  const pairs: [MemberLite, MemberLite][] = [];
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i] as MemberLite;
      const b = members[j] as MemberLite;
      if (!o.node || a.name === o.node || b.name === o.node) pairs.push(o.node === b.name ? [b, a] : [a, b]);
    }
  }
  const summary: RepairSummary = {
    dryRun: o.dryRun,
    pairs: pairs.length,
    pairsFailed: 0,
    tombstonesReaped: 0,
    rangesCompared: 0,
    keysDiffering: 0,
    keysTransferred: 0,
    bytesTransferred: 0,
    ms: 0,
  };
  const differing = new Set<string>();
  const transferred = new Set<string>();
  let done = 0;
  for (const [a, b] of pairs) {
    let result: PairResult;
    try {
      const client = await KvClient.connect(a.addr, o.access);
      try {
        const reply = await client.request({ op: 'repair', peer: b.name, dryRun: o.dryRun, ...(o.range ? { range: o.range } : {}) }, 10 * 60_000);
        const x = (reply.exchanges as (PairResult & { keys: string[] })[])[0] as PairResult & { keys: string[] };
        for (const k of x.keys) (o.dryRun ? differing : transferred).add(k);
        if (!o.dryRun) for (const k of x.keys) differing.add(k);
        result = {
          pair: [a.name, b.name],
          rangesCompared: x.rangesCompared,
          keysDiffering: x.keysDiffering,
          keysTransferred: x.keysTransferred,
          bytesTransferred: x.bytesTransferred,
          rootsEqualAfter: x.rootsEqualAfter,
          ms: x.ms,
        };
      } finally {
        await client.close();
      }
    } catch (err) {
      const e = err as KvError;
      summary.pairsFailed++;
      result = { pair: [a.name, b.name], ...emptyExchangeFigures(), error: { code: e.code ?? 'KV_INTERNAL', message: e.message } };
    }
    summary.rangesCompared += result.rangesCompared;
    summary.bytesTransferred += result.bytesTransferred;
    onProgress(++done, pairs.length, result);
  }
  // Once the replicas agree, each node reaps the tombstones it leads that every replica now holds.
  if (!o.dryRun && summary.pairsFailed === 0) {
    for (const m of members) {
      const client = await KvClient.connect(m.addr, o.access);
      try {
        summary.tombstonesReaped += Number((await client.request({ op: 'reap' }, 10 * 60_000)).reaped);
      } finally {
        await client.close();
      }
    }
  }
  summary.keysDiffering = differing.size;
  summary.keysTransferred = transferred.size;
  summary.ms = Date.now() - started;
  return summary;
}

/** Parses "lo:hi" ring positions (decimal or 0x-hex, 0 .. 2^32-1). */
export function parseRange(text: string): [number, number] {
  const parts = text.split(':').map((p) => Number(p.trim()));
  const [lo, hi] = parts as [number, number];
  if (parts.length !== 2 || !parts.every((p) => Number.isInteger(p) && p >= 0 && p < 2 ** 32) || lo > hi) {
    throw new KvError('KV_USAGE', `--range must be lo:hi ring positions between 0 and ${2 ** 32 - 1}, e.g. 0:0x3fffffff`);
  }
  return [lo, hi];
}
