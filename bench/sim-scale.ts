/**
 * The scale run of the simulator: `npm run sim -- --nodes 1000 --seconds 60 --loss 0.1 --seed 1 [--json]`
 * boots a whole cluster of real nodes at once, runs a client workload, crashes a few nodes and
 * prints what membership cost (src/sim/scale-run.ts), beside the figures measured before the
 * membership rework where there are some. Exits 1 when an acknowledged write was lost, 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { type ScaleOptions, type ScaleOutcome, scaleRun } from '../src/sim/scale-run.js';

/** From this size up, runs start joined unless told otherwise. */
const JOINED_FROM = 300;

const HELP = `Usage: npm run sim -- --nodes <n> [options]

Boots <n> real nodes at once (N=3 W=2 R=2) on a simulated network, every one joining through the
seeds (or, with --start joined, knowing every other already), runs a client workload throughout,
crashes a few nodes at known times and restarts them at the end, and prints: convergence (gossip
rounds until every node sees every member alive), rounds until every node sees the restarted
nodes alive, frame bytes per node per virtual second (gossip and the rest, and in the steady
state), crash detection times (p50/p99/max over every live observer), false downs (a live node
seen down, transitions), acknowledged and lost writes (every acknowledged write read back at R at
the end), the trace hash (the same on every replay), and the wall-clock and CPU seconds.

Options:
  --nodes <n>            cluster size (required for this mode; --seeds runs the seed sweep)
  --seconds <s>          virtual seconds (default 60)
  --loss <rate>          message loss, 0..1 (default 0.1)
  --seed <n>             seed (default 1)
  --ops-per-sec <n>      client operations per virtual second (default 50)
  --keys <n>             keys written (default 500)
  --value-bytes <n>      pad values to n bytes; 512 or more exercises compression
  --crashes <n>          nodes crashed between 40 % and 70 % of the run (default 3)
  --join-seeds <n>       seed nodes (default 3)
  --start cold|joined    cold: every node joins at once through the seeds; joined: every node
                         starts knowing every other, as a converged cluster (default: cold below
                         ${JOINED_FROM} nodes, joined from ${JOINED_FROM}: a cold start of 1,000 nodes costs
                         an hour of CPU to simulate, most of it every node's ring and trees)
  --scan-ms <ms>         false-down scan period, virtual ms (default 500)
  --full-trace           hash whole messages (default: each message's header and first bytes)
  --json                 print one JSON object
  --help                 this text`;

/** Measured with whole-table gossip (before digests and deltas), per cluster size (10 % loss): rounds, bytes per node per second. */
const BEFORE: Record<number, { rounds: string; bytesPerNodePerSec: string }> = {
  50: { rounds: '4.8-5.1', bytesPerNodePerSec: `${fmtBytes(2.6e6 / 50 / 0.2)}` },
  200: { rounds: '6.4-6.9', bytesPerNodePerSec: `${fmtBytes(41.7e6 / 200 / 0.2)}` },
  1000: { rounds: '7.5-9.3', bytesPerNodePerSec: `${fmtBytes(1.04e9 / 1000 / 0.2)}` },
};

