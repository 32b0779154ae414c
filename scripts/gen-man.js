// Regenerates man/kvctl.1 from the built manifest and error registry (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderManPage } from '../dist/src/cli/man-page.js';

const manifest = JSON.parse(readFileSync(new URL('../oclif.manifest.json', import.meta.url), 'utf8'));
writeFileSync(new URL('../man/kvctl.1', import.meta.url), renderManPage(manifest));
console.log('wrote man/kvctl.1');
