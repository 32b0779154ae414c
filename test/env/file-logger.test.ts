import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FileLogger } from '../../src/env/file-logger.js';
import { FIXED_FIELDS } from '../../src/env/log-line.js';
import { tempDir } from '../helpers/cli.js';

const settle = () => new Promise((r) => setTimeout(r, 50));

type Line = Record<string, unknown> & { time: string; level: string; node: string; event: string; msg: string; seq?: number };

/** The JSON lines of a file (a blank line, left where a failure cut one short, is skipped). */
function linesOf(file: string): Line[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line);
}

/** The log and its rotated files in a dir, newest first, as kvctl.log, kvctl.log.1, ... */
function logFiles(dir: string): string[] {
  const numberOf = (name: string) => (name === 'kvctl.log' ? 0 : Number(name.slice('kvctl.log.'.length)));
  return readdirSync(dir)
    .filter((name) => /^kvctl\.log(\.\d+)?$/.test(name))
    .sort((a, b) => numberOf(a) - numberOf(b));
}

t.test('a log on a full disk does not take the process down', { skip: existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  // Every write to /dev/full fails with ENOSPC, as on a full disk; an unhandled stream error would end the test process.
  const logger = new FileLogger('/dev/full', { maxBytes: 4096 });
  for (let i = 0; i < 100; i++) logger.log('warn', 'storage.degraded', 'storage degraded', { i });
  await settle();
  logger.log('info', 'node.listening', 'still running');
  await settle();
  await logger.close();
  t.pass('the process survived');
});

t.test('each line is one JSON object with the fixed fields first, then the call’s own', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file, { node: 'n1' });
  logger.log('info', 'node.listening', 'listening', { addr: '127.0.0.1:1' });
  logger.setNode('alpha');
  logger.log('warn', 'storage.degraded', 'storage degraded', { cause: 'No space left on device' });
  await logger.close();
  const text = readFileSync(file, 'utf8');
  const lines = linesOf(file);
  t.same(
    lines.map((l) => [l.level, l.node, l.event, l.msg]),
    [
      ['info', 'n1', 'node.listening', 'listening'],
      ['warn', 'alpha', 'storage.degraded', 'storage degraded'],
    ],
  );
  t.same(Object.keys(lines[0] ?? {}), ['time', 'level', 'node', 'event', 'msg', 'addr'], 'fixed fields first, in order');
  t.match(lines[0]?.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO 8601 UTC with milliseconds');
  t.ok(Math.abs(Date.parse(lines[0]?.time ?? '') - Date.now()) < 60_000, 'and the time is now');
  t.equal(lines[1]?.cause, 'No space left on device');
  t.equal(text.split('\n').length, 3, 'one line each, newline-terminated');
});

t.test('lines below the level are neither written nor built', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file, { level: 'warn' });
  let built = 0;
  const costly = {
    toJSON() {
      built++;
      return 'costly';
    },
  };
  logger.log('debug', 'read.repair_failed', 'debug line', { costly });
  logger.log('info', 'node.listening', 'info line', { costly });
  logger.log('warn', 'storage.degraded', 'warn line', { costly });
  logger.log('error', 'node.start_failed', 'error line', { costly });
  await logger.close();
  t.same(
    linesOf(file).map((l) => l.level),
    ['warn', 'error'],
  );
  t.equal(built, 2, 'only the lines written were serialised');

  const debugFile = join(tempDir(t), 'kvctl.log');
  const chatty = new FileLogger(debugFile, { level: 'debug' });
  chatty.log('debug', 'read.repair_failed', 'debug line');
  await chatty.close();
  t.same(
    linesOf(debugFile).map((l) => l.level),
    ['debug'],
    'at debug, debug lines are written',
  );
});

t.test('a call cannot overwrite the fixed fields', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file, { node: 'real' });
  const forged = Object.fromEntries(FIXED_FIELDS.map((name) => [name, `forged ${name}`]));
  logger.log('info', 'cluster.member_removed', 'the real message', { ...forged, other: 1 });
  await logger.close();
  const [line] = linesOf(file);
  t.equal(line?.level, 'info');
  t.equal(line?.node, 'real');
  t.equal(line?.event, 'cluster.member_removed');
  t.equal(line?.msg, 'the real message');
  t.not(line?.time, 'forged time');
  t.notOk('truncated' in (line ?? {}), 'a short line is not marked truncated');
  for (const name of FIXED_FIELDS) t.equal(line?.[`field_${name}`], `forged ${name}`, `the call's ${name} is kept as field_${name}`);
  t.equal(line?.other, 1);
});

t.test('a huge field is cut to the line cap, with a marker', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file, { maxLineBytes: 2048 });
  const huge = 'x'.repeat(5_000_000);
  logger.log('error', 'node.start_failed', 'start failed', { message: huge, code: 'KV_X', nested: { list: Array.from({ length: 10_000 }, (_, i) => i) } });
  await logger.close();
  const text = readFileSync(file, 'utf8');
  t.ok(Buffer.byteLength(text) <= 2048, `${Buffer.byteLength(text)} bytes written`);
  const [line] = linesOf(file);
  t.equal(line?.truncated, true, 'the line says it was cut');
  t.equal(line?.event, 'node.start_failed', 'the fixed fields are whole');
  t.match(line?.message, /^x+\.\.\.\[truncated \d+ chars\]$/, 'the field keeps its start and says how much was cut');
  const cut = Number(/truncated (\d+) chars/.exec(String(line?.message))?.[1]);
  t.equal(String(line?.message).indexOf('.') + cut, huge.length, 'the count is what was left out');
});

