/** The export format: every record round-trips exactly through its line and JSON text; anything else is refused with what is wrong. */
import t from 'tap';
import { applyWrite, type CausalRecord, emptyRecord, emptyVector, encodeContext } from '../../src/clock/index.js';
import { EXPORT_FORMAT_VERSION, exportLine, parseExportLine } from '../../src/protocol/export-format.js';
import { randomBytes, seededRandom } from '../helpers/random.js';

const BOUNDS = { maxKeyBytes: 1024, maxValueBytes: 64 * 1024, maxSiblings: 16 };
const T0 = 1_800_000_000_000;

/** A key with siblings, a tombstone beside a live value, a deadline, and a value that is not UTF-8. */
function sample(): CausalRecord<Buffer> {
  const base = applyWrite(emptyRecord<Buffer>(), emptyVector, 'n1~aa', Buffer.from('first'), T0);
  const left = applyWrite(base, base.clock, 'n2~bb', Buffer.from('left é'), T0 + 1, T0 + 60_000);
  const right = applyWrite(base, base.clock, 'n3~cc', null, T0 + 2);
  return { clock: new Map([...left.clock, ...right.clock]), siblings: [...left.siblings, ...right.siblings] };
}

const roundTrip = (key: Buffer, record: CausalRecord<Buffer>) => parseExportLine(JSON.parse(JSON.stringify(exportLine(key, record))), BOUNDS);

t.test('a line holds the whole record, and reads back to the same record', async (t) => {
  const key = Buffer.from('cart:7');
  const record = sample();
  const line = exportLine(key, record);
  t.equal(line.v, EXPORT_FORMAT_VERSION);
  t.equal(line.encoding, 'utf8');
  t.equal(line.context, encodeContext(key, record.clock), 'the context a get returns');
  t.same(line.versions, [
    { dot: ['n2~bb', 1], ts: T0 + 1, value: 'left é', expiresAt: T0 + 60_000 },
    { dot: ['n3~cc', 1], ts: T0 + 2, deleted: true },
  ]);
  const back = roundTrip(key, record);
  t.ok(back.key.equals(key));
  t.same([...back.record.clock], [...record.clock]);
  t.same(back.record.siblings, record.siblings, 'dots, times, values, the tombstone and the deadline');
});

t.test('binary keys and values travel as base64; random records round-trip exactly', async (t) => {
  const rng = seededRandom(21);
  const wrong: string[] = [];
  for (let i = 0; i < 300; i++) {
    let record = emptyRecord<Buffer>();
    const versions = 1 + Math.floor(rng() * 4);
    for (let v = 0; v < versions; v++) {
      const actor = `n${Math.floor(rng() * 5)}~${i}`;
      const value = rng() < 0.2 ? null : randomBytes(rng, 40);
      const expiresAt = value !== null && rng() < 0.3 ? T0 + Math.floor(rng() * 1e9) : undefined;
      const context = rng() < 0.5 ? emptyVector : record.clock;
      record = applyWrite(record, context, actor, value, T0 + Math.floor(rng() * 1000), expiresAt);
    }
    const key = randomBytes(rng, 20);
    if (key.length === 0) continue;
    const back = roundTrip(key, record);
    if (!back.key.equals(key)) wrong.push(`#${i}: key`);
    if (JSON.stringify([...back.record.clock].sort()) !== JSON.stringify([...record.clock].sort())) wrong.push(`#${i}: clock`);
    if (JSON.stringify(back.record.siblings) !== JSON.stringify(record.siblings)) wrong.push(`#${i}: versions`);
  }
  t.same(wrong, [], '300 random records');
  const binary = exportLine(Buffer.from([0xff, 0x00]), sample());
  t.equal(binary.encoding, 'base64', 'a key that is not UTF-8 makes the whole line base64');
  const controls = applyWrite(emptyRecord<Buffer>(), emptyVector, 'n1~aa', Buffer.alloc(1024, 0x01), T0);
  t.equal(exportLine(Buffer.from('k'), controls).encoding, 'base64', 'UTF-8 that escapes to 6 bytes a byte goes as base64, as a get reply would');
});

t.test('refusals: what a line must not hold, each named', async (t) => {
  const good = () => JSON.parse(JSON.stringify(exportLine(Buffer.from('k'), sample()))) as Record<string, unknown>;
  const versions = (line: Record<string, unknown>) => line.versions as Record<string, unknown>[];
  const cases: [string, (l: Record<string, unknown>) => unknown, string][] = [
    ['another format version', (l) => ({ ...l, v: 2 }), 'KV_BAD_IMPORT'],
    ['an unknown field', (l) => ({ ...l, extra: 1 }), 'KV_BAD_IMPORT'],
    ['__proto__ as a field', (l) => JSON.parse(JSON.stringify(l).replace('"v":1', '"__proto__":{},"v":1')), 'KV_BAD_IMPORT'],
    ['an empty key', (l) => ({ ...l, key: '' }), 'KV_EMPTY_KEY'],
    ['a key over the limit', (l) => ({ ...l, key: 'k'.repeat(1025) }), 'KV_KEY_TOO_LARGE'],
    ['bad base64', (l) => ({ ...l, encoding: 'base64', key: 'a?b' }), 'KV_BAD_IMPORT'],
    ['no versions', (l) => ({ ...l, versions: [] }), 'KV_BAD_IMPORT'],
    ['more versions than the sibling limit', (l) => ({ ...l, versions: Array.from({ length: 17 }, () => versions(l)[0]) }), 'KV_BAD_IMPORT'],
    ['a dot the clock does not cover', (l) => ({ ...l, clock: [['n1~aa', 1]] }), 'KV_BAD_IMPORT'],
    ['a counter out of bounds', (l) => ({ ...l, clock: [['n1~aa', 2 ** 48]] }), 'KV_BAD_IMPORT'],
    ['an actor twice in the clock', (l) => ({ ...l, clock: [...(l.clock as unknown[]), (l.clock as unknown[])[0]] }), 'KV_BAD_IMPORT'],
    ['two versions with one dot', (l) => ({ ...l, versions: [versions(l)[0], versions(l)[0]] }), 'KV_BAD_IMPORT'],
    ['a deleted version with a value', (l) => ({ ...l, versions: [{ ...versions(l)[1], value: 'x' }] }), 'KV_BAD_IMPORT'],
    ['a deadline that is not a time', (l) => ({ ...l, versions: [{ ...versions(l)[0], expiresAt: -1 }] }), 'KV_BAD_IMPORT'],
    ['a value over the limit', (l) => ({ ...l, versions: [{ ...versions(l)[0], value: 'x'.repeat(64 * 1024 + 1) }] }), 'KV_VALUE_TOO_LARGE'],
    ['a lone surrogate', (l) => ({ ...l, versions: [{ ...versions(l)[0], value: '\ud800' }] }), 'KV_BAD_IMPORT'],
    ['not an object', () => [1, 2], 'KV_BAD_IMPORT'],
  ];
  for (const [what, change, code] of cases) t.throws(() => parseExportLine(change(good()), BOUNDS), { code }, what);
});
