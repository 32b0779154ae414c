import { hash } from 'node:crypto';
import t from 'tap';
import type { CausalRecord } from '../../src/clock/causal-record.js';
import { versionDigest } from '../../src/clock/index.js';
import { seededRandom } from '../helpers/random.js';

/** The digest as first defined (sorted clock entries, then sorted dots): stored trees and peers compare these. */
function reference(record: CausalRecord<unknown>): string {
  let text = '';
  for (const [actor, n] of [...record.clock].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) text += `${actor}\u0000${n}\u0001`;
  const dots = record.siblings.map((s) => `${s.dot[0]}\u0000${s.dot[1]}\u0000${s.value === null ? 't' : 'v'}`).sort();
  for (const d of dots) text += `${d}\u0002`;
  return hash('sha256', text, 'hex').slice(0, 32);
}

function randomRecord(rng: () => number): CausalRecord<unknown> {
  const actors = ['b~2', 'a~1', 'c~3', 'a~9'];
  const clock = new Map<string, number>();
  for (const a of actors) if (rng() < 0.5) clock.set(a, 1 + Math.floor(rng() * 50));
  const siblings = Array.from({ length: Math.floor(rng() * 4) }, () => ({
    dot: [actors[Math.floor(rng() * actors.length)] as string, 1 + Math.floor(rng() * 50)] as [string, number],
    ts: 0,
    value: rng() < 0.3 ? null : 'x',
  }));
  return { clock, siblings };
}

t.test('the digest is the defined one for records of every shape (one or several clock entries and siblings)', async (t) => {
  const rng = seededRandom(5);
  const differ: number[] = [];
  const shapes = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const record = randomRecord(rng);
    shapes.add(`${Math.min(record.clock.size, 2)}/${Math.min(record.siblings.length, 2)}`);
    if (versionDigest(record) !== reference(record)) differ.push(i);
  }
  t.same(differ, []);
  t.equal(shapes.size, 9, 'clocks and sibling lists of size 0, 1 and several all occurred');
});

t.test('the digest ignores the order of clock entries and siblings, and tells a tombstone from a value', async (t) => {
  const a: CausalRecord<unknown> = {
    clock: new Map([
      ['x~1', 2],
      ['y~1', 1],
    ]),
    siblings: [
      { dot: ['x~1', 2], ts: 5, value: 'v' },
      { dot: ['y~1', 1], ts: 6, value: 'w' },
    ],
  };
  const b: CausalRecord<unknown> = { clock: new Map([...a.clock].reverse()), siblings: [...a.siblings].reverse() };
  t.equal(versionDigest(a), versionDigest(b));
  const tomb: CausalRecord<unknown> = { ...a, siblings: [{ dot: ['x~1', 2], ts: 5, value: null }, a.siblings[1] as (typeof a.siblings)[number]] };
  t.not(versionDigest(tomb), versionDigest(a));
  t.match(versionDigest(a), /^[0-9a-f]{32}$/);
});
