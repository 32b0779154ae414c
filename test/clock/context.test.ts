import t from 'tap';
import { decodeContext, EMPTY_CONTEXT, emptyVector, encodeContext, type VersionVector, vectorEntries } from '../../src/clock/index.js';
import { KvError } from '../../src/errors.js';

const vv = (entries: [string, number][]): VersionVector => new Map(entries);
const token = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url');

t.test('round trip', async (t) => {
  const cases: [string, VersionVector][] = [
    ['one entry', vv([['a', 1]])],
    [
      'several, unsorted',
      vv([
        ['n3', 7],
        ['n1', 2],
        ['n2', 40],
      ]),
    ],
    ['unicode actor', vv([['nœud-é-😀', 3]])],
    ['the largest counter taken back', vv([['a', 2 ** 47]])],
    ['256 entries', vv(Array.from({ length: 256 }, (_, i) => [`node-${i}`, i + 1] as [string, number]))],
  ];
  for (const [name, v] of cases) {
    const tok = encodeContext(v);
    t.match(tok, /^[A-Za-z0-9_-]+$/, `${name}: URL-safe token`);
    t.same(vectorEntries(decodeContext(tok)), vectorEntries(v), `${name}: decodes to the same vector`);
    t.equal(encodeContext(decodeContext(tok)), tok, `${name}: re-encodes to the same token`);
  }
  const a = encodeContext(
    vv([
      ['x', 1],
      ['y', 2],
    ]),
  );
  const b = encodeContext(
    vv([
      ['y', 2],
      ['x', 1],
    ]),
  );
  t.equal(a, b, 'the token does not depend on insertion order');
});

t.test('the empty vector has a non-empty token; an empty string is not a context', async (t) => {
  t.equal(encodeContext(emptyVector), EMPTY_CONTEXT);
  t.equal(encodeContext(new Map()), EMPTY_CONTEXT);
  t.not(EMPTY_CONTEXT, '');
  t.equal(decodeContext(EMPTY_CONTEXT).size, 0);
  t.throws(() => decodeContext(''), { code: 'KV_BAD_CONTEXT' });
  t.throws(() => decodeContext('null'), { code: 'KV_BAD_CONTEXT' });
});

t.test('anything but an issued token is KV_BAD_CONTEXT', async (t) => {
  const tooMany = Array.from({ length: 257 }, (_, i) => [`n${i}`, 1]);
  const cases: [string, string][] = [
    ['not base64 at all', '%%%not a token%%%'],
    ['base64 of garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64url')],
    ['base64 of text', Buffer.from('hello world').toString('base64url')],
    ['truncated token', encodeContext(vv([['abc', 12]])).slice(0, -3)],
    ['JSON number', token(1)],
    ['JSON string', token('a')],
    ['JSON null', token(null)],
    ['JSON object', token({ a: 1 })],
    ['entry not an array', token([{ a: 1 }])],
    ['entry too short', token([['a']])],
    ['entry too long', token([['a', 1, 2]])],
    ['actor not a string', token([[1, 1]])],
    ['counter a string', token([['a', '1']])],
    ['counter null', token([['a', null]])],
    ['zero counter', token([['a', 0]])],
    ['negative counter', token([['a', -1]])],
    ['fractional counter', token([['a', 1.5]])],
    ['unsafe integer counter', token([['a', 2 ** 53]])],
    ['huge counter', Buffer.from('[["a",1e400]]').toString('base64url')],
    [
      'one bad entry among good ones',
      token([
        ['a', 1],
        ['b', 0.5],
        ['c', 2],
      ]),
    ],
    ['too many entries (257)', token(tooMany)],
  ];
  for (const [name, tok] of cases) {
    t.throws(() => decodeContext(tok), { code: 'KV_BAD_CONTEXT' }, name);
    try {
      decodeContext(tok);
    } catch (err) {
      t.ok(err instanceof KvError, `${name}: a KvError`);
    }
  }
});

t.test('counters near their limit and repeated actors are refused, so no context can make a key unwritable', async (t) => {
  t.equal(decodeContext(token([['a~1', 2 ** 47]])).get('a~1'), 2 ** 47, 'up to 2^47');
  t.throws(() => decodeContext(token([['a~1', 2 ** 47 + 1]])), { code: 'KV_BAD_CONTEXT' }, 'above 2^47 (2^48-1 used to brick the key)');
  t.throws(() => decodeContext(token([['a~1', 2 ** 48 - 1]])), { code: 'KV_BAD_CONTEXT' });
  t.throws(
    () =>
      decodeContext(
        token([
          ['a~1', 1],
          ['a~1', 2],
        ]),
      ),
    { code: 'KV_BAD_CONTEXT' },
    'one actor twice',
  );
  t.throws(() => decodeContext(token([['x'.repeat(513), 1]])), { code: 'KV_BAD_CONTEXT' }, 'an actor too long to be a node');
  t.throws(() => decodeContext(token([['', 1]])), { code: 'KV_BAD_CONTEXT' }, 'an empty actor');
});
