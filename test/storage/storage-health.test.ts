import t from 'tap';
import { VirtualClock } from '../../src/env/clock.js';
import type { LogEvent, Logger, LogLevel } from '../../src/env/logger.js';
import { KvError } from '../../src/errors.js';
import { MAX_DEGRADED_CHARS } from '../../src/membership/member-wire.js';
import {
  boundedText,
  classifyStoreError,
  MAX_CAUSE_CHARS,
  type RecoveryActions,
  StorageRecovery,
  type StorageStatus,
} from '../../src/storage/storage-health.js';

const ENOSPC = 'IO error: /data/node1/db/000011.ldb: No space left on device';
const levelError = (code: string, message: string) => Object.assign(new Error(message), { code });

t.test('classifyStoreError tells disk faults from a refused request', async (t) => {
  t.equal(classifyStoreError(levelError('LEVEL_IO_ERROR', ENOSPC)), 'no-space');
  t.equal(classifyStoreError(levelError('LEVEL_IO_ERROR', 'IO error: /data/db/000012.log: Input/output error')), 'io');
  t.equal(classifyStoreError(levelError('LEVEL_CORRUPTION', 'Corruption: bad block contents')), 'corruption');
  t.equal(classifyStoreError(levelError('LEVEL_INVALID_VALUE', 'value cannot be null')), 'bad-request');
  t.equal(classifyStoreError(new TypeError('not a buffer')), 'bad-request');
  t.equal(classifyStoreError(new Error('something nobody expected')), 'io', 'unknown counts as a disk fault');
  const wrapped = new KvError('KV_STORAGE', 'write failed', undefined, { cause: levelError('LEVEL_CORRUPTION', 'Corruption: checksum mismatch') });
  t.equal(classifyStoreError(wrapped), 'corruption', 'looks under a KV_STORAGE wrapper');
});

t.test('boundedText: one printable line, bounded, keeping the end of a long one', async (t) => {
  const long = `IO error: /${'very/'.repeat(200)}000011.ldb: No space left on device`;
  const bounded = boundedText(long, MAX_CAUSE_CHARS);
  t.ok(bounded.length <= MAX_CAUSE_CHARS, `${bounded.length} characters`);
  t.ok(bounded.startsWith('IO error: /very/'), 'keeps the start');
  t.ok(bounded.endsWith('No space left on device'), 'keeps what went wrong, at the end');
  t.equal(boundedText('a\nb\u0000c\u00e9', 20), 'a b?c?', 'newlines folded, control and non-ASCII characters replaced');
  t.equal(boundedText('   ', 20), 'unknown error');
  t.ok(boundedText(long, MAX_DEGRADED_CHARS).length <= MAX_DEGRADED_CHARS, 'fits the gossiped bound too');
});

interface Fake {
  clock: VirtualClock;
  recovery: StorageRecovery;
  logs: { level: LogLevel; event: LogEvent; msg: string; fields?: Record<string, unknown> }[];
  changes: StorageStatus[];
  calls: string[];
  /** What each action does next (a message rejects). */
  room: string | undefined;
  reopen: string | undefined;
  probe: string | undefined;
  open: boolean;
  /** Lets the attempts a timer started run to their end. */
  advance(ms: number): Promise<void>;
}

function fake(): Fake {
  const clock = new VirtualClock(1_000_000);
  const f = { clock, logs: [], changes: [], calls: [], room: undefined, reopen: undefined, probe: undefined, open: true } as unknown as Fake;
  const logger: Logger = {
    log: (level, event, msg, fields) => f.logs.push({ level, event, msg, fields }),
    close: async () => {},
  };
  const act = (name: 'room' | 'reopen' | 'probe') => async () => {
    f.calls.push(name);
    const failure = f[name];
    if (name === 'reopen') f.open = failure === undefined;
    if (failure !== undefined) throw new Error(failure);
  };
  const actions: RecoveryActions = { roomToReopen: act('room'), reopen: act('reopen'), probe: act('probe'), isOpen: () => f.open };
  f.recovery = new StorageRecovery(clock, actions, logger, { firstRetryMs: 250, maxRetryMs: 2000 });
  f.recovery.onChange = (s) => f.changes.push(s);
  // In steps, each followed by the promise work the timers started (which schedules the next timer).
  f.advance = async (ms) => {
    for (let left = ms; left > 0; left -= Math.min(left, 50)) {
      clock.advance(Math.min(left, 50));
      for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
    }
  };
  return f;
}

