import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { parseRequest } from '../../src/net/protocol.js';

const parse = (x: unknown) => parseRequest(Buffer.from(JSON.stringify(x)), defaultLimits);

t.test('remove: a node name, and force only when true', async (t) => {
  t.same(parse({ id: 1, op: 'remove', node: 'node3' }), { id: 1, request: { op: 'remove', node: 'node3', force: false } });
  t.same(parse({ id: 2, op: 'remove', node: 'node3', force: true }), { id: 2, request: { op: 'remove', node: 'node3', force: true } });
  const bad: [string, Record<string, unknown>][] = [
    ['no node', { op: 'remove' }],
    ['empty node', { op: 'remove', node: '' }],
    ['numeric node', { op: 'remove', node: 3 }],
    ['force as a string', { op: 'remove', node: 'n', force: 'yes' }],
    ['unknown field', { op: 'remove', node: 'n', now: true }],
  ];
  for (const [name, body] of bad) t.throws(() => parse(body), { code: 'KV_BAD_REQUEST' }, name);
});
