/**
 * Command-line mistakes as KV_USAGE errors that name what was wrong, the value given and what is
 * allowed (`--w must be a whole number of at least 1, got "abc"`), built from the flag and argument
 * definitions rather than from oclif's wording. Also unknown commands (with a suggestion), and the
 * one writer of failures: a `kvctl: … [KV_CODE]` line on stderr, or `{"ok":false,"error":…}` on
 * stdout under --json. Used by the base command and by bin/run.js for what no command caught.
 */
import { Flags, type Interfaces } from '@oclif/core';
import { KvError, toKvError } from '../errors.js';

type FlagInput = Interfaces.FlagInput;
type AnyFlag = FlagInput[string];
type ArgInput = Interfaces.ArgInput;

/** Every Flags.integer() shares this parse function, which is how an integer flag is recognised. */
const integerParse = Flags.integer().parse;

/** A flag value that did not parse; oclif rewrites `message` on the way out, so the facts live in fields. */
class FlagValueError extends Error {
  constructor(
    readonly flag: string,
    readonly input: string,
    /** The environment variable the value came from, when it did not come from the command line. */
    readonly env: string | undefined,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** What a flag accepts, in words ("one of strict, sloppy", "a whole number from 0 to 65535"), if it says. */
export function allowedValues(flag: AnyFlag): string | undefined {
  if (flag.type !== 'option') return undefined;
  if (flag.options) return `one of ${flag.options.join(', ')}`;
  if (flag.parse !== integerParse) return undefined;
  const { min, max } = flag as { min?: number; max?: number };
  if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
  if (min !== undefined) return `a whole number of at least ${min}`;
  if (max !== undefined) return `a whole number of at most ${max}`;
  return 'a whole number';
}

/**
 * The flags with their values checked by us: a bad value throws a FlagValueError that keeps the
 * flag, the input and where it came from. Options are checked here too, so oclif's own check
 * (which keeps none of that) never runs.
 */
export function checkedFlags(flags: FlagInput): FlagInput {
  const checked: FlagInput = {};
  for (const [name, flag] of Object.entries(flags)) {
    if (flag.type !== 'option') {
      checked[name] = flag;
      continue;
    }
    const { options, parse } = flag;
    const checkedParse: typeof parse = async (input, context, opts) => {
      const env = context.token === undefined ? flag.env : undefined;
      if (options && !options.includes(input)) throw new FlagValueError(name, input, env, 'not an allowed value');
      try {
        return await parse(input, context, opts);
      } catch (err) {
        throw new FlagValueError(name, input, env, (err as Error).message);
      }
    };
    checked[name] = { ...flag, options: undefined, parse: checkedParse };
  }
  return checked;
}

/** The parser's failure as a KV_USAGE error; `flags` and `args` are the command's own definitions. */
export function usageError(err: unknown, command: { id?: string; flags?: FlagInput; args?: ArgInput }): KvError {
  if (err instanceof KvError) return err;
  const flags = command.flags ?? {};
  const fields = err as { flags?: string[]; args?: ({ name: string; description?: string } | string)[] };
  if (err instanceof FlagValueError) {
    const flag = flags[err.flag];
    const allowed = flag ? allowedValues(flag) : undefined;
    const from = err.env ? ` (from ${err.env})` : '';
    const problem = allowed ? `must be ${allowed}` : `is not valid (${plainReason(err.reason)})`;
    return new KvError('KV_USAGE', `--${err.flag} ${problem}, got ${JSON.stringify(err.input)}${from}`, { flag: err.flag, input: err.input });
  }
  const kind = (err as Error).constructor?.name;
  if (kind === 'NonExistentFlagsError' && fields.flags) {
    const given = fields.flags;
    const hint = given.length === 1 ? suggestion(flagName(given[0] as string), Object.keys(flags)) : undefined;
    const names = given.map((f) => (f.startsWith('-') ? f : `--${f}`)).join(', ');
    return new KvError('KV_USAGE', `unknown flag${given.length > 1 ? 's' : ''} ${names}${hint ? ` (did you mean --${hint}?)` : ''}`, { flags: given });
  }
  if (kind === 'UnexpectedArgsError' && fields.args) {
    return unexpectedArguments(fields.args.map(String), command.id ?? 'the command', Object.keys(command.args ?? {}));
  }
  if (kind === 'RequiredArgsError' && fields.args) {
    const missing = fields.args.map((a) => (typeof a === 'string' ? a : a.name).toUpperCase());
    return new KvError('KV_USAGE', `missing argument${missing.length > 1 ? 's' : ''} ${missing.join(' ')}`, { args: missing });
  }
  const message = plainReason((err as Error).message ?? String(err));
  const missingValue = /^Flag --([\w-]+) expects/.exec(message);
  if (missingValue?.[1] !== undefined) {
    const flag = flags[missingValue[1]];
    const allowed = flag ? allowedValues(flag) : undefined;
    return new KvError('KV_USAGE', `--${missingValue[1]} needs a value${allowed ? `: ${allowed}` : ''}`, { flag: missingValue[1] });
  }
  const repeated = /^Flag --([\w-]+) can only be specified once/.exec(message);
  if (repeated?.[1] !== undefined) return new KvError('KV_USAGE', `--${repeated[1]} was given more than once; it takes one value`, { flag: repeated[1] });
  return new KvError('KV_USAGE', message);
}

function unexpectedArguments(given: string[], commandId: string, argNames: string[]): KvError {
  const usage = argNames.length === 0 ? 'takes no arguments' : `takes at most ${argNames.map((a) => a.toUpperCase()).join(' ')}`;
  const list = given.map((a) => JSON.stringify(a)).join(', ');
  return new KvError('KV_USAGE', `unexpected argument${given.length > 1 ? 's' : ''} ${list}: ${commandId} ${usage}`, { args: given });
}

/**
 * `unknown command "frobnicate"`, with the closest command when one is close enough. oclif reads
 * words after a command that takes no arguments as part of its name (`status extra`): those are
 * reported as unexpected arguments of that command. Returns the error and the command whose help fits.
 */
export function unknownCommand(id: string, commandIds: readonly string[]): { error: KvError; helpFor: string } {
  const words = id.split(' ');
  for (let n = words.length - 1; n > 0; n--) {
    const known = words.slice(0, n).join(' ');
    if (commandIds.includes(known)) return { error: unexpectedArguments(words.slice(n), known, []), helpFor: known };
  }
  const hint = suggestion(id, commandIds);
  const message = `unknown command "${id}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
  return { error: new KvError('KV_USAGE', message, { command: id, ...(hint ? { suggestion: hint } : {}) }), helpFor: '' };
}

/** Prints a failure once: stdout JSON under --json, else one stderr line; KV_USAGE points at the help. */
export function writeFailure(error: KvError, json: boolean, helpFor?: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: error.toWire() })}\n`);
    return;
  }
  const hint = error.code === 'KV_USAGE' && helpFor !== undefined ? ` (see: kvctl ${helpFor ? `${helpFor} ` : ''}--help)` : '';
  process.stderr.write(`kvctl: ${error.message} [${error.code}]${hint}\n`);
}

