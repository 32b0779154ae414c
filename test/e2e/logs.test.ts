/**
 * The daemon's log through the real CLI: a tiny --log-max-bytes keeps the log and its rotated files
 * bounded while the node logs a lot, every line parses with the fixed fields, --log-level debug
 * writes debug lines and is kept in node.json like the other start flags.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { LOG_EVENTS } from '../../src/env/log-events.js';
import { type Daemon, killHard, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';
import { startCluster, waitForHealth, waitForMembers } from '../helpers/cluster.js';
import { writeSecretFile } from '../helpers/security.js';

interface Line {
  time: string;
  level: string;
  node: string;
  event: string;
  msg: string;
  [field: string]: unknown;
}

const MAX_BYTES = 4096;
const FILES = 2;

/** The log and its rotated files in the data dir, oldest first (kvctl.log.2, kvctl.log.1, kvctl.log). */
function logFiles(dataDir: string): string[] {
  const age = (name: string) => (name === 'kvctl.log' ? 0 : Number(name.slice('kvctl.log.'.length)));
  return readdirSync(dataDir)
    .filter((name) => /^kvctl\.log(\.\d+)?$/.test(name))
    .sort((a, b) => age(b) - age(a));
}

function allLines(dataDir: string): Line[] {
  return logFiles(dataDir).flatMap((name) =>
    readFileSync(join(dataDir, name), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Line),
  );
}

/** Refused client tokens: each is one warn line in the log (auth.token_refused). */
async function refuseTokens(addr: string, count: number): Promise<void> {
  let client = await KvClient.connect(addr);
  for (let i = 0; i < count; i++) {
    try {
      await client.request({ op: 'auth', token: `not-a-token-${i}` });
    } catch (err) {
      // Refused, as meant; anything else (a closed connection) opens it again.
      if ((err as { code?: string }).code !== 'KV_AUTH_FAILED') {
        void client.close();
        client = await KvClient.connect(addr);
      }
    }
  }
  await client.close();
}

t.test('a node with a tiny log cap keeps its logs bounded, and every line is structured', async (t) => {
  const dir = tempDir(t);
  const tokens = writeSecretFile(dir, 'tokens', ['read r-token-0123456789abcdef']).file;
  const daemon = await startDaemon(t, {
    args: ['--name', 'logger1', '--client-token-file', tokens, '--log-max-bytes', String(MAX_BYTES), '--log-files', String(FILES), '--log-level', 'debug'],
  });
  await refuseTokens(daemon.addr, 150);
  await waitFor(() => allLines(daemon.dataDir).filter((l) => l.event === 'auth.token_refused').length > 0, 'the refusals to be logged');
  const stopped = await kvctl(['stop', '--data-dir', daemon.dataDir]);
  t.equal(stopped.code, 0, stopped.stderr);

  const files = logFiles(daemon.dataDir);
  t.ok(files.length <= FILES + 1, `at most the log and ${FILES} rotated files: ${files.join(', ')}`);
  t.ok(files.includes(`kvctl.log.${FILES}`), 'the node logged enough to rotate them all');
  for (const name of files) t.ok(statSync(join(daemon.dataDir, name)).size <= MAX_BYTES, `${name}: ${statSync(join(daemon.dataDir, name)).size} bytes`);

  const lines = allLines(daemon.dataDir);
  const known = new Set(Object.keys(LOG_EVENTS));
  const malformed = lines.filter(
    (l) => Number.isNaN(Date.parse(l.time)) || !['debug', 'info', 'warn', 'error'].includes(l.level) || typeof l.msg !== 'string' || !known.has(l.event),
  );
  t.same(malformed, [], 'every line has a time, a level, a registered event and a message');
  t.same([...new Set(lines.map((l) => l.node))], ['logger1'], 'and names the node');
  t.equal(lines.at(-1)?.event, 'node.stopped', 'the newest lines survive the rotations');
  const refusals = lines.filter((l) => l.event === 'auth.token_refused').length;
  t.ok(refusals > 0 && refusals < 150, `the oldest refusals were rotated away: ${refusals} kept`);
  t.ok(existsSync(join(daemon.dataDir, 'daemon.out')), "the process's own output has its own file");

  // Restarted without the flags: node.json kept them, so debug lines are written and the cap holds.
  const again = await startDaemon(t, { dataDir: daemon.dataDir, port: daemon.port });
  const stoppedAt = lines.at(-1)?.time ?? '';
  const config = () => allLines(again.dataDir).find((l) => l.event === 'node.config' && l.time > stoppedAt);
  await waitFor(() => config() !== undefined, 'the debug configuration line of the restart');
  t.match(config()?.log, { level: 'debug', maxBytes: MAX_BYTES, files: FILES }, 'the log settings were kept in node.json');
  t.equal((await kvctl(['stop', '--data-dir', again.dataDir])).code, 0);
  for (const name of logFiles(again.dataDir)) t.ok(statSync(join(again.dataDir, name)).size <= MAX_BYTES, `${name} still within the cap`);
});

t.test('at the default level, debug lines are not written', async (t) => {
  const daemon = await startDaemon(t);
  t.equal((await kvctl(['stop', '--data-dir', daemon.dataDir])).code, 0);
  const lines = allLines(daemon.dataDir);
  t.same(
    lines.filter((l) => l.level === 'debug'),
    [],
    'no debug line (node.config is one)',
  );
  t.same(
    lines.map((l) => l.event).filter((e) => e.startsWith('node.')),
    ['node.starting', 'node.listening', 'node.stopping', 'node.stopped'],
    'the info lines are',
  );
});

t.test('three nodes: each logs as itself, bounded, and a member that comes back is logged by the others', async (t) => {
  const nodes = await startCluster(t, 3, ['--log-max-bytes', '65536', '--log-files', '1']);
  await waitForMembers(nodes, 3);
  const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
  const client = await KvClient.connect(a.addr);
  for (let i = 0; i < 50; i++) await client.put(`log:${i}`, 'v');
  await client.close();
  killHard(c.pid);
  await waitForHealth(a, c.name, 'down');
  const again = await startDaemon(t, { dataDir: c.dataDir });
  t.equal(again.name, c.name);
  await waitForHealth(a, c.name, 'alive');
  await waitFor(
    () => allLines(a.dataDir).some((l) => l.event === 'gossip.membership_changed' && JSON.stringify(l.recovered ?? []).includes(c.name)),
    `${a.name} to log ${c.name} coming back`,
  );
  for (const node of [a, b, c]) {
    const files = logFiles(node.dataDir);
    t.ok(files.length <= 2, `${node.name}: ${files.length} log files (--log-files 1)`);
    for (const name of files) t.ok(statSync(join(node.dataDir, name)).size <= 65536, `${node.name}/${name} within --log-max-bytes`);
    const lines = allLines(node.dataDir);
    t.ok(
      lines.every((l) => l.node === node.name && typeof l.time === 'string' && Object.hasOwn(LOG_EVENTS, l.event)),
      `${node.name}: ${lines.length} lines, every one names this node and a known event`,
    );
  }
  const restarts = allLines(c.dataDir).filter((l) => l.event === 'node.listening');
  t.equal(restarts.length, 2, `${c.name} logged listening at both starts`);
});
