/**
 * A full disk, for real: a node's data dir is a small tmpfs, with a filler file taking part of it.
 * Writes of incompressible values fill LevelDB's 32 MiB memtable, whose flush to a table (a
 * compaction) then runs out of space: LevelDB remembers that error and fails every later write,
 * even once space is back, until it is reopened. The node must say so (status, members on itself
 * and on a peer, its log), keep serving reads, and once the filler is deleted take writes again on
 * its own, without a restart, having lost no acknowledged write. Skipped, with the reason, where a
 * tmpfs cannot be mounted (not root).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import type { KvError } from '../../src/errors.js';
import { isAlive, killHard, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';

const TMPFS_MB = 96;
/** Leaves about 56 MiB: room for the 32 MiB memtable's log, not for the table its flush writes too. */
const FILLER_MB = 40;
const VALUE_BYTES = 192 * 1024;

function mountTmpfs(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
  }
}

async function json(args: string[]): Promise<Record<string, unknown>> {
  const result = await kvctl([...args, '--json']);
  return JSON.parse(result.out) as Record<string, unknown>;
}

interface Member {
  name: string;
  status: string;
  health: string;
  degraded?: string;
}

async function memberSeen(addr: string, name: string): Promise<Member | undefined> {
  return ((await json(['members', '--addr', addr])).members as Member[]).find((m) => m.name === name);
}

