/**
 * Docs come from one source and never drift: man/kvctl.1 must equal what the command definitions
 * and the error registry generate (run `npm run docs` after changing either), and every error code
 * is documented there with its exit status.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { type Manifest, renderManPage } from '../../src/cli/man-page.js';
import { errorCodes } from '../../src/errors.js';
import { kvctl } from '../helpers/cli.js';

const manifest = JSON.parse(readFileSync(new URL('../../oclif.manifest.json', import.meta.url), 'utf8')) as Manifest;
const committed = readFileSync(new URL('../../man/kvctl.1', import.meta.url), 'utf8');

t.test('man/kvctl.1 is up to date with the commands and the error registry', async (t) => {
  t.equal(committed, renderManPage(manifest), 'run `npm run docs` and commit man/kvctl.1');
});

t.test('every error code is documented with its exit status', async (t) => {
  for (const [code, spec] of Object.entries(errorCodes)) {
    t.match(committed, `\\fB${code.replace(/-/g, '\\-')}\\fR (exit ${spec.exit}`, code);
    t.ok(spec.summary.length > 10, `${code} has a summary`);
  }
});

t.test('every command documents itself and answers --help with exit 0', async (t) => {
  for (const [id, cmd] of Object.entries(manifest.commands)) {
    t.ok(cmd.summary, `${id} has a summary`);
    t.ok(cmd.examples?.length, `${id} has examples`);
    t.ok(Object.hasOwn(cmd.flags, 'json'), `${id} takes --json`);
    const help = await kvctl([...id.split(':'), '--help']);
    t.equal(help.code, 0, `${id} --help`);
    t.match(help.out, cmd.summary ?? '', `${id} --help shows the summary`);
  }
});
