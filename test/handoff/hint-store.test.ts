import t from 'tap';
import { applyWrite, emptyRecord, MAX_FILLED_CLOCK_ENTRIES } from '../../src/clock/index.js';
import { defaultHintCaps, HintStore } from '../../src/handoff/hint-store.js';
import { CODEC_RAW, type StoredValue } from '../../src/storage/codec.js';
import { MemoryStore } from '../../src/storage/memory-store.js';

const key = Buffer.from('k');
const raw = (v: string): StoredValue => ({ codec: CODEC_RAW, stored: Buffer.from(v), raw: Buffer.from(v) });
/** A record of one value written by `actor`, its clock holding `ghosts` more writers. */
const written = (actor: string, ghosts = 0) =>
  applyWrite(emptyRecord<StoredValue>(), new Map(Array.from({ length: ghosts }, (_, i) => [`${actor}-ghost-${i}`, 1])), actor, raw(actor), 5);

t.test('merged hints are held to the limits of a record: siblings and clock entries', async (t) => {
  const hints = new HintStore(new MemoryStore(), defaultHintCaps, 3);
  for (const actor of ['a', 'b', 'c']) await hints.add('n2', key, written(actor), 1);
  await t.rejects(hints.add('n2', key, written('d'), 1), { code: 'KV_TOO_MANY_SIBLINGS', details: { target: 'n2', limit: 3 } }, 'a fourth concurrent value');
  t.equal((await hints.forKey(key))?.siblings.length, 3, 'the hint kept three');
  t.equal(hints.counters.stored, 3);

  await hints.add('n3', key, written('x', 150), 1);
  await t.rejects(
    hints.add('n3', key, written('y', 150), 1),
    { code: 'KV_BAD_REQUEST', details: { limit: MAX_FILLED_CLOCK_ENTRIES } },
    'a clock filled by others',
  );
  await hints.add('n3', key, written('x', 150), 1);
  t.pass('a hint that adds nothing new is taken again');
  t.same(hints.backlog('n3').hints, 1);
});

t.test('add says whether the hint was stored: at the byte cap it is dropped, and nothing is written', async (t) => {
  const store = new MemoryStore();
  const hints = new HintStore(store, { ...defaultHintCaps, maxBytesPerTarget: 200 }, 8);
  t.equal(await hints.add('n2', Buffer.from('k1'), written('a'), 1), 'stored', 'under the cap');
  const before = hints.backlog('n2');
  t.equal(await hints.add('n2', Buffer.from('k2'), written('b', 20), 1), 'dropped', 'a hint that would pass the cap');
  t.same(hints.backlog('n2'), before, 'the backlog is as it was');
  t.equal(await hints.forKey(Buffer.from('k2')), undefined, 'nothing was kept for the dropped key');
  t.same([hints.counters.stored, hints.counters.droppedOverBytes], [1, 1]);
  t.equal(await hints.add('n3', Buffer.from('k2'), written('b'), 1), 'stored', 'the cap is per target');
});
