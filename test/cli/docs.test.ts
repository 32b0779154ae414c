/**
 * Docs come from one source and never drift: man/kvctl.1 must equal what the command definitions,
 * the protocol's allow-lists, the settings and the error registry generate (run `npm run docs`
 * after changing any of them), every error code is documented with its exit status, the wire
 * protocol section lists exactly the fields the daemon accepts, commands are named as typed
 * (`kvctl ring show`, not the oclif id `ring:show`), and `man` renders the page without warnings.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { type Manifest, renderManPage, typedName } from '../../src/cli/man-page.js';
import { envVars } from '../../src/config.js';
import { errorCodes } from '../../src/errors.js';
import { allowedFields } from '../../src/net/protocol.js';
import { kvctl } from '../helpers/cli.js';

const manifest = JSON.parse(readFileSync(new URL('../../oclif.manifest.json', import.meta.url), 'utf8')) as Manifest;
const MAN_FILE = fileURLToPath(new URL('../../man/kvctl.1', import.meta.url));
const committed = readFileSync(MAN_FILE, 'utf8');

/** roff source back to plain text: font switches dropped, escaped hyphens and backslashes restored. */
const plain = (roff: string) =>
  roff
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\\')
    .replace(/\\&/g, '');

/** The roff source of one `.SH` section, up to the next. */
function section(name: string): string {
  const start = committed.indexOf(`\n.SH ${name}\n`);
  if (start < 0) return '';
  const end = committed.indexOf('\n.SH ', start + 1);
  return committed.slice(start, end < 0 ? undefined : end);
}

t.test('man/kvctl.1 is up to date with the commands, the protocol, the settings and the error registry', async (t) => {
  t.equal(committed, renderManPage(manifest), 'run `npm run docs` and commit man/kvctl.1');
});

const SECTIONS = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'EXAMPLES', 'WIRE PROTOCOL', 'LIMITS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'ERRORS'];

t.test('the page has every section a reader looks for', async (t) => {
  for (const name of [...SECTIONS, 'SEE ALSO']) t.ok(section(name).length > 0, name);
});

t.test('every error code is documented with its exit status', async (t) => {
  for (const [code, spec] of Object.entries(errorCodes)) {
    t.match(section('ERRORS'), `\\fB${code.replace(/-/g, '\\-')}\\fR (exit ${spec.exit}`, code);
    t.match(section('EXIT STATUS'), `\\fB${spec.exit}\\fR`, `${code}: exit ${spec.exit} is explained`);
    t.ok(spec.summary.length > 10, `${code} has a summary`);
  }
});

t.test('the wire protocol section lists exactly the fields each op accepts', async (t) => {
  const documented = new Map<string, { fields: string[]; purpose: string }>();
  for (const match of plain(section('WIRE PROTOCOL')).matchAll(/^\.TP\n([a-z.]+)\nFields: ([^\n]*)\.(?:\n\.br\n(.+))?$/gm)) {
    documented.set(match[1] as string, { fields: (match[2] as string).split(', '), purpose: match[3] ?? '' });
  }
  t.same([...documented.keys()].sort(), Object.keys(allowedFields).sort(), 'every op the daemon serves, and no other');
  for (const [op, fields] of Object.entries(allowedFields)) {
    t.same(documented.get(op)?.fields, [...fields], `${op}: its allow-list`);
    t.ok((documented.get(op)?.purpose.length ?? 0) > 10, `${op} says what it does (opPurpose in src/cli/man-page.ts)`);
  }
});

t.test('commands are named as typed, with spaces', async (t) => {
  const text = plain(committed);
  t.notMatch(text, /kvctl [a-z-]+:[a-z]/, 'no oclif id (topic:command) anywhere');
  for (const [id, cmd] of Object.entries(manifest.commands)) {
    t.notOk(id.includes(':') && text.includes(id), `${id} never appears as an id`);
    t.ok(text.includes(`.SS "kvctl ${typedName(id)}"`), `COMMANDS has kvctl ${typedName(id)}`);
    t.match(plain(section('SYNOPSIS')), `kvctl ${typedName(id)}`, `SYNOPSIS has kvctl ${typedName(id)}`);
    for (const flag of Object.values(cmd.flags).filter((f) => !f.hidden))
      t.ok(text.includes(`--${flag.name}`), `${typedName(id)} --${flag.name} is documented`);
  }
  t.ok(text.includes('kvctl ring show'), 'the ring view as typed');
});

t.test('every environment variable is documented', async (t) => {
  for (const variable of Object.values(envVars)) t.match(plain(section('ENVIRONMENT')), `\n${variable}\n`, variable);
});

t.test('man renders the page without warnings', async (t) => {
  const man = spawnSync('man', ['--warnings', '-l', MAN_FILE], { env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' }, encoding: 'utf8' });
  if (man.error) return t.fail(`man is needed to check the page (apt-get install man-db): ${man.error.message}`);
  t.equal(man.status, 0, 'man exits 0');
  t.equal(man.stderr, '', 'no warnings');
  t.match(man.stdout, /^KVCTL\(1\)/, 'the page header');
  t.match(man.stdout, /\n {3}kvctl ring show\n/, 'a subsection per command, named as typed');
  t.notMatch(man.stdout, /\S‐\n/, 'no word hyphenated across lines');
});

t.test('every command documents itself and answers --help with exit 0', async (t) => {
  for (const [id, cmd] of Object.entries(manifest.commands)) {
    t.ok(cmd.summary, `${id} has a summary`);
    t.ok(cmd.examples?.length, `${id} has examples`);
    t.ok(Object.hasOwn(cmd.flags, 'json'), `${id} takes --json`);
    const help = await kvctl([...typedName(id).split(' '), '--help']);
    t.equal(help.code, 0, `${id} --help`);
    t.match(help.out, cmd.summary ?? '', `${id} --help shows the summary`);
  }
});
