/**
 * What parsing a request line costs, in ns per line, and how much of it is the check for a field
 * given twice (repeatedFieldName), measured in one run: a small get, a 1 KiB put, a 1 MiB put
 * (values in base64, as peers and binary clients send them) and a batch of 64 records between
 * peers (many small objects). Each figure is the median of seven rounds, the variants alternating
 * within a round so drift hits them alike. Columns: JSON.parse of the line alone; parseRequest as
 * the daemon runs it ("parse", the check included); the check on its own; and parse less the check.
 *
 *   npm run build && node dist/bench/parse-line.js
 */
import { randomBytes } from 'node:crypto';
import { defaultLimits } from '../src/config.js';
import { repeatedFieldName } from '../src/json.js';
import { parseRequest } from '../src/net/protocol.js';

interface Case {
  name: string;
  line: Buffer;
  /** Iterations per round: about 100 ms of work. */
  iterations: number;
}

const base64 = (bytes: number) => randomBytes(bytes).toString('base64');
const record = `{"clock":[["node1~5ccf6b6d",3]],"siblings":[["node1~5ccf6b6d",3,1732550000000,0,"${base64(1024)}"]]}`;
const cases: Case[] = [
  { name: 'get, small', line: Buffer.from('{"id":1,"op":"get","key":"user:12345"}'), iterations: 200_000 },
  {
    name: 'put, 1 KiB value',
    line: Buffer.from(`{"id":2,"op":"put","key":"dXNlcjoxMjM0NQ==","value":"${base64(1024)}","encoding":"base64"}`),
    iterations: 50_000,
  },
  {
    name: 'put, 1 MiB value',
    line: Buffer.from(`{"id":3,"op":"put","key":"dXNlcjoxMjM0NQ==","value":"${base64(defaultLimits.maxValueBytes)}","encoding":"base64"}`),
    iterations: 60,
  },
  {
    name: 'kv.replicate.many, 64 x 1 KiB',
    line: Buffer.from(
      `{"id":4,"op":"kv.replicate.many","items":[${Array.from({ length: 64 }, (_, i) => `{"key":"${Buffer.from(`key:${i}`).toString('base64')}","record":${record}}`).join(',')}]}`,
    ),
    iterations: 1_000,
  },
];

const ROUNDS = 7;
let sink = 0;

function timeNs(iterations: number, run: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - start) / iterations;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function measure({ line, iterations }: Case): { parse: number; check: number; jsonParse: number } {
  const parse = () => {
    sink += parseRequest(line, defaultLimits).request.op.length;
  };
  const check = () => {
    sink += repeatedFieldName(line) === undefined ? 1 : 0;
  };
  const jsonParse = () => {
    sink += Object.keys(JSON.parse(line.toString('utf8')) as object).length;
  };
  for (const warm of [parse, check, jsonParse]) timeNs(Math.max(10, iterations / 10), warm);
  const rounds = { parse: [] as number[], check: [] as number[], jsonParse: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.parse.push(timeNs(iterations, parse));
    rounds.check.push(timeNs(iterations, check));
    rounds.jsonParse.push(timeNs(iterations, jsonParse));
  }
  return { parse: median(rounds.parse), check: median(rounds.check), jsonParse: median(rounds.jsonParse) };
}

const ns = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} µs` : `${x.toFixed(0)} ns`);
console.log(`Node ${process.version}; ns per line, median of ${ROUNDS} rounds`);
console.log(
  [
    'line'.padEnd(30),
    'bytes'.padStart(9),
    'JSON.parse'.padStart(11),
    'parse, no check'.padStart(16),
    'check'.padStart(10),
    'parse'.padStart(10),
    'check/parse'.padStart(12),
  ].join(' '),
);
for (const c of cases) {
  if (repeatedFieldName(c.line) !== undefined) throw new Error(`${c.name}: the bench line gives a field twice`);
  const { parse, check, jsonParse } = measure(c);
  console.log(
    [
      c.name.padEnd(30),
      String(c.line.length).padStart(9),
      ns(jsonParse).padStart(11),
      ns(parse - check).padStart(16),
      ns(check).padStart(10),
      ns(parse).padStart(10),
      `${((check / parse) * 100).toFixed(1)} %`.padStart(12),
    ].join(' '),
  );
}
if (sink === 0) console.log('');