export async function scaleMain(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let options: ScaleOptions;
  try {
    options = {
      nodes: integer('--nodes', values.nodes ?? '', 2),
      seconds: values.seconds === undefined ? 60 : integer('--seconds', values.seconds, 1),
      lossRate: values.loss === undefined ? 0.1 : rate(values.loss),
      seed: values.seed === undefined ? 1 : integer('--seed', values.seed, 0),
      opsPerSecond: values['ops-per-sec'] === undefined ? undefined : integer('--ops-per-sec', values['ops-per-sec'], 1),
      keys: values.keys === undefined ? undefined : integer('--keys', values.keys, 1),
      valueBytes: values['value-bytes'] === undefined ? undefined : integer('--value-bytes', values['value-bytes'], 1),
      crashes: values.crashes === undefined ? undefined : integer('--crashes', values.crashes, 0),
      seeds: values['join-seeds'] === undefined ? undefined : integer('--join-seeds', values['join-seeds'], 1),
      joined: values.start === undefined ? undefined : startMode(values.start),
      scanMs: values['scan-ms'] === undefined ? undefined : integer('--scan-ms', values['scan-ms'], 10),
      trace: values['full-trace'] ? 'full' : 'headers',
    };
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  options.joined ??= options.nodes >= JOINED_FROM;
  if (!values.json) {
    const start = options.joined ? 'joined start' : 'cold start';
    console.log(`scale run: ${options.nodes} nodes, ${options.seconds} virtual s, loss ${options.lossRate}, seed ${options.seed}, ${start}`);
    options.onProgress = (line) => console.log(`  ${line}`);
  }
  const outcome = await scaleRun(options);
  if (values.json) console.log(JSON.stringify(outcome));
  else console.log(table(outcome));
  return outcome.lost > 0 ? 1 : 0;
}

function table(o: ScaleOutcome): string {
  const before = BEFORE[o.nodes];
  const d = o.detectionMs;
  const rows: [string, string, string][] = [
    ['nodes', String(o.nodes), ''],
    [
      'convergence (virtual s / gossip rounds)',
      o.convergenceMs === null ? 'never' : `${(o.convergenceMs / 1000).toFixed(1)} s / ${o.convergenceRounds}`,
      before ? `${before.rounds} rounds` : '',
    ],
    ['rounds until a restarted node is seen alive by all', o.rejoinRounds === null ? 'not within 5 s' : String(o.rejoinRounds), ''],
    ['frame bytes per node per s (whole run)', fmtBytes(o.bytesPerNodePerSec), before ? `~${before.bytesPerNodePerSec} (gossip)` : ''],
    ['  gossip / the rest', `${fmtBytes(o.gossipBytesPerNodePerSec)} / ${fmtBytes(o.otherBytesPerNodePerSec)}`, ''],
    [
      '  steady (after the boot news settled)',
      o.steadyBytesPerNodePerSec === null ? '-' : `${fmtBytes(o.steadyBytesPerNodePerSec)} (settled at ${((o.settledMs ?? 0) / 1000).toFixed(1)} s)`,
      '',
    ],
    ['crash detection p50 / p99 / max', `${d.p50} / ${d.p99} / ${d.max} ms (${d.count} views of ${o.crashed.length} crashes)`, ''],
    ['  views that never saw a crash', String(o.undetected), ''],
    ['false downs (transitions)', String(o.falseDown), ''],
    ['client ops / acked / failed', `${o.ops} / ${o.acked} / ${o.failed}`, ''],
    ['acked writes lost', String(o.lost), ''],
    ['trace hash', o.traceHash.slice(0, 16), ''],
    ['wall / CPU seconds', `${o.wallSeconds} / ${o.cpuSeconds} (harness scans ${o.harnessCpuSeconds})`, ''],
    ['CPU seconds per 1,000 client ops', String(o.cpuSecondsPer1000Ops), ''],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length), 'this run'.length);
  const line = (r: [string, string, string]) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}`.trimEnd();
  return [line(['', 'this run', before ? 'whole-table gossip (10 % loss)' : '']), ...rows.map(line)].join('\n');
}

function fmtBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} KB`;
  return `${Math.round(bytes)} B`;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      seconds: { type: 'string' },
      loss: { type: 'string' },
      seed: { type: 'string' },
      'ops-per-sec': { type: 'string' },
      keys: { type: 'string' },
      'value-bytes': { type: 'string' },
      crashes: { type: 'string' },
      'join-seeds': { type: 'string' },
      start: { type: 'string' },
      'scan-ms': { type: 'string' },
      'full-trace': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
}

function startMode(text: string): boolean {
  if (text !== 'cold' && text !== 'joined') throw new Error(`--start must be cold or joined, not ${JSON.stringify(text).slice(0, 40)}`);
  return text === 'joined';
}

function integer(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (text === '' || !Number.isSafeInteger(n) || n < min) throw new RangeError(`${flag} must be an integer of at least ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function rate(text: string): number {
  const n = Number(text);
  if (text === '' || !(n >= 0 && n <= 1)) throw new RangeError(`--loss must be a rate in [0, 1], got ${JSON.stringify(text)}`);
  return n;
}
