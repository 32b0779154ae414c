/**
 * Durability: every put the daemon acknowledged survives kill -9 of the daemon. Without --sync a
 * write is acknowledged once LevelDB appended it to its log in the OS page cache (survives a
 * process crash, not an OS crash); with --sync the group commit is fsynced before acknowledging.
 */
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { isAlive, startDaemon, waitFor } from '../helpers/cli.js';

for (const sync of [false, true]) {
  t.test(`kill -9 under write load loses no acknowledged put (sync: ${sync})`, async (t) => {
    const daemon = await startDaemon(t, { args: sync ? ['--sync'] : [] });
    const client = await KvClient.connect(daemon.addr, { timeoutMs: 5000 });
    const acknowledged = new Map<string, string>();
    let attempted = 0;
    let killed = false;
    // Writers keep 32 puts in flight until the daemon dies under them.
    const writer = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const key = `dur:${w}:${i}`;
        const value = `${key}:${'x'.repeat(i % 700)}`;
        attempted++;
        try {
          await client.put(key, value);
          acknowledged.set(key, value);
        } catch {
          return;
        }
      }
    };
    const writers = Array.from({ length: 32 }, (_, w) => writer(w));
    await waitFor(() => acknowledged.size >= 3000, '3000 acknowledged puts', 60_000);
    process.kill(daemon.pid, 'SIGKILL');
    killed = true;
    await Promise.all(writers);
    await waitFor(() => !isAlive(daemon.pid), 'the daemon to die');
    t.ok(attempted > acknowledged.size || acknowledged.size >= 3000, `${acknowledged.size} acknowledged of ${attempted} attempted`);

    const restarted = await startDaemon(t, { dataDir: daemon.dataDir });
    const reader = await KvClient.connect(restarted.addr);
    t.teardown(() => reader.close());
    let missing = 0;
    let wrong = 0;
    const entries = [...acknowledged];
    for (let i = 0; i < entries.length; i += 256) {
      const batch = entries.slice(i, i + 256);
      const results = await Promise.all(batch.map(([key]) => reader.get(key)));
      results.forEach((r, j) => {
        const expected = (batch[j] as [string, string])[1];
        if (!r.found) missing++;
        else if (r.values.length !== 1 || r.values[0]?.toString() !== expected) wrong++;
      });
    }
    t.equal(missing, 0, `0 of ${acknowledged.size} acknowledged puts missing after kill -9`);
    t.equal(wrong, 0, 'every value is exactly what was acknowledged');
  });
}