/** True when --json comes before any `--` (after which everything is an argument). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Reports a failure that no command caught (unknown command, `help` of one, a plugin's error) and
 * returns the exit status. A command's own failures were printed already: they arrive as oclif's
 * ExitError and only their status is kept. `commandIds` is asked for only for an unknown command.
 */
export async function reportUncaught(err: unknown, argv: readonly string[], commandIds: () => Promise<string[]>): Promise<number> {
  const oclif = (err as { oclif?: { exit?: number }; code?: string }) ?? {};
  if (oclif.code === 'EEXIT') return oclif.oclif?.exit ?? 1;
  const message = err instanceof Error ? err.message : String(err);
  // oclif's runner says "command ring:frob not found"; its help says "Command frob not found."
  const notFound = /^command (\S+) not found\.?$/i.exec(message);
  if (notFound?.[1] !== undefined) {
    const { error, helpFor } = unknownCommand(notFound[1].replaceAll(':', ' '), await commandIds());
    writeFailure(error, wantsJson(argv), helpFor);
    return error.exitStatus;
  }
  const error = err instanceof KvError || oclif.oclif?.exit !== 2 ? toKvError(err) : new KvError('KV_USAGE', plainReason(message));
  writeFailure(error, wantsJson(argv), '');
  return error.exitStatus;
}

/** oclif's message without colours, its "See more help" line and its "following error occurred" header. */
function plainReason(message: string): string {
  return (
    message
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && line !== 'See more help with --help' && !/^The following errors? occurred:$/.test(line))
      .join('; ')
  );
}

function flagName(given: string): string {
  return given.replace(/^-+/, '').split('=')[0] ?? '';
}

/** The candidate nearest to `given` by edit distance, if near enough to be a likely typo. */
function suggestion(given: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(given.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(given, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = d;
    }
  }
  return at(a.length, b.length);
}
