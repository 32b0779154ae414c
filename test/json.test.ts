/** JSON from outside: the object check, and the scan for a field name given twice in one object. */
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { isJsonObject, type RepeatedField, repeatedFieldName } from '../src/json.js';
import { seededRandom } from './helpers/random.js';

const scan = (text: string): RepeatedField | undefined => {
  JSON.parse(text); // the scan is defined on text JSON.parse accepts
  return repeatedFieldName(Buffer.from(text, 'utf8'));
};

t.test('isJsonObject', async (t) => {
  t.ok(isJsonObject({}));
  for (const x of [null, [], 'x', 1, true, undefined]) t.notOk(isJsonObject(x), JSON.stringify(x) ?? 'undefined');
});

t.test('a name given twice at the top level', async (t) => {
  t.same(scan('{"id":1,"op":"ping","op":"leave"}'), { name: 'op', depth: 0 });
  t.same(scan('{"id":1,"id":2}'), { name: 'id', depth: 0 });
  t.same(scan(' { "a" : 1 , "b" : [ ] , "a" : null } '), { name: 'a', depth: 0 }, 'whitespace anywhere');
  t.same(scan('{"a":{},"a":{}}'), { name: 'a', depth: 0 }, 'whatever the values');
});

t.test('a name given twice in a nested object, inside arrays', async (t) => {
  const record = '{"clock":[["a~1",1]],"siblings":[],"clock":[]}';
  t.same(scan(`{"op":"kv.replicate.many","items":[{"key":"aw==","record":{"clock":[],"siblings":[]}},{"key":"aw==","record":${record}}]}`), {
    name: 'clock',
    depth: 3,
  });
  t.same(scan('{"a":[[[{"x":1,"y":2,"x":3}]]]}'), { name: 'x', depth: 4 }, 'arrays count as depth too');
});

t.test('names are compared as JSON.parse reads them: escapes decoded', async (t) => {
  t.same(scan('{"op":"ping","o\\u0070":"leave"}'), { name: 'op', depth: 0 });
  t.same(scan('{"\\u006f\\u0070":"ping","op":"leave"}'), { name: 'op', depth: 0 });
  t.same(scan('{"a\\"b":1,"a\\u0022b":2}'), { name: 'a"b', depth: 0 }, 'an escaped quote inside a name');
  t.same(scan('{"\\\\":1,"\\u005c":2}'), { name: '\\', depth: 0 }, 'a name that is one backslash');
  t.same(scan('{"é":1,"\\u00e9":2}'), { name: 'é', depth: 0 }, 'UTF-8 bytes and a \\u escape name one character');
  t.same(scan('{"\\ud83d\\ude00":1,"😀":2}'), { name: '😀', depth: 0 }, 'a surrogate pair and its UTF-8 bytes');
  t.equal(scan('{"op":1,"Op":2,"op ":3,"o\\u0071":4}'), undefined, 'names that differ are different');
});

t.test('an object with many names, or a long name, is checked as well', async (t) => {
  const many = Array.from({ length: 40 }, (_, i) => `"name${i}":${i}`);
  t.equal(scan(`{${many.join(',')}}`), undefined, '40 different names');
  t.same(scan(`{${many.join(',')},"name3":0}`), { name: 'name3', depth: 0 }, 'the 41st repeats the 4th');
  t.same(scan(`{${many.slice(0, 20).join(',')},"n\\u0061me19":0}`), { name: 'name19', depth: 0 }, 'escaped, past the bytes-compared names');
  const long = 'x'.repeat(100);
  t.same(scan(`{"${long}":1,"a":2,"${long}":3}`), { name: long, depth: 0 }, 'a 100-byte name');
  t.equal(scan(`{"${long}":1,"${long}y":2}`), undefined, 'long names that differ in the last byte');
  t.same(scan('{"a":1,"b":{"c":1},"a":2}'), { name: 'a', depth: 0 }, 'a nested object does not hide the names before it');
});

t.test('the same name in sibling or nested objects is fine', async (t) => {
  t.equal(scan('{"items":[{"key":"a","record":1},{"key":"b","record":2}]}'), undefined);
  t.equal(scan('{"a":{"a":{"a":1}},"b":{"a":2}}'), undefined);
  t.equal(scan('{"a":[{"k":1}],"k":2}'), undefined, 'a name inside a closed object does not count for its parent');
  t.equal(scan('{}'), undefined);
  t.equal(scan('{"a":{},"b":[],"c":[{}],"d":""}'), undefined);
});

