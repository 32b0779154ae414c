import t from 'tap';
import { applyWrite, emptyRecord, liveSiblings, mergeRecords } from '../../src/clock/index.js';

t.test('a write with the read context supersedes exactly what was read', async (t) => {
  const r1 = applyWrite(emptyRecord<string>(), new Map(), 'a', 'v1', 1);
  const r2 = applyWrite(r1, r1.clock, 'a', 'v2', 2);
  t.same(liveSiblings(r2).map((s) => s.value), ['v2']);
});
