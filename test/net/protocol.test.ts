import t from 'tap';
import { contextTag, EMPTY_CONTEXT, encodeContext, vectorEntries } from '../../src/clock/index.js';
import { defaultLimits, type Limits, MAX_REPLICAS } from '../../src/config.js';
import { KvError } from '../../src/errors.js';
import { isOp, parseRequest, requestIdOf } from '../../src/net/protocol.js';
import { encodeBytes, replyEncoding } from '../../src/protocol/client.js';

const line = (x: unknown): Buffer => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x), 'utf8');
/** The parsed request with its id, flat (as the tests compare them). */
const parse = (x: unknown, limits: Limits = defaultLimits) => {
  const { id, request } = parseRequest(line(x), limits);
  return { id, ...request };
};

/** The error a parse throws, or undefined when it parses. */
function errorOf(input: Buffer, limits: Limits = defaultLimits): KvError | undefined {
  try {
    parseRequest(input, limits);
  } catch (err) {
    return err as KvError;
  }
  return undefined;
}

/** A context as a get of `key` returns it. */
const contextOf = (key: string) =>
  encodeContext(
    Buffer.from(key),
    new Map([
      ['n1', 3],
      ['n2', 1],
    ]),
  );

t.test('valid requests', async (t) => {
  t.same(parse({ id: 1, op: 'ping' }), { id: 1, op: 'ping' });
  t.same(parse({ op: 'stats', id: 'abc' }), { id: 'abc', op: 'stats' });
  t.same(parse({ op: 'ping' }), { id: null, op: 'ping' }, 'id defaults to null');
  t.same(parse({ op: 'ping', id: null }), { id: null, op: 'ping' });
  t.same(parse({ op: 'ping', id: 0 }), { id: 0, op: 'ping' });

  const put = parse({ id: 7, op: 'put', key: 'user:1', value: 'héllo', context: contextOf('user:1'), w: 2 });
  t.equal(put.op, 'put');
  if (put.op === 'put') {
    t.equal(put.key.toString('utf8'), 'user:1');
    t.ok(put.value.equals(Buffer.from('héllo', 'utf8')), 'value as UTF-8 bytes');
    t.same(vectorEntries(put.context!), [
      ['n1', 3],
      ['n2', 1],
    ]);
    t.equal(put.w, 2);
    t.equal(put.encoding, 'utf8');
  }
  const bare = parse({ op: 'put', key: 'k', value: '' });
  if (bare.op === 'put') {
    t.equal(bare.context, undefined, 'no context');
    t.equal(bare.w, undefined, 'no w');
    t.equal(bare.value.length, 0, 'an empty value is allowed');
  }
  const emptyCtx = parse({ op: 'put', key: 'k', value: 'v', context: EMPTY_CONTEXT });
  if (emptyCtx.op === 'put') {
    t.equal(emptyCtx.context?.size, 0, 'the context of a missing key is the empty context');
    t.equal(emptyCtx.keepSiblings, false);
  }
  t.throws(() => parse({ op: 'put', key: 'k', value: 'v', context: '' }), { code: 'KV_BAD_CONTEXT' }, "'' is not a context");
  const keep = parse({ op: 'put', key: 'k', value: 'v', keepSiblings: true });
  if (keep.op === 'put') t.equal(keep.keepSiblings, true, 'keepSiblings asks for the add-a-sibling write');
  t.throws(() => parse({ op: 'put', key: 'k', value: 'v', keepSiblings: 'yes' }), { code: 'KV_BAD_REQUEST' }, 'keepSiblings is a boolean');
  t.throws(
    () => parse({ op: 'put', key: 'k', value: 'v', context: contextOf('k'), keepSiblings: true }),
    { code: 'KV_BAD_REQUEST' },
    'a context already says what is superseded',
  );
  t.throws(() => parse({ op: 'delete', key: 'k', keepSiblings: true }), { code: 'KV_BAD_REQUEST' }, 'a delete always supersedes what it sees');

  const get = parse({ id: 'g', op: 'get', key: 'k', r: 3 });
  t.same(get, { id: 'g', op: 'get', key: Buffer.from('k'), r: 3, encoding: 'utf8' });

  const del = parse({ op: 'delete', key: 'k', context: contextOf('k') });
  t.equal(del.op, 'delete');
  if (del.op === 'delete') {
    t.equal(del.key.toString(), 'k');
    t.equal(del.context?.get('n1'), 3);
    t.equal(del.w, undefined);
  }

  const bin = parse({ op: 'put', key: 'AAH/', value: '3q2+7w==', encoding: 'base64' });
  if (bin.op === 'put') {
    t.same([...bin.key], [0x00, 0x01, 0xff]);
    t.same([...bin.value], [0xde, 0xad, 0xbe, 0xef]);
    t.equal(bin.encoding, 'base64');
  }
  const binCtx = parse({ op: 'delete', key: Buffer.from('user:1').toString('base64'), encoding: 'base64', context: contextOf('user:1') });
  if (binCtx.op === 'delete') t.equal(binCtx.context?.get('n1'), 3, 'a context read in UTF-8 is taken with the key in base64: the same bytes');
  t.throws(
    () => parse({ op: 'put', key: 'user:2', value: 'v', context: contextOf('user:1') }),
    { code: 'KV_BAD_CONTEXT', message: /read for another key/ },
    "another key's context is refused",
  );
  t.same(parse({ op: 'get', key: 'k', encoding: 'utf8' }), { id: null, op: 'get', key: Buffer.from('k'), r: undefined, encoding: 'utf8' });
  t.ok(parse('  {"op":"ping"}  '), 'surrounding whitespace is fine');
});

