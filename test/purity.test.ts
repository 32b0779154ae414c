/**
 * The pure core stays pure (DESIGN §1): no wall clock, no Math.random, no timers, no sockets or
 * files, and no imports of engines, adapters or composition roots. Checked on the source text, and
 * on imports: a core module imports only other core modules and computation builtins, so nothing
 * with I/O is reachable from the core, directly or through another module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import t from 'tap';

const root = new URL('../src/', import.meta.url).pathname;
const core: string[] = [
  'ring/index.ts',
  'ring/hash.ts',
  'ring/ring.ts',
  'clock/index.ts',
  'clock/version-vector.ts',
  'clock/causal-record.ts',
  'clock/context.ts',
  'clock/version-digest.ts',
  'membership/index.ts',
  'membership/member-table.ts',
  'membership/member-wire.ts',
  'membership/cluster-state.ts',
  'quorum/quorum.ts',
  'antientropy/merkle-tree.ts',
  'storage/codec.ts',
  'storage/lru-cache.ts',
  'storage/record-format.ts',
  'storage/store.ts',
  'env/clock.ts',
  'env/keyed-lock.ts',
  'env/logger.ts',
  'env/random.ts',
  'env/with-resolvers.ts',
  'errors.ts',
  'config.ts',
];
/** Node builtins that only compute (buffers, hashes). */
const computationBuiltins = new Set(['node:buffer', 'node:crypto']);
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

t.test('core modules import only core modules and computation builtins', async (t) => {
  for (const file of core) {
    const text = readFileSync(join(root, file), 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom|^import|\bimport\s*\()\s*'([^']+)'/gm)].map((m) => m[1] as string);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) {
        const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
        t.ok(core.includes(target), `${file} imports ${spec}: a core module`);
      } else {
        t.ok(computationBuiltins.has(spec), `${file} imports ${spec}: a computation builtin`);
      }
    }
  }
});
