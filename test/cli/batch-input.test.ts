/**
 * The pure parts of `--stdin` batch mode: an input line becomes a request or a refusal of that
 * line alone, and a request line is checked against the daemon's line limit in bytes, as sent.
 */
import t from 'tap';
import { BATCH_FIELDS, inputLineTooLong, parseBatchLine } from '../../src/cli/batch-input.js';
import { lineBytesOverLimit } from '../../src/net/line-connection.js';

const parse = (op: 'put' | 'get' | 'delete', text: string | Buffer, defaults: Record<string, unknown> = {}) =>
  parseBatchLine(op, Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), 7, defaults);

t.test('a good line becomes a request; its fields override the defaults', async (t) => {
  t.same(parse('put', '{"key":"a","value":"b","w":2}', { w: 1, consistency: 'sloppy' }), {
    line: 7,
    key: 'a',
    request: { op: 'put', w: 2, consistency: 'sloppy', key: 'a', value: 'b' },
  });
  t.same(parse('get', '{"key":"a","r":1,"encoding":"base64"}'), { line: 7, key: 'a', request: { op: 'get', key: 'a', r: 1, encoding: 'base64' } });
  t.same(parse('delete', '{"key":"a","keepSiblings":true}'), { line: 7, key: 'a', request: { op: 'delete', key: 'a', keepSiblings: true } });
  t.same(parse('put', '{"key":"a","value":"b","keepSiblings":false}'), {
    line: 7,
    key: 'a',
    request: { op: 'put', key: 'a', value: 'b', keepSiblings: false },
  });
});

t.test('a bad line is refused on its own, with its line number and a stable code', async (t) => {
  const cases: [string, 'put' | 'get' | 'delete', string | Buffer, string, string | undefined][] = [
    ['not JSON', 'put', 'not json', 'KV_BAD_JSON', undefined],
    ['truncated JSON', 'put', '{"key":"a","value":', 'KV_BAD_JSON', undefined],
    ['an array', 'put', '[1,2]', 'KV_BAD_JSON', undefined],
    ['a string', 'get', '"a"', 'KV_BAD_JSON', undefined],
    ['null', 'delete', 'null', 'KV_BAD_JSON', undefined],
    ['not UTF-8', 'put', Buffer.from([0x7b, 0xff, 0x7d]), 'KV_BAD_ENCODING', undefined],
    ['an unknown field', 'put', '{"key":"a","value":"b","contxt":"x"}', 'KV_BAD_REQUEST', 'contxt'],
    ['value on a get', 'get', '{"key":"a","value":"b"}', 'KV_BAD_REQUEST', 'value'],
    ['w on a get', 'get', '{"key":"a","w":1}', 'KV_BAD_REQUEST', 'w'],
    ['r on a put', 'put', '{"key":"a","value":"b","r":1}', 'KV_BAD_REQUEST', 'r'],
    ['keepSiblings on a get', 'get', '{"key":"a","keepSiblings":true}', 'KV_BAD_REQUEST', 'keepSiblings'],
    ['op is the command’s', 'put', '{"op":"delete","key":"a"}', 'KV_BAD_REQUEST', 'op'],
    ['an id', 'get', '{"id":1,"key":"a"}', 'KV_BAD_REQUEST', 'id'],
    ['__proto__', 'put', '{"key":"a","value":"b","__proto__":{"w":9}}', 'KV_BAD_REQUEST', '__proto__'],
    ['a field twice', 'put', '{"key":"a","value":"b","key":"c"}', 'KV_BAD_REQUEST', 'key'],
    ['a field twice, once escaped', 'delete', '{"key":"a","context":"W10","\\u0063ontext":"W10"}', 'KV_BAD_REQUEST', 'context'],
  ];
  for (const [name, op, text, code, field] of cases) {
    const parsed = parse(op, text);
    if (!('error' in parsed)) {
      t.fail(`${name}: refused`);
      continue;
    }
    t.equal(parsed.error.code, code, name);
    t.equal(parsed.line, 7, `${name}: line number`);
    t.equal(parsed.error.details?.line, 7, `${name}: line number in the details`);
    if (field) {
      t.equal(parsed.error.details?.field, field, `${name}: names the field`);
      t.match(parsed.error.message, `"${field}"`, `${name}: the message names the field`);
    }
  }
});

t.test('a refused line still echoes its key when it has one', async (t) => {
  t.equal(parse('put', '{"key":"k","value":"v","bogus":1}').key, 'k');
});

t.test('every op takes key, encoding and consistency; only writes take keepSiblings', async (t) => {
  for (const op of ['put', 'get', 'delete'] as const) {
    for (const field of ['key', 'encoding', 'consistency']) t.ok(BATCH_FIELDS[op].has(field), `${op} takes ${field}`);
  }
  t.ok(BATCH_FIELDS.put.has('keepSiblings') && BATCH_FIELDS.delete.has('keepSiblings'));
  t.notOk(BATCH_FIELDS.get.has('keepSiblings'));
});

t.test('an input line over the input limit is refused with its number', async (t) => {
  const { line, error } = inputLineTooLong(12, 5000, 4096) as { line: number; error: { code: string; details: Record<string, unknown> } };
  t.equal(line, 12);
  t.equal(error.code, 'KV_LINE_TOO_LONG');
  t.same(error.details, { line: 12, limit: 4096, bytesSeen: 5000 });
});

t.test('line-size check: UTF-8 bytes as sent, not characters', async (t) => {
  const cases: [string, string, number, number | undefined][] = [
    ['empty', '', 0, undefined],
    ['exactly at the limit', 'x'.repeat(100), 100, undefined],
    ['one byte over', 'x'.repeat(101), 100, 101],
    ['short enough to skip counting', 'x'.repeat(33), 100, undefined],
    ['2-byte characters: 50 fit in 100', 'é'.repeat(50), 100, undefined],
    ['2-byte characters: 51 do not', 'é'.repeat(51), 100, 102],
    ['3-byte characters: 34 are 102 bytes', '€'.repeat(34), 100, 102],
    ['emoji: 25 are 100 bytes', '😀'.repeat(25), 100, undefined],
    ['emoji: 26 are 104 bytes', '😀'.repeat(26), 100, 104],
    ['few characters, many bytes', `{"id":1,"value":"${'€'.repeat(40)}"}`, 100, 139],
  ];
  for (const [name, line, limit, want] of cases) {
    t.equal(lineBytesOverLimit(line, limit), want, name);
    t.equal(lineBytesOverLimit(line, limit) === undefined, Buffer.byteLength(line) <= limit, `${name}: agrees with Buffer.byteLength`);
  }
});
