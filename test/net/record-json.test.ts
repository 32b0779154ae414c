import t from 'tap';
import { recordFromJson, recordJsonText, recordToJson } from '../../src/net/record-json.js';
import { CODEC_BROTLI, CODEC_RAW } from '../../src/storage/codec.js';
import type { StoredRecord } from '../../src/storage/record-format.js';
import { seededRandom } from '../helpers/random.js';

const bounds = { maxSiblings: 64, maxValueBytes: 1 << 20 };

const ACTORS = ['node1~a1', 'n"quote~b2', 'ünïcode~c3', 'back\\slash~d4', 'tab\tnew\nline~e5'];

function randomRecord(rng: () => number): StoredRecord {
  const clock = new Map<string, number>();
  for (const a of ACTORS) if (rng() < 0.5) clock.set(a, 1 + Math.floor(rng() * 1e6));
  const siblings: StoredRecord['siblings'][number][] = [];
  const count = Math.floor(rng() * 4);
  for (let i = 0; i < count; i++) {
    const actor = ACTORS[Math.floor(rng() * ACTORS.length)] as string;
    const bytes = Buffer.from(Array.from({ length: Math.floor(rng() * 40) }, () => Math.floor(rng() * 256)));
    const kind = rng();
    const value = kind < 0.3 ? null : kind < 0.6 ? { codec: CODEC_RAW, stored: bytes, raw: bytes } : { codec: CODEC_BROTLI, stored: bytes, raw: undefined };
    const counter = 1 + Math.floor(rng() * 1000);
    if (siblings.some((s) => s.dot[0] === actor && s.dot[1] === counter)) continue; // one value per dot
    clock.set(actor, Math.max(clock.get(actor) ?? 0, counter)); // a record's clock covers its siblings
    siblings.push({ dot: [actor, counter], ts: Math.floor(rng() * 2e12), value } as StoredRecord['siblings'][number]);
  }
  return { clock, siblings };
}

t.test('the record text written directly is exactly JSON.stringify of the wire form, and reads back', async (t) => {
  const rng = seededRandom(11);
  const differ: number[] = [];
  const roundTripDiffers: number[] = [];
  let tombstones = 0;
  for (let i = 0; i < 500; i++) {
    const record = randomRecord(rng);
    tombstones += record.siblings.filter((s) => s.value === null).length;
    const text = recordJsonText(record);
    if (text !== JSON.stringify(recordToJson(record))) differ.push(i);
    if (JSON.stringify(recordToJson(recordFromJson(JSON.parse(text), bounds))) !== text) roundTripDiffers.push(i);
  }
  t.same(differ, [], 'records whose text differs from JSON.stringify');
  t.same(roundTripDiffers, [], 'records that do not read back to the same text');
  t.ok(tombstones > 0, 'tombstones were among them');
});

t.test('a record from a peer is refused when malformed', async (t) => {
  const good = recordToJson(randomRecord(seededRandom(5)));
  t.same(recordToJson(recordFromJson(good, bounds)), good, 'a well-formed record reads back');
  const bad: [string, unknown][] = [
    ['not an object', 'x'],
    ['clock not an array', { clock: {}, siblings: [] }],
    ['clock entry with a zero counter', { clock: [['a~1', 0]], siblings: [] }],
    ['clock entry with three fields', { clock: [['a~1', 1, 2]], siblings: [] }],
    ['sibling of four fields', { clock: [['a~1', 1]], siblings: [['a~1', 1, 0, 0]] }],
    ['unknown codec', { clock: [['a~1', 1]], siblings: [['a~1', 1, 0, 7, 'AA==']] }],
    ['tombstone with bytes', { clock: [['a~1', 1]], siblings: [['a~1', 1, 0, -1, 'AA==']] }],
  ];
  for (const [why, raw] of bad) t.throws(() => recordFromJson(raw, bounds), { code: 'KV_BAD_REQUEST' }, why);
  t.throws(() => recordFromJson({ clock: [['a~1', 1]], siblings: [['a~1', 1, 0, 0, 'not base64!']] }, bounds), { code: 'KV_BAD_ENCODING' }, 'value not base64');
});

t.test('a record from a peer is held to the limits of a client write', async (t) => {
  const v = Buffer.from('v').toString('base64');
  const ok = { clock: [['a~1', 2]], siblings: [['a~1', 2, 5, 0, v]] };
  t.ok(recordFromJson(ok, bounds), 'a well-formed record');
  const siblings = (n: number) => ({
    clock: Array.from({ length: n }, (_, i) => [`w${i}~1`, 1]),
    siblings: Array.from({ length: n }, (_, i) => [`w${i}~1`, 1, 5, 0, v]),
  });
  t.ok(recordFromJson(siblings(3), { ...bounds, maxSiblings: 3 }), 'siblings up to the limit');
  // A write from a context at 2^47 leaves 2^47 + 1 in the record: replicas must take it, or the key could not be written.
  const high = { clock: [['a~1', 2 ** 47 + 1]], siblings: [['a~1', 2 ** 47 + 1, 5, 0, v]] };
  t.equal(recordFromJson(high, bounds).clock.get('a~1'), 2 ** 47 + 1, 'counters past 2^47, as writes leave them');
  t.equal(recordFromJson({ clock: [['a~1', 2 ** 48 - 1]], siblings: [] }, bounds).clock.get('a~1'), 2 ** 48 - 1, 'up to what 48 bits hold');
  const cases: [string, unknown, string][] = [
    ['one sibling over the limit', siblings(4), 'KV_BAD_REQUEST'],
    ['a value over the value limit', { clock: [['a~1', 1]], siblings: [['a~1', 1, 5, 0, Buffer.alloc(11).toString('base64')]] }, 'KV_VALUE_TOO_LARGE'],
    ['257 clock entries', { clock: Array.from({ length: 257 }, (_, i) => [`a${i}~1`, 1]), siblings: [] }, 'KV_BAD_REQUEST'],
    ['a counter above 2^48 - 1 (48 bits stored)', { clock: [['a~1', 2 ** 48]], siblings: [] }, 'KV_BAD_REQUEST'],
    ['a dot above 2^48 - 1', { clock: [['a~1', 2 ** 48 - 1]], siblings: [['a~1', 2 ** 48, 5, 0, v]] }, 'KV_BAD_REQUEST'],
    ['an actor of 513 characters', { clock: [['a'.repeat(513), 1]], siblings: [] }, 'KV_BAD_REQUEST'],
    ['an empty actor', { clock: [['', 1]], siblings: [] }, 'KV_BAD_REQUEST'],
    [
      'one actor twice in the clock',
      {
        clock: [
          ['a~1', 1],
          ['a~1', 2],
        ],
        siblings: [],
      },
      'KV_BAD_REQUEST',
    ],
    ["a sibling the record's clock has not seen", { clock: [['a~1', 1]], siblings: [['a~1', 2, 5, 0, v]] }, 'KV_BAD_REQUEST'],
    [
      'two siblings with one dot',
      {
        clock: [['a~1', 1]],
        siblings: [
          ['a~1', 1, 5, 0, v],
          ['a~1', 1, 6, 0, v],
        ],
      },
      'KV_BAD_REQUEST',
    ],
    ['a timestamp past 48 bits', { clock: [['a~1', 1]], siblings: [['a~1', 1, 2 ** 48, 0, v]] }, 'KV_BAD_REQUEST'],
  ];
  for (const [why, raw, code] of cases) t.throws(() => recordFromJson(raw, { ...bounds, maxSiblings: 3, maxValueBytes: 10 }), { code }, why);
});
