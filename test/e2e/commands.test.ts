/**
 * put / get / delete through the real CLI against a real daemon: values from arguments and stdin,
 * binary safety, --json, siblings and --context, exit codes, and --stdin NDJSON batches.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { type Daemon, kvctl, startDaemon } from '../helpers/cli.js';

let daemon: Daemon;
t.before(async () => {
  daemon = await startDaemon(t);
});
const at = (...args: string[]) => [...args, '--addr', daemon.addr];

t.test('put then get prints exactly the value', async (t) => {
  t.equal((await kvctl(at('put', 'greeting', 'hello world'))).code, 0);
  const got = await kvctl(at('get', 'greeting'));
  t.equal(got.code, 0);
  t.equal(got.out, 'hello world', 'raw value, no decoration');
});

t.test('value from stdin, with - or omitted, binary-safe', async (t) => {
  const bytes = randomBytes(4096);
  t.equal((await kvctl(at('put', 'blob'), { input: bytes })).code, 0);
  const got = await kvctl(at('get', 'blob'));
  t.ok(got.stdout.equals(bytes), 'binary value round-trips byte for byte');
  t.equal((await kvctl(at('put', 'dash', '-'), { input: 'from stdin\n' })).code, 0);
  t.equal((await kvctl(at('get', 'dash'))).out, 'from stdin\n');
  const json = JSON.parse((await kvctl(at('get', 'blob', '--json'))).out);
  t.equal(json.encoding, 'base64');
  t.ok(Buffer.from(json.values[0], 'base64').equals(bytes));
});

t.test('keys are ordinary bytes, even __proto__ and unicode', async (t) => {
  for (const key of ['__proto__', 'constructor', 'prototype', 'ключ/🔑', 'with space']) {
    t.equal((await kvctl(at('put', key, `v:${key}`))).code, 0, key);
  }
  for (const key of ['__proto__', 'constructor', 'prototype', 'ключ/🔑', 'with space']) {
    t.equal((await kvctl(at('get', key))).out, `v:${key}`, key);
  }
});

t.test('missing key: exit 1, empty stdout; --json says found:false', async (t) => {
  const got = await kvctl(at('get', 'never-written'));
  t.equal(got.code, 1);
  t.equal(got.out, '');
  t.match(got.stderr, /key not found/);
  const json = await kvctl(at('get', 'never-written', '--json'));
  t.equal(json.code, 1);
  t.match(JSON.parse(json.out), { key: 'never-written', found: false, replicas: [daemon.name] });
});

t.test('delete hides the value; deleting again still succeeds', async (t) => {
  await kvctl(at('put', 'doomed', 'x'));
  const del = await kvctl(at('delete', 'doomed', '--json'));
  t.equal(del.code, 0);
  t.equal(JSON.parse(del.out).existed, true);
  t.equal((await kvctl(at('get', 'doomed'))).code, 1);
  const again = await kvctl(at('delete', 'doomed', '--json'));
  t.equal(again.code, 0);
  t.equal(JSON.parse(again.out).existed, false);
  t.equal((await kvctl(at('put', 'doomed', 'back'))).code, 0);
  t.equal((await kvctl(at('get', 'doomed'))).out, 'back', 'a put after a delete is visible alone');
});

t.test('--keep-siblings writes become siblings; a put with the context resolves them', async (t) => {
  await kvctl(at('put', 'doc', 'one'));
  const second = await kvctl(at('put', 'doc', 'two', '--keep-siblings', '--json'));
  t.equal(JSON.parse(second.out).siblings, 2);
  t.match(second.stderr, /2 concurrent values/);
  const both = await kvctl(at('get', 'doc', '--all'));
  t.equal(both.out, 'one\ntwo\n');
  const json = JSON.parse((await kvctl(at('get', 'doc', '--json'))).out);
  t.same(json.values, ['one', 'two']);
  t.type(json.context, 'string');
  t.equal((await kvctl(at('put', 'doc', 'merged', '--context', json.context))).code, 0);
  t.equal((await kvctl(at('get', 'doc'))).out, 'merged');
});

t.test('a stale context does not overwrite a newer write', async (t) => {
  await kvctl(at('put', 'race', 'base'));
  const ctx = JSON.parse((await kvctl(at('get', 'race', '--json'))).out).context;
  await kvctl(at('put', 'race', 'writer-a', '--context', ctx));
  await kvctl(at('put', 'race', 'writer-b', '--context', ctx));
  const json = JSON.parse((await kvctl(at('get', 'race', '--json'))).out);
  t.same(json.values.sort(), ['writer-a', 'writer-b'], 'both writers with the same context survive');
});

t.test('usage errors exit 2; unreachable daemons exit 3; rejected input exits 4', async (t) => {
  const noKey = await kvctl(at('get'));
  t.equal(noKey.code, 2);
  t.match(noKey.stderr, /KV_USAGE/);
  t.equal((await kvctl(at('get', 'k', '--bogus'))).code, 2);
  t.equal((await kvctl(['get', 'k', '--addr', 'not-an-address'])).code, 2);
  t.equal((await kvctl(at('put', 'k', 'v', '--w', '0'))).code, 2);
  const tooHigh = await kvctl(at('put', 'k', 'v', '--w', '4', '--json'));
  t.equal(tooHigh.code, 2, 'w above N is a usage error, found by the daemon');
  t.equal(JSON.parse(tooHigh.out).error.code, 'KV_INVALID_QUORUM');
  const unreachable = await kvctl(['get', 'k', '--addr', '127.0.0.1:1', '--json']);
  t.equal(unreachable.code, 3);
  t.equal(JSON.parse(unreachable.out).error.code, 'KV_UNREACHABLE');
  const bigKey = await kvctl(at('put', 'x'.repeat(5000), 'v'));
  t.equal(bigKey.code, 4);
  t.match(bigKey.stderr, /KV_KEY_TOO_LARGE/);
  const badCtx = await kvctl(at('put', 'k', 'v', '--context', 'garbage!'));
  t.equal(badCtx.code, 4);
  t.match(badCtx.stderr, /KV_BAD_CONTEXT/);
});

t.test('KVCTL_ADDR picks the daemon', async (t) => {
  await kvctl(at('put', 'via-env', 'yes'));
  const got = await kvctl(['get', 'via-env'], { env: { KVCTL_ADDR: daemon.addr } });
  t.equal(got.out, 'yes');
});

t.test('put --stdin loads thousands of keys; get --stdin streams them back in order', async (t) => {
  const n = 3000;
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ key: `bulk:${i}`, value: `value ${i}` })).join('\n');
  const put = await kvctl(at('put', '--stdin'), { input: `${lines}\n` });
  t.equal(put.code, 0, put.stderr);
  const results = put.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(results.length, n);
  t.ok(
    results.every((r, i) => r.ok === true && r.key === `bulk:${i}`),
    'one ok result per line, in order',
  );
  t.match(put.stderr, `${n} lines, ${n} ok, 0 failed`);

  const queries = `${Array.from({ length: n }, (_, i) => JSON.stringify({ key: `bulk:${i}` })).join('\n')}\n{"key":"bulk:missing"}\n`;
  const get = await kvctl(at('get', '--stdin'), { input: queries });
  t.equal(get.code, 0, 'a missing key is a result, not a failure');
  const got = get.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(got.length, n + 1);
  t.ok(
    got.slice(0, n).every((r, i) => r.found === true && r.values[0] === `value ${i}`),
    'values back in input order',
  );
  t.match(got[n], { key: 'bulk:missing', ok: true, found: false });
});

t.test('--stdin reports each bad line and keeps going; exit 4', async (t) => {
  const input = [
    '{"key":"ok1","value":"a"}',
    'not json',
    '{"key":"","value":"x"}',
    '[1]',
    '{"key":"ok2","value":"b"}',
    '{"key":"YjY0","value":"/w==","encoding":"base64"}',
  ].join('\n');
  const put = await kvctl(at('put', '--stdin'), { input });
  t.equal(put.code, 4);
  const results = put.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    results.map((r) => (r.ok ? 'ok' : r.error.code)),
    ['ok', 'KV_BAD_JSON', 'KV_EMPTY_KEY', 'KV_BAD_JSON', 'ok', 'ok'],
  );
  t.equal(results[1].line, 2, 'a bad line is identified by number');
  const del = await kvctl(at('delete', '--stdin'), { input: '{"key":"ok1"}\n{"key":"ok2"}\n' });
  t.equal(del.code, 0);
  t.equal((await kvctl(at('get', 'ok1'))).code, 1);
  const bin = await kvctl(at('get', 'b64', '--json'));
  t.same(JSON.parse(bin.out).values, ['/w=='], 'non-UTF-8 value comes back base64');
});