t.test('a fault makes the store degraded with its cause, logged once', async (t) => {
  const f = fake();
  t.equal(f.recovery.status().state, 'up');
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  const s = f.recovery.status();
  t.equal(s.state, 'degraded');
  t.equal(s.cause, ENOSPC);
  t.equal(s.fault, 'no-space');
  t.equal(s.since, 1_000_000);
  t.equal(s.episodes, 1);
  t.same(
    f.changes.map((c) => c.state),
    ['degraded'],
    'told once',
  );
  t.equal(f.logs.length, 1);
  t.equal(f.logs[0]?.level, 'warn');
  t.match(f.logs[0]?.msg, /storage degraded/);
  t.equal(f.logs[0]?.event, 'storage.degraded', 'under its stable event name');
  t.equal(f.logs[0]?.fields?.cause, ENOSPC, 'the log names the cause');

  f.recovery.fail(levelError('LEVEL_IO_ERROR', 'IO error: something else'));
  t.equal(f.recovery.status().cause, ENOSPC, 'a later fault does not replace the first cause');
  t.equal(f.logs.length, 1, 'nor log again');
  t.equal(f.calls.length, 0, 'nothing tried before the first delay');
  await f.recovery.stop();
});

t.test('waits at a doubling backoff while the disk has no room, then reopens and is up on its own', async (t) => {
  const f = fake();
  f.room = 'waiting for free space: 0.1 MiB free';
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  await f.advance(249);
  t.same(f.calls, [], 'nothing before 250 ms');
  await f.advance(1);
  t.same(f.calls, ['room'], 'first attempt at 250 ms: no room, no reopen (reads go on)');
  await f.advance(499);
  t.same(f.calls, ['room'], 'the next one is 500 ms later');
  await f.advance(1);
  t.same(f.calls, ['room', 'room']);
  await f.advance(1000 + 2000 + 2000);
  t.same(f.calls, ['room', 'room', 'room', 'room', 'room'], 'then 1 s, 2 s, and capped at 2 s');
  const s = f.recovery.status();
  t.equal(s.state, 'degraded');
  t.equal(s.attempts, 5);
  t.equal(s.lastError, 'waiting for free space: 0.1 MiB free');
  t.equal(f.logs.filter((l) => l.msg === 'storage still degraded').length, 1, 'the same reason is logged once, not per attempt');

  f.room = undefined; // space came back
  await f.advance(2000);
  t.same(f.calls.slice(5), ['room', 'reopen', 'probe'], 'room again: reopen, then a probe write');
  const up = f.recovery.status();
  t.equal(up.state, 'up');
  t.equal(up.cause, undefined, 'no cause once up');
  t.equal(up.reopens, 1);
  t.same(
    f.changes.map((c) => c.state),
    ['degraded', 'up'],
  );
  const recovered = f.logs.find((l) => l.msg.startsWith('storage recovered'));
  t.ok(recovered, 'leaving degraded is logged');
  t.equal(recovered?.event, 'storage.recovered');
  t.equal(recovered?.fields?.cause, ENOSPC, 'with the cause');
  t.equal(recovered?.fields?.degradedMs, 250 + 500 + 1000 + 2000 + 2000 + 2000, 'and how long it lasted');

  // A new fault starts again from the first delay.
  f.calls.length = 0;
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  await f.advance(250);
  t.same(f.calls, ['room', 'reopen', 'probe']);
  t.equal(f.recovery.status().state, 'up');
  t.equal(f.recovery.status().episodes, 2);
  await f.recovery.stop();
});

t.test('a reopen that fails leaves LevelDB closed: the next attempt reopens without asking for room', async (t) => {
  const f = fake();
  f.reopen = 'IO error: cannot write MANIFEST';
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  await f.advance(250);
  t.same(f.calls, ['room', 'reopen']);
  t.equal(f.open, false);
  t.equal(f.recovery.status().state, 'degraded');
  t.equal(f.recovery.status().lastError, 'IO error: cannot write MANIFEST');
  f.reopen = undefined;
  await f.advance(500);
  t.same(f.calls, ['room', 'reopen', 'reopen', 'probe'], 'closed: straight to reopening');
  t.equal(f.recovery.status().state, 'up');
  await f.recovery.stop();
});

t.test('a probe that fails after the reopen keeps it degraded', async (t) => {
  const f = fake();
  f.probe = 'IO error: No space left on device';
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  await f.advance(250);
  t.equal(f.recovery.status().state, 'degraded');
  t.equal(f.recovery.status().reopens, 1, 'the reopen counted');
  f.probe = undefined;
  await f.advance(500);
  t.equal(f.recovery.status().state, 'up');
  t.equal(f.recovery.status().reopens, 2);
  await f.recovery.stop();
});

t.test('stop cancels the retries', async (t) => {
  const f = fake();
  f.recovery.fail(levelError('LEVEL_IO_ERROR', ENOSPC));
  await f.recovery.stop();
  await f.advance(60_000);
  t.same(f.calls, [], 'no attempt after stop');
  t.equal(f.recovery.status().state, 'degraded');
});
