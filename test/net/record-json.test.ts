import t from 'tap';
import { recordFromJson, recordJsonText, recordToJson } from '../../src/net/record-json.js';
import { CODEC_BROTLI, CODEC_RAW } from '../../src/storage/codec.js';
import type { StoredRecord } from '../../src/storage/record-format.js';
import { seededRandom } from '../helpers/random.js';

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
    siblings.push({ dot: [actor, 1 + Math.floor(rng() * 1000)], ts: Math.floor(rng() * 2e12), value } as StoredRecord['siblings'][number]);
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
    if (JSON.stringify(recordToJson(recordFromJson(JSON.parse(text)))) !== text) roundTripDiffers.push(i);
  }
  t.same(differ, [], 'records whose text differs from JSON.stringify');
  t.same(roundTripDiffers, [], 'records that do not read back to the same text');
  t.ok(tombstones > 0, 'tombstones were among them');
});

t.test('a record from a peer is refused when malformed', async (t) => {
  const good = recordToJson(randomRecord(seededRandom(5)));
  t.same(recordToJson(recordFromJson(good)), good, 'a well-formed record reads back');
  const bad: [string, unknown][] = [
    ['not an object', 'x'],
    ['clock not an array', { clock: {}, siblings: [] }],
    ['clock entry with a zero counter', { clock: [['a~1', 0]], siblings: [] }],
    ['clock entry with three fields', { clock: [['a~1', 1, 2]], siblings: [] }],
    ['sibling of four fields', { clock: [], siblings: [['a~1', 1, 0, 0]] }],
    ['unknown codec', { clock: [], siblings: [['a~1', 1, 0, 7, 'AA==']] }],
    ['tombstone with bytes', { clock: [], siblings: [['a~1', 1, 0, -1, 'AA==']] }],
  ];
  for (const [why, raw] of bad) t.throws(() => recordFromJson(raw), { code: 'KV_BAD_REQUEST' }, why);
  t.throws(() => recordFromJson({ clock: [], siblings: [['a~1', 1, 0, 0, 'not base64!']] }), { code: 'KV_BAD_ENCODING' }, 'value not base64');
});
