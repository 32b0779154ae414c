import t from 'tap';
import { formatLine, shorten } from '../../src/env/log-line.js';
import { rotationPlan } from '../../src/env/log-rotation.js';

const head = { time: '2025-01-31T12:00:00.000Z', level: 'info', node: 'n1', event: 'node.listening', msg: 'listening' } as const;
const bytes = (line: string) => Buffer.byteLength(line, 'utf8');

t.test('a short line is the head and the fields, newline-terminated', async (t) => {
  const line = formatLine(head, { addr: 'a:1', n: 2 });
  t.equal(line, '{"time":"2025-01-31T12:00:00.000Z","level":"info","node":"n1","event":"node.listening","msg":"listening","addr":"a:1","n":2}\n');
  t.equal(formatLine(head, undefined), `${JSON.stringify(head)}\n`);
});

t.test('fields JSON cannot write do not cost the line', async (t) => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const line = JSON.parse(formatLine(head, { big: 10n, cycle, fine: 'yes' })) as Record<string, unknown>;
  t.match(line.big, /^\[not loggable: .*BigInt/);
  t.match(line.cycle, /^\[not loggable: .*circular/i);
  t.equal(line.fine, 'yes');
  t.equal(line.event, 'node.listening');
});

t.test('every cap is kept, multi-byte text and many fields included', async (t) => {
  const fields = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f${i}`, `é😀${'z'.repeat(i * 10)}`]));
  for (const cap of [4096, 1024, 512]) {
    const line = formatLine({ ...head, msg: 'm'.repeat(10_000), node: 'ñ'.repeat(100) }, fields, cap);
    t.ok(bytes(line) <= cap, `cap ${cap}: ${bytes(line)} bytes`);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    t.equal(parsed.truncated, true);
    t.equal(parsed.event, 'node.listening', 'the event is never cut');
    t.ok(!String(parsed.msg).includes('\ufffd') && !/[\ud800-\udbff](?![\udc00-\udfff])/.test(line), 'no character is split');
  }
  const wide = formatLine(head, { s: '😀'.repeat(5000) }, 4096);
  t.ok(bytes(wide) <= 4096, `4-byte characters: ${bytes(wide)} bytes`);
});

t.test('shorten keeps the start, says how much was cut and never halves a surrogate pair', async (t) => {
  t.equal(shorten('abc', 3), 'abc');
  t.equal(shorten('abcdef', 2), 'ab...[truncated 4 chars]');
  t.equal(shorten('a😀b', 2), 'a...[truncated 3 chars]', 'the pair stays whole: both halves cut');
});

t.test('a rotation plan shifts the numbered files up, oldest first, and removes those beyond the count', async (t) => {
  const names = ['kvctl.log', 'kvctl.log.1', 'kvctl.log.2', 'kvctl.log.3', 'kvctl.log.9', 'kvctl.log.x', 'kvctl.log.01', 'kvctl.pid', 'db'];
  t.same(rotationPlan(names, 'kvctl.log', 3), {
    remove: ['kvctl.log.3', 'kvctl.log.9'],
    renames: [
      ['kvctl.log.2', 'kvctl.log.3'],
      ['kvctl.log.1', 'kvctl.log.2'],
      ['kvctl.log', 'kvctl.log.1'],
    ],
  });
  t.same(
    rotationPlan(['kvctl.log', 'kvctl.log.2'], 'kvctl.log', 3),
    {
      remove: [],
      renames: [
        ['kvctl.log.2', 'kvctl.log.3'],
        ['kvctl.log', 'kvctl.log.1'],
      ],
    },
    'gaps are kept',
  );
  t.same(rotationPlan(['kvctl.log', 'kvctl.log.1'], 'kvctl.log', 1), { remove: ['kvctl.log.1'], renames: [['kvctl.log', 'kvctl.log.1']] });
  t.same(rotationPlan(['kvctl.log', 'kvctl.log.1'], 'kvctl.log', 0), { remove: ['kvctl.log.1', 'kvctl.log'], renames: [] }, 'none kept: the log goes');
  t.same(rotationPlan([], 'kvctl.log', 3), { remove: [], renames: [] }, 'nothing there, nothing done');
  t.same(
    rotationPlan(['a+b.log', 'a+b.log.1', 'aab.log.1'], 'a+b.log', 2).renames,
    [
      ['a+b.log.1', 'a+b.log.2'],
      ['a+b.log', 'a+b.log.1'],
    ],
    'the name is matched literally',
  );
});