t.test('each bad input yields its code', async (t) => {
  const cases: [string, Buffer, string][] = [
    ['invalid UTF-8 byte', Buffer.concat([line('{"op":"get","key":"'), Buffer.from([0xff]), line('"}')]), 'KV_BAD_ENCODING'],
    ['overlong UTF-8', Buffer.concat([line('{"op":"get","key":"'), Buffer.from([0xc0, 0xaf]), line('"}')]), 'KV_BAD_ENCODING'],
    ['UTF-8-encoded surrogate', Buffer.concat([line('{"op":"get","key":"'), Buffer.from([0xed, 0xa0, 0x80]), line('"}')]), 'KV_BAD_ENCODING'],
    ['truncated UTF-8 sequence', Buffer.concat([line('{"op":"ping"}'), Buffer.from([0xe2, 0x82])]), 'KV_BAD_ENCODING'],
    ['malformed JSON', line('{"op":"ping"'), 'KV_BAD_JSON'],
    ['not JSON at all', line('ping'), 'KV_BAD_JSON'],
    ['trailing garbage', line('{"op":"ping"} x'), 'KV_BAD_JSON'],
    ['JSON array', line('[{"op":"ping"}]'), 'KV_BAD_JSON'],
    ['JSON string', line('"ping"'), 'KV_BAD_JSON'],
    ['JSON number', line('42'), 'KV_BAD_JSON'],
    ['JSON null', line('null'), 'KV_BAD_JSON'],
    ['JSON true', line('true'), 'KV_BAD_JSON'],
    ['unknown op', line({ op: 'explode' }), 'KV_UNKNOWN_OP'],
    ['op in the wrong case', line({ op: 'PUT', key: 'k', value: 'v' }), 'KV_UNKNOWN_OP'],
    ['op named like an Object.prototype member', line({ op: 'toString' }), 'KV_UNKNOWN_OP'],
    ['op named hasOwnProperty', line({ op: 'hasOwnProperty' }), 'KV_UNKNOWN_OP'],
    ['missing op', line({ id: 1 }), 'KV_BAD_REQUEST'],
    ['op not a string', line({ op: 1 }), 'KV_BAD_REQUEST'],
    ['id an object', line({ op: 'ping', id: {} }), 'KV_BAD_REQUEST'],
    ['id a boolean', line({ op: 'ping', id: true }), 'KV_BAD_REQUEST'],
    ['key a number', line({ op: 'get', key: 1 }), 'KV_BAD_REQUEST'],
    ['key missing', line({ op: 'get' }), 'KV_BAD_REQUEST'],
    ['key null', line({ op: 'get', key: null }), 'KV_BAD_REQUEST'],
    ['value missing on put', line({ op: 'put', key: 'k' }), 'KV_BAD_REQUEST'],
    ['value an object', line({ op: 'put', key: 'k', value: { a: 1 } }), 'KV_BAD_REQUEST'],
    ['value null', line({ op: 'put', key: 'k', value: null }), 'KV_BAD_REQUEST'],
    ['context a number', line({ op: 'put', key: 'k', value: 'v', context: 5 }), 'KV_BAD_REQUEST'],
    ['encoding unknown', line({ op: 'get', key: 'k', encoding: 'hex' }), 'KV_BAD_REQUEST'],
    ['encoding null', line({ op: 'get', key: 'k', encoding: null }), 'KV_BAD_REQUEST'],
    ['unknown field on ping', line({ op: 'ping', extra: 1 }), 'KV_BAD_REQUEST'],
    ['value on get', line({ op: 'get', key: 'k', value: 'v' }), 'KV_BAD_REQUEST'],
    ['w on get', line({ op: 'get', key: 'k', w: 1 }), 'KV_BAD_REQUEST'],
    ['r on put', line({ op: 'put', key: 'k', value: 'v', r: 1 }), 'KV_BAD_REQUEST'],
    ['value on delete', line({ op: 'delete', key: 'k', value: 'v' }), 'KV_BAD_REQUEST'],
    ['field __proto__', line('{"op":"ping","__proto__":{"polluted":true}}'), 'KV_BAD_REQUEST'],
    ['field __proto__ on put', line('{"op":"put","key":"k","value":"v","__proto__":{"w":1}}'), 'KV_BAD_REQUEST'],
    ['field constructor', line({ op: 'get', key: 'k', constructor: { prototype: { polluted: true } } }), 'KV_BAD_REQUEST'],
    ['field prototype', line({ op: 'get', key: 'k', prototype: { polluted: true } }), 'KV_BAD_REQUEST'],
    ['only __proto__', line('{"__proto__":{"op":"ping"}}'), 'KV_BAD_REQUEST'],
    ['empty key', line({ op: 'get', key: '' }), 'KV_EMPTY_KEY'],
    ['empty key in base64', line({ op: 'delete', key: '', encoding: 'base64' }), 'KV_EMPTY_KEY'],
    ['key one byte over', line({ op: 'get', key: 'k'.repeat(defaultLimits.maxKeyBytes + 1) }), 'KV_KEY_TOO_LARGE'],
    ['key over in bytes, not characters', line({ op: 'get', key: 'é'.repeat(defaultLimits.maxKeyBytes / 2 + 1) }), 'KV_KEY_TOO_LARGE'],
    ['value one byte over', line({ op: 'put', key: 'k', value: 'v'.repeat(defaultLimits.maxValueBytes + 1) }), 'KV_VALUE_TOO_LARGE'],
    [
      'base64 value one byte over after decoding',
      line({ op: 'put', key: 'aw==', value: Buffer.alloc(defaultLimits.maxValueBytes + 1).toString('base64'), encoding: 'base64' }),
      'KV_VALUE_TOO_LARGE',
    ],
    ['bad base64 character', line({ op: 'get', key: 'ab!d', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['base64 missing padding', line({ op: 'get', key: 'YWI', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['base64url alphabet', line({ op: 'get', key: 'a-_b', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['base64 with whitespace', line({ op: 'get', key: 'YW Jj', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['base64 padding in the middle', line({ op: 'get', key: 'YQ==YQ==', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['bad base64 value', line({ op: 'put', key: 'aw==', value: '%%%%', encoding: 'base64' }), 'KV_BAD_ENCODING'],
    ['lone high surrogate in key', line('{"op":"get","key":"a\\ud800b"}'), 'KV_BAD_ENCODING'],
    ['lone low surrogate in value', line('{"op":"put","key":"k","value":"\\udc00"}'), 'KV_BAD_ENCODING'],
    ['surrogates in the wrong order', line('{"op":"put","key":"k","value":"\\ude00\\ud83d"}'), 'KV_BAD_ENCODING'],
    ['bad context', line({ op: 'put', key: 'k', value: 'v', context: 'garbage!!' }), 'KV_BAD_CONTEXT'],
    [
      'bad context on delete',
      line({ op: 'delete', key: 'k', context: Buffer.from(`["${contextTag(Buffer.from('k'))}",[["a",0]]]`).toString('base64url') }),
      'KV_BAD_CONTEXT',
    ],
    ['context of another key', line({ op: 'delete', key: 'k', context: contextOf('k2') }), 'KV_BAD_CONTEXT'],
    ['w of 0', line({ op: 'put', key: 'k', value: 'v', w: 0 }), 'KV_BAD_REQUEST'],
    ['w negative', line({ op: 'put', key: 'k', value: 'v', w: -1 }), 'KV_BAD_REQUEST'],
    ['w fractional', line({ op: 'put', key: 'k', value: 'v', w: 1.5 }), 'KV_BAD_REQUEST'],
    ['w a string', line({ op: 'put', key: 'k', value: 'v', w: '2' }), 'KV_BAD_REQUEST'],
    ['w null', line({ op: 'delete', key: 'k', w: null }), 'KV_BAD_REQUEST'],
    ['w huge exponent', line('{"op":"put","key":"k","value":"v","w":1e400}'), 'KV_BAD_REQUEST'],
    ['r of 0', line({ op: 'get', key: 'k', r: 0 }), 'KV_BAD_REQUEST'],
    ['r negative', line({ op: 'get', key: 'k', r: -3 }), 'KV_BAD_REQUEST'],
    ['r fractional', line({ op: 'get', key: 'k', r: 2.5 }), 'KV_BAD_REQUEST'],
  ];
  for (const [name, input, code] of cases) {
    const err = errorOf(input);
    t.ok(err instanceof KvError, `${name}: throws a KvError`);
    t.equal(err?.code, code, `${name}: ${code}`);
  }
});

t.test('a field given twice in any object is refused, naming the field', async (t) => {
  const k = (s: string) => Buffer.from(s).toString('base64');
  const record = '{"clock":[["a~1",1]],"siblings":[["a~1",1,5,0,"dg=="]]}';
  const twice = '{"clock":[["a~1",1]],"clock":[],"siblings":[]}';
  const cases: [name: string, text: string, field: string, id: string | number | null][] = [
    ['op twice (the last would win)', '{"id":1,"op":"ping","op":"leave"}', 'op', 1],
    ['key twice on a put', '{"id":2,"op":"put","key":"a","value":"v","key":"b"}', 'key', 2],
    ['context twice', `{"id":3,"op":"delete","key":"k","context":"W10","context":"W10"}`, 'context', 3],
    ['op spelt with an escape the second time', '{"id":4,"op":"ping","o\u0070":"leave"}', 'op', 4],
    ['id twice: no id to answer with', '{"id":5,"op":"ping","id":6}', 'id', null],
    ['a name twice in a record inside a peer message', `{"id":7,"op":"kv.replicate","key":"${k('a')}","record":${twice}}`, 'clock', 7],
    [
      'a name twice in the second item of a batch',
      `{"id":8,"op":"kv.replicate.many","items":[{"key":"${k('a')}","record":${record}},{"key":"${k('b')}","record":${record},"key":"${k('c')}"}]}`,
      'key',
      8,
    ],
  ];
  for (const [name, text, field, id] of cases) {
    const err = errorOf(line(text));
    t.equal(err?.code, 'KV_BAD_REQUEST', `${name}: KV_BAD_REQUEST`);
    t.match(err?.message, `"${field}" twice`, `${name}: names the field`);
    t.same(err?.details, { field }, `${name}: field in details`);
    t.equal(requestIdOf(err), id, `${name}: id`);
  }
  t.equal(errorOf(line('{"id":9,"op":"put","key":"k","value":"\\"op\\":\\"leave\\",\\"op\\":1"}')), undefined, 'repeated names inside a value are bytes');
  t.notMatch(
    errorOf(line(`{"op":"kv.replicate.many","items":[{"key":"${k('a')}","record":${record}},{"key":"${k('b')}","record":${record}}]}`))?.message,
    /twice/,
    'the same names in sibling objects are no repeat',
  );
});

t.test('field-name attacks do not pollute Object.prototype', async (t) => {
  const probes = [
    '{"op":"ping","__proto__":{"polluted":"yes"}}',
    '{"__proto__":{"polluted":"yes"},"op":"put","key":"k","value":"v"}',
    '{"op":"get","key":"k","constructor":{"prototype":{"polluted":"yes"}}}',
    '{"op":"get","key":"k","prototype":{"polluted":"yes"}}',
  ];
  for (const p of probes) t.equal(errorOf(line(p))?.code, 'KV_BAD_REQUEST', p);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no property leaked onto Object.prototype');
  t.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
  // And no field smuggled through __proto__ reaches the request.
  const err = errorOf(line('{"op":"get","key":"k","__proto__":{"r":0}}'));
  t.equal(err?.code, 'KV_BAD_REQUEST');
  t.match(err?.message, /__proto__/);
});

t.test('__proto__ and friends as data are ordinary bytes', async (t) => {
  for (const word of ['__proto__', 'constructor', 'prototype']) {
    const put = parse({ id: 1, op: 'put', key: word, value: word });
    t.equal(put.op, 'put');
    if (put.op === 'put') {
      t.equal(put.key.toString('utf8'), word, `${word} as a key round-trips`);
      t.equal(put.value.toString('utf8'), word, `${word} as a value round-trips`);
      t.ok(Buffer.isBuffer(put.key), 'as bytes');
    }
    const get = parse({ op: 'get', key: word });
    if (get.op === 'get') t.ok(get.key.equals(Buffer.from(word)));
  }
  t.same(parse({ op: 'ping', id: '__proto__' }), { id: '__proto__', op: 'ping' }, '__proto__ as an id');
});

t.test('limits: exactly at the limit passes', async (t) => {
  const atKey = parse({ op: 'get', key: 'k'.repeat(defaultLimits.maxKeyBytes) });
  if (atKey.op === 'get') t.equal(atKey.key.length, defaultLimits.maxKeyBytes);
  const multibyte = parse({ op: 'get', key: 'é'.repeat(defaultLimits.maxKeyBytes / 2) });
  if (multibyte.op === 'get') t.equal(multibyte.key.length, defaultLimits.maxKeyBytes, 'é is two bytes');
  const atValue = parse({ op: 'put', key: 'k', value: 'v'.repeat(defaultLimits.maxValueBytes) });
  if (atValue.op === 'put') t.equal(atValue.value.length, defaultLimits.maxValueBytes);
  const small: Limits = { ...defaultLimits, maxKeyBytes: 3, maxValueBytes: 4 };
  t.equal(errorOf(line({ op: 'put', key: 'abcd', value: 'v' }), small)?.code, 'KV_KEY_TOO_LARGE', 'limits come from the argument');
  t.equal(errorOf(line({ op: 'put', key: 'abc', value: 'vvvvv' }), small)?.code, 'KV_VALUE_TOO_LARGE');
  t.ok(parse({ op: 'put', key: 'abc', value: 'vvvv' }, small));
  const err = errorOf(line({ op: 'put', key: 'abcd', value: 'v' }), small);
  t.same(err?.details, { bytes: 4, limit: 3 }, 'details carry bytes and limit');
});

t.test('requestIdOf recovers the id when it was parseable', async (t) => {
  const cases: [string, Buffer, string | number | null][] = [
    ['numeric id, unknown op', line({ id: 7, op: 'nope' }), 7],
    ['string id, bad field', line({ id: 'req-1', op: 'ping', extra: true }), 'req-1'],
    ['id 0', line({ id: 0, op: 'get', key: '' }), 0],
    ['empty string id', line({ id: '', op: 'get', key: '' }), ''],
    ['id with bad context', line({ id: 9, op: 'put', key: 'k', value: 'v', context: 'xx' }), 9],
    ['id with a too-large value', line({ id: 10, op: 'put', key: 'k', value: 'v'.repeat(defaultLimits.maxValueBytes + 1) }), 10],
    ['id with __proto__ field', line('{"id":11,"op":"ping","__proto__":{}}'), 11],
    ['id with a lone surrogate', line('{"id":12,"op":"get","key":"\\ud800"}'), 12],
    ['no id', line({ op: 'nope' }), null],
    ['malformed JSON', line('{"id":5,'), null],
    ['not UTF-8', Buffer.concat([line('{"id":5,"op":"'), Buffer.from([0xff]), line('"}')]), null],
    ['id of the wrong type', line({ id: [1], op: 'ping' }), null],
  ];
  for (const [name, input, want] of cases) {
    const err = errorOf(input);
    t.ok(err, `${name}: throws`);
    t.equal(requestIdOf(err), want, name);
  }
  t.equal(requestIdOf(new Error('x')), null, 'a plain error has no id');
});

t.test('isOp', async (t) => {
  for (const op of ['ping', 'stats', 'put', 'get', 'delete']) t.ok(isOp(op), op);
  for (const op of ['toString', '__proto__', 'constructor', 'PING', '', 1, null, undefined]) t.notOk(isOp(op), String(op));
});

t.test('encodeBytes and replyEncoding', async (t) => {
  const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  t.equal(encodeBytes(bytes, 'base64'), '3q2+7w==');
  t.equal(encodeBytes(Buffer.from('héllo'), 'utf8'), 'héllo');
  t.equal(replyEncoding([Buffer.from('a'), Buffer.from('é')], 'utf8'), 'utf8');
  t.equal(replyEncoding([Buffer.from('a'), bytes], 'utf8'), 'base64', 'one non-UTF-8 value switches all to base64');
  t.equal(replyEncoding([Buffer.from('a')], 'base64'), 'base64', 'base64 when asked');
  t.equal(replyEncoding([], 'utf8'), 'utf8');
  // UTF-8 is kept while escaping costs less than base64 would, each value within its slack.
  const kib = (fill: string) => Buffer.from(fill.repeat(1024).slice(0, 1024));
  t.equal(replyEncoding([kib('plain text ')], 'utf8'), 'utf8', 'nothing to escape');
  t.equal(replyEncoding([kib('"q"\\')], 'utf8'), 'base64', 'quotes and backslashes (2 bytes each once escaped) cost more than base64');
  t.equal(replyEncoding([kib('\u0001')], 'utf8'), 'base64', 'control characters (6 bytes each once escaped)');
  const fewEscapes = Buffer.concat([kib('x'), Buffer.from('\n'.repeat(300))]);
  t.equal(replyEncoding([fewEscapes], 'utf8'), 'utf8', "300 newlines in 1,324 bytes: 300 extra bytes, under base64's 444 plus slack");
  const manyEscapes = Buffer.concat([kib('x'), Buffer.from('\n'.repeat(700))]);
  t.equal(replyEncoding([manyEscapes], 'utf8'), 'base64', "700 newlines in 1,724 bytes: 700 extra bytes, over base64's 576 plus slack");
  const lateEscapes = Buffer.concat([Buffer.alloc(70_000, 0x61), Buffer.alloc(30_000, 0x01)]);
  t.equal(replyEncoding([lateEscapes], 'utf8'), 'base64', 'escapes past the first 64 KiB are counted too');
  // A base64 round trip through the parser.
  const req = parse({ op: 'put', key: encodeBytes(bytes, 'base64'), value: encodeBytes(bytes, 'base64'), encoding: 'base64' });
  if (req.op === 'put') t.ok(req.key.equals(bytes) && req.value.equals(bytes));
});

t.test('node-to-node ops are not taken as lines: they travel in binary frames after the peer handshake (net/peer-frames.ts)', async (t) => {
  const k = Buffer.from('a').toString('base64');
  for (const body of [
    { op: 'kv.replicate.many', items: [{ key: k, record: { clock: [], siblings: [] } }] },
    { op: 'kv.clocks', keys: [k] },
    { op: 'kv.read', key: k },
  ]) {
    const err = errorOf(line({ id: 3, ...body }));
    t.equal(err?.code, 'KV_BAD_REQUEST', `${body.op}: refused`);
    t.match(err?.message, new RegExp(`op ${body.op.replace('.', '\\.')} travels between nodes in binary frames`), 'saying how it travels');
    t.equal(requestIdOf(err), 3, 'with its id');
  }
  t.ok(isOp('kv.replicate.many'), 'the op is known (a client is told it is forbidden, not unknown)');
});

t.test('cluster.set: whole numbers 1..MAX_REPLICAS and a known consistency, at least one of them', async (t) => {
  const ok = parse({ op: 'cluster.set', n: 3, consistency: 'sloppy' });
  if (ok.op === 'cluster.set') t.same(ok.settings, { n: 3, consistency: 'sloppy' });
  const codeOf = (x: unknown) => errorOf(line(x))?.code;
  t.equal(codeOf({ op: 'cluster.set' }), 'KV_BAD_REQUEST', 'nothing to set');
  t.equal(codeOf({ op: 'cluster.set', n: 0 }), 'KV_BAD_REQUEST');
  t.equal(codeOf({ op: 'cluster.set', n: MAX_REPLICAS + 1 }), 'KV_BAD_REQUEST');
  t.equal(codeOf({ op: 'cluster.set', w: 1.5 }), 'KV_BAD_REQUEST');
  t.equal(codeOf({ op: 'cluster.set', r: '2' }), 'KV_BAD_REQUEST');
  t.equal(codeOf({ op: 'cluster.set', consistency: 'eventual' }), 'KV_BAD_REQUEST');
  t.equal(codeOf({ op: 'cluster.set', n: 3, version: 9 }), 'KV_BAD_REQUEST', "the version is the node's to choose");
});
