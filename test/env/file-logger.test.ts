import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FileLogger } from '../../src/env/file-logger.js';
import { tempDir } from '../helpers/cli.js';

const settle = () => new Promise((r) => setTimeout(r, 50));

t.test('a log on a full disk does not take the process down', { skip: existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  // Every write to /dev/full fails with ENOSPC, as on a full disk; an unhandled stream error would end the test process.
  const logger = new FileLogger('/dev/full');
  for (let i = 0; i < 100; i++) logger.log('warn', 'storage degraded', { i });
  await settle();
  logger.log('info', 'still running');
  await settle();
  await logger.close();
  t.pass('the process survived');
});

t.test('a working log writes one JSON object per line', async (t) => {
  const file = join(tempDir(t), 'kvctl.log');
  const logger = new FileLogger(file);
  logger.log('info', 'listening', { addr: '127.0.0.1:1' });
  logger.log('warn', 'storage degraded', { cause: 'No space left on device' });
  await logger.close();
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; cause?: string });
  t.same(
    lines.map((l) => l.msg),
    ['listening', 'storage degraded'],
  );
  t.equal(lines[1]?.cause, 'No space left on device');
});
