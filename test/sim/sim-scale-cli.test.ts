/**
 * `npm run sim -- --nodes <n> --json` (bench/sim-scale.ts): one JSON object with the figures the
 * scale run promises; the table names them; bad flags exit 2.
 */
import t from 'tap';
import { scaleMain } from '../../bench/sim-scale.js';

async function captured(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...args: unknown[]) => void out.push(args.join(' '));
  console.error = (...args: unknown[]) => void err.push(args.join(' '));
  try {
    const code = await scaleMain(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

t.test('--json prints one object with the figures', async (t) => {
  const { code, out } = await captured(['--nodes', '8', '--seconds', '10', '--loss', '0.1', '--seed', '3', '--crashes', '1', '--json']);
  t.equal(code, 0, 'exits 0 when nothing acknowledged was lost');
  const lines = out.trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  const o = JSON.parse(lines[0] as string) as Record<string, unknown>;
  for (const key of [
    'nodes',
    'convergenceRounds',
    'bytesPerNodePerSec',
    'detectionMs',
    'falseDown',
    'acked',
    'lost',
    'traceHash',
    'wallSeconds',
    'cpuSeconds',
    'cpuSecondsPer1000Ops',
  ])
    t.ok(key in o, `has ${key}`);
  t.equal(o.nodes, 8);
  t.equal(o.lost, 0);
  t.ok((o.acked as number) > 0, 'writes were acknowledged');
  t.match(o.traceHash, /^[0-9a-f]{64}$/);
});

t.test('the table names every figure', async (t) => {
  const { code, out } = await captured(['--nodes', '6', '--seconds', '6', '--seed', '2', '--crashes', '0']);
  t.equal(code, 0);
  for (const label of [
    'convergence',
    'frame bytes per node per s',
    'crash detection',
    'false downs',
    'acked writes lost',
    'trace hash',
    'CPU seconds per 1,000 client ops',
  ])
    t.match(out, label);
});

t.test('bad flags exit 2 with the reason', async (t) => {
  t.match(await captured(['--nodes', '1']), { code: 2, err: /--nodes must be an integer of at least 2/ });
  t.match(await captured(['--nodes', '10', '--loss', '2']), { code: 2, err: /--loss must be a rate in \[0, 1\]/ });
  t.match(await captured(['--nodes', '10', '--bogus']), { code: 2, err: /Unknown option/ });
});
