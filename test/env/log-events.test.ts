/**
 * Log event names are an interface: docs/logs.md lists every one the registry has and no other, and
 * every registered name is logged somewhere in src/ (the compiler checks the converse).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { LOG_EVENTS } from '../../src/env/log-events.js';

const root = new URL('../../', import.meta.url).pathname;
const registered = Object.keys(LOG_EVENTS).sort();

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
}

t.test('docs/logs.md lists every event, and only those', async (t) => {
  const doc = readFileSync(join(root, 'docs/logs.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([a-z_]+\.[a-z_]+)` +\|/gm)].map((m) => m[1]).sort();
  t.same(documented, registered);
});

t.test('event names are well formed, and each is logged somewhere', async (t) => {
  for (const name of registered) t.match(name, /^[a-z]+\.[a-z_]+$/, `${name}: area.what_happened`);
  const src = sourcesUnder(join(root, 'src'))
    .filter((text) => !text.includes('export const LOG_EVENTS'))
    .join('\n');
  const unused = registered.filter((name) => !src.includes(`'${name}'`));
  t.same(unused, [], 'no registered event is left unused');
});
