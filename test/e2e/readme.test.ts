/**
 * The README's tour and guarantee examples work as written. The ```sh blocks between the
 * `readme-test: begin` and `readme-test: end` comments run in order in one bash session, after the
 * daemon-starting part of the README's first command (its npm steps are what `npm test` already
 * did). A line ending in `# → TEXT` must print TEXT (` / ` separates lines). Any command that
 * fails fails its block, reported with the block's text and output.
 *
 * Isolation: HOME and XDG_DATA_HOME are a fresh temporary dir (so every default data dir is new),
 * KVCTL_PORT is the start of a run of free ports (the embedded default port and the client's
 * default address both follow it), PATH holds no other kvctl (the tour puts ./bin on it itself).
 * Every daemon whose pid file lies in that temporary dir and that runs with it is killed at the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { killHard, tempDir } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SESSION_TIMEOUT_MS = 240_000;

interface ShellBlock {
  /** 1-based line of the opening fence in README.md. */
  line: number;
  text: string;
}

const lineOf = (index: number) => README.slice(0, index).split('\n').length;

/** The ```sh blocks between the markers, dedented (blocks inside list items are indented). */
function tourBlocks(): ShellBlock[] {
  const begin = README.indexOf('<!-- readme-test: begin -->');
  const end = README.indexOf('<!-- readme-test: end -->');
  if (begin < 0 || end < begin) throw new Error('README.md lacks the readme-test begin/end markers');
  const blocks: ShellBlock[] = [];
  for (const m of README.slice(begin, end).matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)) {
    const indent = (m[1] as string).length;
    const text = (m[2] as string)
      .split('\n')
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    blocks.push({ line: lineOf(begin + (m.index ?? 0)), text: text.trimEnd() });
  }
  return blocks;
}

/** The README's first command without its npm steps: the start, put and get the tour follows. */
function firstCommandStart(): ShellBlock {
  const m = /^```sh\n(.*)\n/.exec(README);
  if (!m) throw new Error('README.md does not open with a ```sh block');
  const steps = (m[1] as string).split(' && ').filter((step) => !step.startsWith('npm '));
  return { line: 2, text: steps.join(' && ') };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `cmd   # → a / b` becomes: run cmd, print its output, and fail unless it printed the lines a and b. */
function withOutputChecks(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(.*?)\s+# → (.*)$/.exec(line);
      return m ? `__out=$(${m[1]}); printf '%s\\n' "$__out"; __expect ${quote(m[2] as string)} "$__out"` : line;
    })
    .join('\n');
}

const PRELUDE = `set -e
exec 2>&1
trap 'echo "@@@ failed (exit $?): $BASH_COMMAND"' ERR
__expect() {
  local want=\${1// \\/ /$'\\n'}
  [ "$2" = "$want" ] && return 0
  printf '@@@ expected: %s\\n@@@ printed:  %s\\n' "$1" "\${2//$'\\n'/ / }"
  return 1
}`;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free loopback ports, from a random start so parallel runs rarely meet. */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await portIsFree(base + i);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** A user's environment: no tap loader, no npm script variables, no kvctl settings, no kvctl on PATH. */
function isolatedEnv(home: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('KVCTL_') || k.startsWith('TAP') || (k.startsWith('npm_') && !k.startsWith('npm_config_'))) continue;
    env[k] = v;
  }
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir && spawnSync('test', ['-x', join(dir, 'kvctl')]).status !== 0);
  return { ...env, HOME: home, XDG_DATA_HOME: join(home, '.local', 'share'), KVCTL_PORT: String(port), PATH: path.join(delimiter), TERM: 'dumb' };
}

/** Kills the daemons this run started: those with a pid file under `home` whose environment names `home`. */
function killDaemonsUnder(home: string): number[] {
  const killed: number[] = [];
  const pidFiles = readdirSync(home, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('kvctl.pid'));
  for (const file of pidFiles) {
    try {
      const { pid } = JSON.parse(readFileSync(join(home, file), 'utf8')) as { pid: number };
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').includes(home)) continue; // exited; the pid may be another's now
      killHard(pid);
      killed.push(pid);
    } catch {
      // no such process, or a pid file being rewritten: nothing of ours to kill
    }
  }
  return killed;
}

function runSession(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const bash = spawn('bash', ['--noprofile', '--norc', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    bash.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    bash.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => {
      output += `\n@@@ timed out after ${SESSION_TIMEOUT_MS} ms`;
      process.kill(-(bash.pid as number), 'SIGKILL');
    }, SESSION_TIMEOUT_MS);
    bash.on('error', reject);
    bash.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

t.test("the README's tour and guarantee examples work when pasted in order", async (t) => {
  if (spawnSync('sh', ['-c', 'command -v jq']).status !== 0) {
    t.fail('the tour uses jq: install it (apt-get install jq)');
    return;
  }
  const blocks = [firstCommandStart(), ...tourBlocks()];
  t.ok(blocks.length > 10, `found the tour's blocks (${blocks.length - 1})`);
  t.match(blocks[1]?.text ?? '', /export PATH="\$PWD\/bin:\$PATH"/, 'the tour starts by putting kvctl on PATH');

  const home = tempDir(t, 'kvctl-readme-');
  const script = join(home, 'tour.sh');
  // Markers start on a line of their own: a value printed without a newline must not hide them.
  const body = blocks.map(
    (b, i) => `printf '\\n@@@ block ${i} %s\\n' $EPOCHREALTIME\n${withOutputChecks(b.text)}\nprintf '\\n@@@ ok ${i} %s\\n' $EPOCHREALTIME`,
  );
  writeFileSync(script, `${PRELUDE}\n${body.join('\n')}\n`);

  let result: { code: number | null; output: string };
  try {
    result = await runSession(script, isolatedEnv(home, await freePortRun(8)));
  } finally {
    const killed = killDaemonsUnder(home);
    t.comment(`daemons still running at the end, killed: ${killed.length}`);
  }
  for (const [i, block] of blocks.entries()) {
    const began = new RegExp(`^@@@ block ${i} ([\\d.]+)$`, 'm').exec(result.output);
    const done = new RegExp(`^@@@ ok ${i} ([\\d.]+)$`, 'm').exec(result.output);
    if (began && done) {
      const seconds = (Number(done[1]) - Number(began[1])).toFixed(1);
      t.pass(`README line ${block.line} (${seconds} s): ${block.text.split('\n')[0]?.replace(/\s+#.*$/, '')}`);
      continue;
    }
    const start = began?.index ?? -1;
    t.fail(`README line ${block.line}: this block failed`, {
      block: block.text,
      output: start < 0 ? result.output.slice(-4000) : result.output.slice(start).slice(-4000),
      exitCode: result.code,
    });
    return; // later blocks depend on this one and did not run
  }
  t.equal(result.code, 0, 'the session ends cleanly');
});
