/**
 * Command-line mistakes through oclif's real parser: each becomes one KV_USAGE error that names the
 * flag or argument, the value given and what is allowed; unknown commands get a suggestion.
 */
import { Args, Flags, Parser } from '@oclif/core';
import t from 'tap';
import { allowedValues, checkedFlags, unknownCommand, usageError } from '../../src/cli/usage-errors.js';
import type { KvError } from '../../src/errors.js';

const flags = {
  w: Flags.integer({ min: 1 }),
  port: Flags.integer({ min: 0, max: 65535, env: 'KVCTL_TEST_PORT' }),
  depth: Flags.integer({ max: 9 }),
  count: Flags.integer({}),
  consistency: Flags.string({ options: ['strict', 'sloppy'] }),
  'dry-run': Flags.boolean({}),
};
const args = { key: Args.string({ required: true }), value: Args.string() };

/** Parses argv as a command with these flags and args would, and returns the error it fails with. */
async function failure(argv: string[], env: Record<string, string> = {}): Promise<KvError> {
  Object.assign(process.env, env);
  try {
    await Parser.parse(argv, { flags: checkedFlags(flags), args, strict: true });
  } catch (err) {
    return usageError(err, { id: 'put', flags, args });
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
  }
  throw new Error(`${argv.join(' ')} parsed without error`);
}

t.test('a flag value that does not parse names the flag, the value and what is allowed', async (t) => {
  const cases: [argv: string[], message: string][] = [
    [['k', '--w', 'abc'], '--w must be a whole number of at least 1, got "abc"'],
    [['k', '--w', '0'], '--w must be a whole number of at least 1, got "0"'],
    [['k', '--w=2.5'], '--w must be a whole number of at least 1, got "2.5"'],
    [['k', '--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000"'],
    [['k', '--depth', '10'], '--depth must be a whole number of at most 9, got "10"'],
    [['k', '--count', 'many'], '--count must be a whole number, got "many"'],
    [['k', '--consistency', 'foo'], '--consistency must be one of strict, sloppy, got "foo"'],
    [['k', '--w'], '--w needs a value: a whole number of at least 1'],
    [['k', '--consistency'], '--consistency needs a value: one of strict, sloppy'],
    [['k', '--w', '1', '--w', '2'], '--w was given more than once; it takes one value'],
  ];
  for (const [argv, message] of cases) {
    const err = await failure(argv);
    t.equal(err.code, 'KV_USAGE', argv.join(' '));
    t.equal(err.message, message, argv.join(' '));
  }
  t.same((await failure(['k', '--w', 'abc'])).details, { flag: 'w', input: 'abc' });
});

t.test('a bad value from the environment says which variable it came from', async (t) => {
  const err = await failure(['k'], { KVCTL_TEST_PORT: 'eighty' });
  t.equal(err.message, '--port must be a whole number from 0 to 65535, got "eighty" (from KVCTL_TEST_PORT)');
});

t.test('good values still parse, options included', async (t) => {
  const parsed = await Parser.parse(['k', 'v', '--w', '2', '--consistency', 'sloppy', '--port', '0'], { flags: checkedFlags(flags), args });
  t.same(parsed.flags, { w: 2, consistency: 'sloppy', port: 0 });
  t.same(parsed.args, { key: 'k', value: 'v' });
});

t.test('unknown flags are named, with the closest real flag when it is a likely typo', async (t) => {
  t.equal((await failure(['k', '--ww', '2'])).message, 'unknown flag --ww (did you mean --w?)');
  t.equal((await failure(['k', '--dryrun'])).message, 'unknown flag --dryrun (did you mean --dry-run?)');
  t.equal((await failure(['k', '--bogus'])).message, 'unknown flag --bogus');
});

t.test('missing and unexpected arguments are named', async (t) => {
  t.equal((await failure([])).message, 'missing argument KEY');
  t.equal((await failure(['k', 'v', 'x'])).message, 'unexpected argument "x": put takes at most KEY VALUE');
  t.equal((await failure(['k', 'v', 'x', 'y'])).message, 'unexpected arguments "x", "y": put takes at most KEY VALUE');
});

t.test('what each kind of flag allows, in words', async (t) => {
  t.equal(allowedValues(flags.port), 'a whole number from 0 to 65535');
  t.equal(allowedValues(flags.consistency), 'one of strict, sloppy');
  t.equal(allowedValues(Flags.string({})), undefined, 'free text allows anything');
  t.equal(allowedValues(flags['dry-run']), undefined);
});

t.test('unknown commands: a suggestion when one is close, extra words after a command as its arguments', async (t) => {
  const ids = ['get', 'put', 'status', 'start', 'stop', 'ring show'];
  t.same(unknownCommand('stauts', ids).error.message, 'unknown command "stauts" (did you mean "status"?)');
  t.same(unknownCommand('ring shwo', ids).error.message, 'unknown command "ring shwo" (did you mean "ring show"?)');
  t.same(unknownCommand('frobnicate', ids).error.details, { command: 'frobnicate' }, 'no suggestion when nothing is close');
  const extra = unknownCommand('status now please', ids);
  t.equal(extra.error.message, 'unexpected arguments "now", "please": status takes no arguments');
  t.equal(extra.helpFor, 'status');
  t.equal(extra.error.code, 'KV_USAGE');
});
