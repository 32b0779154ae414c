// oclif entry: commands come from oclif.manifest.json (written at build time) and load lazily.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
