/**
 * node.json in a data dir: the settings the node was last started with (see src/cli/node-settings.ts).
 * Plain JSON a person can read; written to a temporary file and renamed over the old one, so a
 * crash mid-write leaves the old file or the new one, never half of one.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { KvError } from '../errors.js';
import { isJsonObject } from '../json.js';
import { daemonPaths } from './paths.js';

/** Bumped if the file's shape ever changes incompatibly. */
const FORMAT = 1;

/** The saved settings of the node in `dataDir`, unchecked; undefined when none were saved. */
export function readSettingsFile(dataDir: string): Record<string, unknown> | undefined {
  const file = daemonPaths(dataDir).settingsFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KvError('KV_START_FAILED', `cannot read ${file}: ${(err as Error).message}`, { file });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new KvError('KV_START_FAILED', `${file} is not valid JSON (${(err as Error).message}); fix or delete it`, { file });
  }
  if (!isJsonObject(parsed) || parsed.format !== FORMAT || !isJsonObject(parsed.settings)) {
    throw new KvError('KV_START_FAILED', `${file} is not a kvctl node settings file (format ${FORMAT}); fix or delete it`, { file });
  }
  return parsed.settings;
}

/** Saves the settings atomically: a temporary file, flushed to disk, then renamed over the old one. */
export function writeSettingsFile(dataDir: string, settings: Record<string, unknown>): void {
  const file = daemonPaths(dataDir).settingsFile;
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify({ format: FORMAT, settings }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
