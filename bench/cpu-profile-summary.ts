/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. daemons run with BENCH_CPU_PROF):
 * self time per function and per source file, highest first, so a missed target can be traced to
 * its hot functions. Usage: `node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]`.
 */
import { readFileSync } from 'node:fs';
import { fmt } from './report.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in µs per profile node id, from the sample stream (each sample owns the next delta). */
function selfTimeUs(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + delta);
  });
  return self;
}

function shortUrl(url: string): string {
  const at = url.search(/\/(dist|node_modules)\//);
  return at >= 0 ? url.slice(at + 1) : url.replace(/^file:\/\//, '');
}

export function summarize(profile: CpuProfile, top: number): string {
  const self = selfTimeUs(profile);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? shortUrl(url) : '(native/vm)';
    const fn = `${functionName || '(anonymous)'} ${url ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const lines = [`profile: ${fmt(total / 1000, 0)} ms sampled`];
  const listing = (title: string, map: Map<string, number>) => {
    lines.push('', title);
    for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      lines.push(`${fmt((us / total) * 100, 1).padStart(6)}%  ${fmt(us / 1000, 0).padStart(7)} ms  ${name}`);
    }
  };
  listing('self time by function', byFunction);
  listing('self time by file', byFile);
  return lines.join('\n');
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]\n');
  process.exitCode = 2;
} else {
  process.stdout.write(`${summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(topArg ?? 25))}\n`);
}
