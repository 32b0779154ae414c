import t from 'tap';
import { checkSavedSettings, givenFlags, type NodeSettings, resolveNodeSettings } from '../../src/cli/node-settings.js';

const flags = { host: '127.0.0.1', port: 7070, weight: 1, 'cache-mb': 64, sync: false, codec: 'zlib' } as NodeSettings;

t.test('resolveNodeSettings: typed flags, then saved values, then environment and defaults', async (t) => {
  const cases: [string, Partial<NodeSettings>, string[], Partial<NodeSettings> | undefined, Partial<NodeSettings>][] = [
    ['no saved settings: the flags as parsed', {}, [], undefined, { port: 7070, 'cache-mb': 64 }],
    ['saved values beat defaults (and environment)', {}, [], { port: 7071, 'cache-mb': 8, name: 'alpha' }, { port: 7071, 'cache-mb': 8, name: 'alpha' }],
    ['a typed flag beats the saved value', { port: 9000 }, ['port'], { port: 7071, 'cache-mb': 8 }, { port: 9000, 'cache-mb': 8 }],
    ['a typed false beats a saved true', { sync: false }, ['sync'], { sync: true }, { sync: false }],
    ['a flag with its default value, typed, still wins', { 'cache-mb': 64 }, ['cache-mb'], { 'cache-mb': 8 }, { 'cache-mb': 64 }],
    ['optional settings stay absent when nobody sets them', {}, [], { port: 7071 }, { name: undefined, join: undefined }],
    ['a saved optional setting is kept', {}, [], { join: '10.0.0.1:7070' }, { join: '10.0.0.1:7070' }],
  ];
  for (const [name, over, given, saved, expected] of cases) {
    const resolved = resolveNodeSettings({ ...flags, ...over }, new Set(given), saved);
    for (const [key, value] of Object.entries(expected)) t.equal(resolved[key as keyof NodeSettings], value, `${name}: ${key}`);
    t.notOk(Object.values(resolved).includes(undefined), `${name}: no undefined values (they would be saved as gaps)`);
  }
});

t.test('givenFlags: only flags typed on the command line', async (t) => {
  t.same([...givenFlags([{ type: 'flag', flag: 'port' }, { type: 'arg' }, { type: 'flag', flag: 'sync' }])], ['port', 'sync']);
  t.same([...givenFlags([])], []);
});

t.test('checkSavedSettings: by the rules of the flags', async (t) => {
  t.same(await checkSavedSettings({ port: 0, 'cache-mb': 8, sync: true, codec: 'brotli-wasm', name: 'n1' }, 'f'), {
    port: 0,
    'cache-mb': 8,
    sync: true,
    codec: 'brotli-wasm',
    name: 'n1',
  });
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['port above 65535', { port: 65536 }, /"port" is invalid: .*less than or equal to 65535/],
    ['negative cache', { 'cache-mb': -1 }, /"cache-mb" is invalid/],
    ['fraction', { weight: 1.5 }, /"weight" is invalid/],
    ['weight above 64', { weight: 65 }, /"weight" is invalid/],
    ['number as string', { port: '7070' }, /"port" must be a number/],
    ['string as number', { name: 7 }, /"name" must be a string/],
    ['boolean as string', { sync: 'true' }, /"sync" must be true or false/],
    ['object', { join: {} }, /"join" must be a string or a number/],
    ['unknown codec', { codec: 'lz4' }, /"codec" must be one of zlib, brotli-wasm/],
    ['a cluster setting', { n: 3 }, /"n" is not a node setting/],
    ['the data dir', { 'data-dir': '/x' }, /"data-dir" is not a node setting/],
    ['a prototype name', JSON.parse('{"__proto__": 1}'), /"__proto__" is not a node setting/],
  ];
  for (const [name, raw, message] of bad) {
    await t.rejects(checkSavedSettings(raw, '/d/node.json'), { code: 'KV_START_FAILED', message }, name);
  }
});