const root = tempDir(t, 'kvctl-degraded-');
const dataDir = join(root, 'data');
mkdirSync(dataDir);
const refused = mountTmpfs(dataDir);
if (refused) {
  t.comment(`skipping the full-disk test: ${refused}`);
  t.pass(`skipped: ${refused}`);
} else {
  t.test('a disk that fills during a compaction: degraded, said, and back to up on its own once space is freed', async (t) => {
    let pids: number[] = [];
    t.teardown(async () => {
      for (const pid of pids) killHard(pid);
      await waitFor(() => pids.every((pid) => !isAlive(pid)), 'the daemons to exit', 10_000).catch(() => {});
      try {
        execFileSync('umount', [dataDir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dataDir], { stdio: 'pipe' });
      }
    });
    const filler = join(dataDir, 'filler');
    writeFileSync(filler, Buffer.alloc(FILLER_MB * 1024 * 1024, 1));
    const a = await startDaemon(t, { dataDir: join(dataDir, 'node'), args: ['--name', 'full', '--n', '2', '--w', '1', '--r', '1'] });
    const b = await startDaemon(t, { args: ['--name', 'peer', '--join', a.addr] });
    pids = [a.pid, b.pid];
    await waitFor(async () => (await memberSeen(a.addr, 'peer'))?.health === 'alive', 'the peer to join');

    const client = await KvClient.connect(a.addr, { timeoutMs: 20_000 });
    t.teardown(() => client.close());
    /** Per key, the value last acknowledged, and values of later failed writes (which may or may not be stored). */
    const acknowledged = new Map<string, Buffer>();
    const failedCodes = new Map<string, number>();
    let failedAt: number | undefined;
    const put = async (key: string): Promise<boolean> => {
      const value = randomBytes(VALUE_BYTES);
      try {
        await client.put(key, value);
        acknowledged.set(key, value);
        return true;
      } catch (err) {
        const code = (err as KvError).code;
        failedCodes.set(code, (failedCodes.get(code) ?? 0) + 1);
        failedAt ??= Date.now();
        return false;
      }
    };

    // Four writers, overwriting a few hundred keys, until writes fail.
    const writer = async (w: number) => {
      for (let i = 0; failedAt === undefined && i < 2000; i++) await put(`k${w}:${i % 96}`);
    };
    await Promise.all([0, 1, 2, 3].map(writer));
    t.ok(failedAt !== undefined, `writes failed once the disk was full (${acknowledged.size} keys acknowledged before)`);
    t.same([...failedCodes.keys()], ['KV_STORAGE'], 'and failed with KV_STORAGE');

    const status = await json(['status', '--addr', a.addr]);
    t.equal(status.running, true);
    t.equal(status.health, 'degraded', 'status --json says degraded');
    const storage = status.storage as { state: string; cause: string; fault: string; since: number };
    t.match(storage.cause, /No space left on device/, `with the cause: ${storage.cause}`);
    t.equal(storage.fault, 'no-space');
    // Usually a table file (the memtable flush, a compaction: the error LevelDB remembers until reopened); on a busy machine sometimes the log.
    t.match(storage.cause, /\.(ldb|log): /, 'a LevelDB file ran out of space');
    t.comment(/\.ldb: /.test(storage.cause) ? 'the fault hit a memtable flush (a compaction)' : 'the fault hit the log write');
    const text = await kvctl(['status', '--addr', a.addr]);
    t.match(text.out, /health: +DEGRADED since .*No space left on device/, 'and so does its text');

    const self = await memberSeen(a.addr, 'full');
    t.match(self?.degraded, /No space left on device/, 'members on the node itself shows the cause');
    await waitFor(async () => (await memberSeen(b.addr, 'full'))?.degraded !== undefined, 'the peer to hear the node is degraded', 10_000);
    const plain = await kvctl(['members', '--addr', b.addr]);
    t.match(plain.out, /^full +degraded /m, `the peer's members table shows it degraded`);
    t.match(plain.out, /full is degraded \(.*No space left on device.*\)/, 'with a warning that says why');

    // Writes while degraded go to the healthy replica (this node forwards them; W=1), at once; reads go on.
    const during = Date.now();
    t.equal(await put('during'), true, 'a write sent to the degraded node is coordinated by its healthy peer and acknowledged');
    t.ok(Date.now() - during < 2000, 'at once, not after a timeout');
    const peerClient = await KvClient.connect(b.addr, { timeoutMs: 20_000 });
    t.teardown(() => peerClient.close());
    t.same((await peerClient.get('during', { r: 1 })).values[0], acknowledged.get('during'), 'the healthy peer holds it');
    const sample = [...acknowledged.entries()].slice(0, 5);
    for (const [key, value] of sample) t.same((await client.get(key)).values[0], value, `${key} readable while degraded`);

    // The disk works again: the node takes writes again on its own.
    const freedAt = Date.now();
    rmSync(filler);
    await waitFor(async () => (await json(['status', '--addr', a.addr])).health === 'up', 'the node to be up again', 30_000);
    const upAfterMs = Date.now() - freedAt;
    const recovered = await json(['status', '--addr', a.addr]);
    const reopens = (recovered.storage as { reopens: number }).reopens;
    t.ok(reopens >= 1, `LevelDB was reopened (${reopens} time(s)), up ${upAfterMs} ms after space was freed`);
    for (let i = 0; i < 20; i++) t.equal(await put(`after:${i}`), true, `write ${i} after recovery acknowledged`);
    await waitFor(async () => (await memberSeen(b.addr, 'full'))?.degraded === undefined, 'the peer to see the node up again', 10_000);
    t.equal((await memberSeen(b.addr, 'full'))?.health, 'alive');

    // What the log says, entering and leaving degraded, with the cause.
    const log = readFileSync(a.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; cause?: string; degradedMs?: number });
    const entered = log.find((l) => l.msg.startsWith('storage degraded'));
    const left = log.find((l) => l.msg.startsWith('storage recovered'));
    t.match(entered?.cause, /No space left on device/, 'the log says when it became degraded, and why');
    t.match(left?.cause, /No space left on device/, 'and when it recovered');
    t.comment(`degraded for ${left?.degradedMs} ms in all; up ${upAfterMs} ms after space was freed; ${reopens} reopen(s)`);

    // Nothing acknowledged is lost: read every key from this node alone (its peer stopped).
    killHard(b.pid);
    await waitFor(() => !isAlive(b.pid), 'the peer to exit');
    let missing = 0;
    let wrong = 0;
    acknowledged.delete('during'); // written while degraded, to the peer only (W=1, checked above)
    for (const [key, value] of acknowledged) {
      const r = await client.get(key, { r: 1 });
      if (!r.found) missing++;
      else if (!r.values.some((v) => Buffer.compare(v, value) === 0)) wrong++;
    }
    t.equal(missing, 0, `0 of ${acknowledged.size} acknowledged keys missing`);
    t.equal(wrong, 0, 'each holds the value last acknowledged');
  });
}