t.test('the file rotates at the cap, keeping the right number of files and every recent line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'kvctl.log');
  writeFileSync(join(dir, 'kvctl.log.7'), 'left by a larger --log-files\n');
  const maxBytes = 4096;
  const logger = new FileLogger(file, { maxBytes, files: 2 });
  // Logged over a few ticks, as a daemon does, and in one burst: both must rotate at the cap.
  let seq = 0;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 5; i++) logger.log('info', 'gossip.membership_changed', 'membership changed', { seq: seq++, pad: 'p'.repeat(80) });
    await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; i < 100; i++) logger.log('info', 'gossip.membership_changed', 'membership changed', { seq: seq++, pad: 'p'.repeat(80) });
  await logger.close();

  t.same(logFiles(dir), ['kvctl.log', 'kvctl.log.1', 'kvctl.log.2'], 'the log and 2 rotated files; older ones deleted');
  for (const name of logFiles(dir)) t.ok(statSync(join(dir, name)).size <= maxBytes, `${name} is ${statSync(join(dir, name)).size} bytes`);
  const kept = logFiles(dir)
    .reverse()
    .flatMap((name) => linesOf(join(dir, name)));
  const seqs = kept.map((l) => l.seq);
  t.ok(kept.length > 0);
  t.same(
    seqs,
    Array.from({ length: kept.length }, (_, i) => seq - kept.length + i),
    'oldest file first, the lines are the most recent ones, in order, none missing',
  );
  t.ok(statSync(file).size + statSync(join(dir, 'kvctl.log.1')).size > maxBytes, 'files are filled before rotating');
});

t.test('with --log-files 0 the log starts over at the cap', async (t) => {
  const dir = tempDir(t);
  const logger = new FileLogger(join(dir, 'kvctl.log'), { maxBytes: 4096, files: 0 });
  for (let i = 0; i < 200; i++) {
    logger.log('info', 'gossip.membership_changed', 'membership changed', { seq: i });
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  await logger.close();
  t.same(logFiles(dir), ['kvctl.log']);
  const lines = linesOf(join(dir, 'kvctl.log'));
  t.ok(statSync(join(dir, 'kvctl.log')).size <= 4096);
  t.equal(lines.at(-1)?.seq, 199, 'the last line is there');
});

t.test('lines logged while the file cannot be written are held, then written with the rotation going on', async (t) => {
  const dir = tempDir(t);
  const logDir = join(dir, 'gone');
  const file = join(logDir, 'kvctl.log');
  // The directory is not there: opening the file fails, as on a disk gone read-only or missing.
  const logger = new FileLogger(file, { maxBytes: 4096, files: 3 });
  let seq = 0;
  for (let i = 0; i < 40; i++) logger.log('warn', 'storage.degraded', 'storage degraded', { seq: seq++, pad: 'p'.repeat(100) });
  await settle();
  t.notOk(existsSync(file), 'nothing written while the file cannot be opened');
  mkdirSync(logDir);
  await new Promise((r) => setTimeout(r, 1050)); // the file is opened again a second after the failure at the soonest
  logger.log('info', 'storage.recovered', 'storage recovered', { seq: seq++ });
  await logger.close();

  const files = logFiles(logDir);
  t.ok(files.length > 1, `the backlog rotated: ${files.join(', ')}`);
  for (const name of files) t.ok(statSync(join(logDir, name)).size <= 4096, `${name} within the cap`);
  const lines = files.reverse().flatMap((name) => linesOf(join(logDir, name)));
  const resumed = lines.find((l) => l.event === 'log.resumed');
  t.ok(resumed, 'a line says the log was not written for a while');
  t.equal(resumed?.held, 40, 'and how many lines were held');
  t.equal(resumed?.dropped, 0);
  t.match(resumed?.error, /ENOENT/, 'and why');
  t.same(
    lines.filter((l) => l.seq !== undefined).map((l) => l.seq),
    Array.from({ length: seq }, (_, i) => i),
    'every held line follows, in order, then the new one',
  );
});

t.test('a rotation that fails leaves the log going on in the same file, and says so', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'kvctl.log');
  // A directory where the oldest rotated file goes cannot be removed as a file: the rotation fails.
  mkdirSync(join(dir, 'kvctl.log.1'));
  writeFileSync(join(dir, 'kvctl.log.1', 'x'), 'x');
  const logger = new FileLogger(file, { maxBytes: 4096, files: 1 });
  for (let i = 0; i < 60; i++) {
    logger.log('info', 'gossip.membership_changed', 'membership changed', { seq: i, pad: 'p'.repeat(80) });
    if (i % 5 === 0) await settle();
  }
  await logger.close();
  const lines = linesOf(file);
  const failed = lines.filter((l) => l.event === 'log.rotate_failed');
  t.equal(failed.length, 1, 'the failure is logged once (the next try is a minute later)');
  t.same(
    lines.filter((l) => l.seq !== undefined).map((l) => l.seq),
    Array.from({ length: 60 }, (_, i) => i),
    'no line lost: the file grew past its cap instead',
  );
});

t.test('logNow writes at once, for a process about to exit', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file, { node: 'n1' });
  logger.logNow('error', 'node.crashed', 'uncaught exception; exiting', { message: 'boom' });
  t.same(
    linesOf(file).map((l) => [l.event, l.node, l.message]),
    [['node.crashed', 'n1', 'boom']],
    'on disk before any tick',
  );
  await logger.close();
});
