/**
 * The sources keep their layers (test/architecture/layers.ts states the map and the rules): each
 * rule runs over the real import graph and fails with one line per violation, `from -> to (why)`.
 * The checker is first run on a small synthetic tree with known violations, so a checker that
 * finds nothing cannot pass for a clean tree.
 */
import t from 'tap';
import { analyse, type LayerEntry, RULES, readSources } from './layers.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

/** The lines of the rule whose title starts with `number.`. */
function violations(sources: Record<string, string>, map: LayerEntry[], number: number): string[] {
  const rule = RULES.find((r) => r.title.startsWith(`${number}.`))!;
  return rule.check(analyse(new Map(Object.entries(sources)), map));
}

t.test('the checker reports known violations in a synthetic tree', async (t) => {
  const map: LayerEntry[] = [
    { pattern: 'pure.ts', layer: 'core' },
    { pattern: 'engine/**', layer: 'engine' },
    { pattern: 'disk/**', layer: 'adapter' },
    { pattern: 'net/**', layer: 'adapter' },
    { pattern: 'client/**', layer: 'adapter' },
    { pattern: 'main.ts', layer: 'root' },
    { pattern: 'gone/**', layer: 'adapter' },
    { pattern: 'later/**', layer: 'engine', optional: true },
  ];
  const sources = {
    'src/pure.ts': `import type { File } from './disk/file.js';\nimport { createHash } from 'node:crypto';\n// Date.now() in a comment is fine\n/** nor Math.random() in a doc comment */\nexport const name = 'x';`,
    'src/disk/file.ts': `import { open } from 'node:fs/promises';\nexport type File = Awaited<ReturnType<typeof open>>;`,
    'src/net/socket.ts': `import { connect } from 'node:net';\nimport { Client } from '../client/client.js';\nimport { started } from '../engine/loop.js';`,
    'src/client/client.ts': `import type { Socket } from '../net/socket.js';\nexport class Client {}`,
    'src/engine/loop.ts': `import { name } from '../pure.js';\nimport { readFileSync } from 'node:fs';\nexport const started = Date.now(); // not setTimeout(\nexport const main = () => import('../main.js');`,
    'src/main.ts': `import '../commands/start.js';\nimport { started } from './engine/loop.js';`,
    'src/stray.ts': `export {};`,
    'commands/start.ts': `import { main } from '../src/main.js';`,
  };
  t.same(
    violations(sources, map, 1),
    [
      'src/pure.ts:1 -> src/disk/file.ts (core imports adapter, type-only)',
      'src/pure.ts -> src/disk/file.ts -> node:fs/promises (core reaches an I/O builtin, through a type-only import)',
    ],
    'rule 1: a core file importing an adapter (even for types), and the builtin reached through it',
  );
  t.same(violations(sources, map, 2), ['src/engine/loop.ts:2 -> node:fs (engine imports an I/O builtin)'], 'rule 2: an engine importing an I/O builtin');
  t.same(violations(sources, map, 3), ['src/net/socket.ts:3 -> src/engine/loop.ts (adapter imports engine)'], 'rule 3: an adapter importing an engine');
  t.same(
    violations(sources, map, 4),
    ['src/engine/loop.ts:4 -> src/main.ts (engine imports root)', 'src/main.ts:1 -> commands/start.ts (src/ imports a command or benchmark)'],
    'rule 4: an engine importing a root (dynamically), src/ importing a command',
  );
  t.same(
    violations(sources, map, 5),
    ['src/stray.ts -> ? (no entry of the layer map matches it)', 'layer map -> gone/** (entry matches no file)'],
    'rule 5: an unplaced file and a stale entry; the optional entry passes',
  );
  t.same(
    violations(sources, map, 6),
    [
      'src/engine/loop.ts:4 -> src/main.ts (folder cycle {engine, main.ts}: engine -> main.ts)',
      'src/main.ts:2 -> src/engine/loop.ts (folder cycle {engine, main.ts}: main.ts -> engine)',
      'src/client/client.ts:1 -> src/net/socket.ts (folder cycle {client, net}: client -> net, type-only)',
      'src/net/socket.ts:2 -> src/client/client.ts (folder cycle {client, net}: net -> client)',
    ],
    'rule 6: both folder cycles, one import per edge',
  );
  t.same(
    violations(sources, map, 7),
    ['src/engine/loop.ts:3 -> Date.now( (engine reads the wall clock)'],
    'rule 7: the real clock read, not the ones in comments',
  );
});

const project = analyse(readSources(repoRoot));
for (const rule of RULES) {
  t.test(rule.title, { diagnostic: false }, async (t) => {
    const lines = rule.check(project);
    for (const line of lines) t.fail(line, { diagnostic: false });
    if (lines.length === 0) t.pass('no violations');
  });
}
