// Writes oclif.manifest.json from the built commands, so the CLI starts without importing every
// command file (measured: 124 ms with a manifest vs 385 ms without, once one command imports ink).
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, 'oclif.manifest.json');
rmSync(file, { force: true }); // a stale manifest would be read instead of the commands
const config = await Config.load(root);
const plugin = config.getPluginsList().find((p) => p.root === root);
writeFileSync(file, `${JSON.stringify(plugin.manifest, null, 2)}\n`);
console.log(`wrote ${Object.keys(plugin.manifest.commands).length} commands to oclif.manifest.json`);