t.test('strings holding quotes, backslashes and punctuation do not confuse the scan', async (t) => {
  t.equal(scan('{"value":"\\"op\\":1,\\"op\\":2","op":"put"}'), undefined, 'a value that looks like repeated fields');
  t.equal(scan('{"value":"{\\"a\\":1,\\"a\\":2}","a":1}'), undefined, 'braces and colons in a value');
  t.equal(scan('{"value":"\\\\","op":"put"}'), undefined, 'a value ending in an escaped backslash');
  t.equal(scan('{"value":"\\\\\\"","op":"put"}'), undefined, 'an escaped backslash then an escaped quote');
  t.same(scan('{"value":"\\\\\\\\","value":"x"}'), { name: 'value', depth: 0 }, 'two escaped backslashes end the string');
  t.equal(scan(`{"value":"${'x\\"'.repeat(20)}","op":"put"}`), undefined, 'a long value with escaped quotes (past the short scan)');
  t.same(scan(`{"value":"${'\\\\'.repeat(40)}","op":"put","value":1}`), { name: 'value', depth: 0 }, 'a long run of escaped backslashes');
  t.equal(scan('{"a":[",","}","]","{","[",":"],"b":"\\u0022"}'), undefined, 'punctuation as strings in arrays');
  t.same(scan(`{"value":"${'A'.repeat(1 << 20)}","key":"k","value":"B"}`), { name: 'value', depth: 0 }, 'after a 1 MiB value');
});

/**
 * Random documents built with and without repeated names, each name written plainly or with
 * escapes; the expected answer comes from the tree (the first name met again in its own object,
 * in text order), the document from text written here.
 */
t.test('random documents: the scan finds exactly the first repeated name', async (t) => {
  const seed = 20_261_201;
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  // Past 16 names an object's names are compared as strings, not bytes: some objects get that many.
  const NAMES = ['op', 'id', 'key', 'a"b', 'back\\slash', 'é', '{', ':', ',', ...Array.from({ length: 30 }, (_, i) => `n${i}`)];
  const STRINGS = ['', 'plain', '"', '\\', '{"op":1}', 'a\\"b', ':,[]{}', 'é😀'];

  /** One spelling of `text` as a JSON string: plain (JSON.stringify) or every UTF-16 unit as a \u escape. */
  const spell = (text: string) =>
    random() < 0.5 ? JSON.stringify(text) : `"${Array.from({ length: text.length }, (_, i) => unicodeEscape(text.charCodeAt(i))).join('')}"`;
  const unicodeEscape = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;

  let expected: RepeatedField | undefined;
  const value = (depth: number): string => {
    const r = random();
    if (depth > 3 || r < 0.3) return pick(['1', '-2.5e3', 'true', 'null', spell(pick(STRINGS))]);
    if (r < 0.55) return `[${Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1)).join(',')}]`;
    return object(depth);
  };
  const object = (depth: number): string => {
    const seen = new Set<string>();
    const parts: string[] = [];
    const count = random() < 0.05 ? 15 + Math.floor(random() * 10) : Math.floor(random() * 5);
    for (let i = 0; i < count; i++) {
      const name = random() < 0.1 && seen.size > 0 ? pick([...seen]) : pick(NAMES.filter((n) => !seen.has(n)));
      if (name === undefined) break;
      if (seen.has(name)) expected ??= { name, depth };
      seen.add(name);
      // The name is written before its value, so a repeat here comes first in text order.
      const spelled = spell(name);
      parts.push(`${spelled}:${value(depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  };

  const runs = 2000;
  let repeated = 0;
  let run = 0;
  for (; run < runs; run++) {
    expected = undefined;
    const text = object(0);
    const found = scan(text);
    if (!isDeepStrictEqual(found, expected)) {
      t.same(found, expected, `seed ${seed}, run ${run}: ${text}`);
      break;
    }
    if (found) repeated++;
  }
  t.equal(run, runs, `every document scanned as expected (seed ${seed})`);
  t.ok(repeated > 100, `documents with a repeated name were made (${repeated})`);
});
