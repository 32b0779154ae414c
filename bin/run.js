// oclif entry: commands come from oclif.manifest.json (written at build time) and load lazily.
// What no command caught (an unknown command, help for one, a plugin's error) is reported here in the
// same `kvctl: … [KV_CODE]` / {"ok":false,…} form as command errors; that code loads only on failure.
import { Config, flush, run } from '@oclif/core';

const argv = process.argv.slice(2);
try {
  await run(argv, import.meta.url);
  await flush();
} catch (err) {
  const { reportUncaught } = await import('../dist/src/cli/usage-errors.js');
  const commandIds = async () => {
    const config = await Config.load(import.meta.url);
    return config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '));
  };
  process.exit(await reportUncaught(err, argv, commandIds));
}
