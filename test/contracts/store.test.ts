/** The Store contract, against every Store: the memory store, LevelDB, LevelDB with fsync. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LevelStore } from '../../src/storage/level-store.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { storeConformance } from './store-contract.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-store-contract-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

storeConformance(t, 'MemoryStore', async () => new MemoryStore());
storeConformance(t, 'LevelStore', async (t) => LevelStore.open(join(tempDir(t), 'db'), { sync: false }));
storeConformance(t, 'LevelStore (sync)', async (t) => LevelStore.open(join(tempDir(t), 'db'), { sync: true }));
