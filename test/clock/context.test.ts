import { hash } from 'node:crypto';
import t from 'tap';
import { contextTag, decodeContext, EMPTY_CONTEXT, emptyVector, encodeContext, type VersionVector, vectorEntries } from '../../src/clock/index.js';
import { KvError } from '../../src/errors.js';

const vv = (entries: [string, number][]): VersionVector => new Map(entries);
const KEY = Buffer.from('user:1');
/** A token written by hand, bound to KEY unless another tag is given. */
const token = (entries: unknown, tag: unknown = contextTag(KEY)): string => Buffer.from(JSON.stringify([tag, entries])).toString('base64url');
const raw = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString('base64url');

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
    ['the largest counter taken back', vv([['a', 2 ** 48 - 2]])],
    ['256 entries', vv(Array.from({ length: 256 }, (_, i) => [`node-${i}`, i + 1] as [string, number]))],
  ];
  for (const [name, v] of cases) {
    const tok = encodeContext(KEY, v);
    t.match(tok, /^[A-Za-z0-9_-]+$/, `${name}: URL-safe token`);
    t.same(vectorEntries(decodeContext(tok, KEY)), vectorEntries(v), `${name}: decodes to the same vector`);
    t.equal(encodeContext(KEY, decodeContext(tok, KEY)), tok, `${name}: re-encodes to the same token`);
  }
  const a = encodeContext(
    KEY,
    vv([
      ['x', 1],
      ['y', 2],
    ]),
  );
  const b = encodeContext(
    KEY,
    vv([
      ['y', 2],
      ['x', 1],
    ]),
  );
  t.equal(a, b, 'the token does not depend on insertion order');
});

t.test('the empty vector has a non-empty token; an empty string is not a context', async (t) => {
  t.equal(encodeContext(KEY, emptyVector), EMPTY_CONTEXT);
  t.equal(encodeContext(Buffer.from('another key'), new Map()), EMPTY_CONTEXT, 'the same for every key');
  t.not(EMPTY_CONTEXT, '');
  t.equal(decodeContext(EMPTY_CONTEXT, KEY).size, 0);
  t.equal(decodeContext(EMPTY_CONTEXT, Buffer.from([0xff])).size, 0, 'taken on any key: it claims nothing');
  t.throws(() => decodeContext('', KEY), { code: 'KV_BAD_CONTEXT' });
  t.throws(() => decodeContext('null', KEY), { code: 'KV_BAD_CONTEXT' });
});

t.test('anything but an issued token is KV_BAD_CONTEXT', async (t) => {
  const tooMany = Array.from({ length: 257 }, (_, i) => [`n${i}`, 1]);
  const cases: [string, string][] = [
    ['not base64 at all', '%%%not a token%%%'],
    ['base64 of garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64url')],
    ['base64 of text', Buffer.from('hello world').toString('base64url')],
    ['truncated token', encodeContext(KEY, vv([['abc', 12]])).slice(0, -3)],
    ['JSON number', raw(1)],
    ['JSON string', raw('a')],
    ['JSON null', raw(null)],
    ['JSON object', raw({ a: 1 })],
    ['entries without a tag', raw([['a', 1]])],
    ['a tag without entries', raw([contextTag(KEY)])],
    ['a tag and entries and more', raw([contextTag(KEY), [['a', 1]], 1])],
    ['a tag that is not a string', token([['a', 1]], 7)],
    ['a tag of the wrong length', token([['a', 1]], contextTag(KEY).slice(1))],
    ['entries not an array', token({ a: 1 })],
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
    ['huge counter', Buffer.from(`["${contextTag(KEY)}",[["a",1e400]]]`).toString('base64url')],
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
    t.throws(() => decodeContext(tok, KEY), { code: 'KV_BAD_CONTEXT' }, name);
    try {
      decodeContext(tok, KEY);
    } catch (err) {
      t.ok(err instanceof KvError, `${name}: a KvError`);
    }
  }
});

t.test('counters near their limit and repeated actors are refused, so no context can make a key unwritable', async (t) => {
  // Records hold 48 bits; a write adds one to the context's counter, so 2^48 - 1 leaves it no room.
  t.equal(decodeContext(token([['a~1', 2 ** 48 - 2]]), KEY).get('a~1'), 2 ** 48 - 2, 'up to 2^48 - 2 at decode (the write judges above 2^47)');
  t.throws(() => decodeContext(token([['a~1', 2 ** 48 - 1]]), KEY), { code: 'KV_BAD_CONTEXT', message: /2\^48 - 2/ }, 'a counter at the limit');
  t.throws(() => decodeContext(token([['a~1', 2 ** 48]]), KEY), { code: 'KV_BAD_CONTEXT' }, 'past the limit');
  t.throws(
    () =>
      decodeContext(
        token([
          ['a~1', 1],
          ['a~1', 2],
        ]),
        KEY,
      ),
    { code: 'KV_BAD_CONTEXT' },
    'one actor twice',
  );
  t.throws(() => decodeContext(token([['x'.repeat(513), 1]]), KEY), { code: 'KV_BAD_CONTEXT' }, 'an actor too long to be a node');
  t.throws(() => decodeContext(token([['', 1]]), KEY), { code: 'KV_BAD_CONTEXT' }, 'an empty actor');
});

t.test('a context belongs to the key it was read for', async (t) => {
  const clock = vv([
    ['n1~a', 3],
    ['n2~b', 1],
  ]);
  const forA = encodeContext(Buffer.from('a'), clock);
  t.same(vectorEntries(decodeContext(forA, Buffer.from('a'))), vectorEntries(clock), 'taken on its own key');
  for (const other of [Buffer.from('b'), Buffer.from('A'), Buffer.from('a '), Buffer.from('a\u0000'), Buffer.alloc(0)]) {
    t.throws(() => decodeContext(forA, other), { code: 'KV_BAD_CONTEXT', message: /read for another key/ }, `refused on ${JSON.stringify(other.toString())}`);
  }
  t.not(encodeContext(Buffer.from('b'), clock), forA, 'the same clock read for another key is another token');
  t.equal(JSON.parse(Buffer.from(forA, 'base64url').toString())[0], hash('sha256', 'a', 'hex').slice(0, 16), 'the tag: 8 bytes of SHA-256 of the key, in hex');
});

t.test('the tag is over the key bytes: UTF-8 text and its base64 spelling are one key', async (t) => {
  const text = 'nœud-é-😀';
  const fromUtf8 = Buffer.from(text, 'utf8');
  const fromBase64 = Buffer.from(Buffer.from(text, 'utf8').toString('base64'), 'base64');
  t.equal(contextTag(fromUtf8), contextTag(fromBase64));
  const tok = encodeContext(fromUtf8, vv([['n1~a', 2]]));
  t.equal(decodeContext(tok, fromBase64).get('n1~a'), 2);
  const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80]);
  t.equal(decodeContext(encodeContext(binary, vv([['n1~a', 5]])), Buffer.from(binary)).get('n1~a'), 5, 'a key that is not UTF-8');
});
