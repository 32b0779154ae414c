/**
 * The pure core stays pure (DESIGN §1): no wall clock, no Math.random, no timers, no sockets or
 * files, and no imports of engines, adapters or composition roots. Checked on the source text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const root = new URL('../src/', import.meta.url).pathname;
const core: string[] = [
  'ring/hash.ts',
  'ring/ring.ts',
  'clock/version-vector.ts',
  'clock/causal-record.ts',
  'clock/context.ts',
  'clock/version-digest.ts',
  'membership/member-table.ts',
  'membership/cluster-state.ts',
  'quorum/quorum.ts',
  'antientropy/merkle-tree.ts',
  'storage/lru-cache.ts',
  'storage/record-format.ts',
];
const forbidden: [RegExp, string][] = [
  [/\bDate\.now\s*\(/, 'Date.now'],
  [/\bnew Date\s*\(/, 'new Date'],
  [/\bMath\.random\s*\(/, 'Math.random'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'timers'],
  [/from '(node:)?(fs|net|child_process|dgram|http|https)'/, 'I/O modules'],
  [/from '\.\.\/(net|daemon|client|cli|sim|handoff|node)\//, 'engines, adapters or roots'],
  [/from '\.\.\/membership\/gossiper/, 'the gossip engine'],
];

t.test('every core module exists and is free of I/O, time and randomness', async (t) => {
  const all = readdirSync(root, { recursive: true }).map(String);
  for (const file of core) {
    t.ok(all.includes(file), `${file} exists`);
    const text = readFileSync(join(root, file), 'utf8');
    for (const [pattern, what] of forbidden) t.notMatch(text, pattern, `${file}: no ${what}`);
  }
});
