/**
 * Summarizes V8 `.cpuprofile`s (from `node --cpu-prof`, e.g. daemons run with BENCH_CPU_PROF):
 * self time per function and per source file, highest first, so a missed target can be traced to
 * its hot functions. Several files (e.g. the three daemons of a cluster) are summed into one listing.
 * Usage: `node dist/bench/cpu-profile-summary.js FILE.cpuprofile... [TOP]`.
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

export function summarize(profiles: CpuProfile | readonly CpuProfile[], top: number): string {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const profile of Array.isArray(profiles) ? profiles : [profiles]) {
    const self = selfTimeUs(profile);
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0;
      if (us === 0) continue;
      total += us;
      const { functionName, url, lineNumber } = node.callFrame;
      const file = url ? shortUrl(url) : '(native/vm)';
      const fn = `${functionName || '(anonymous)'} ${url ? `${file}:${lineNumber + 1}` : ''}`.trim();
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
      byFile.set(file, (byFile.get(file) ?? 0) + us);
    }
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

const args = process.argv.slice(2);
const files = args.filter((a) => !/^\d+$/.test(a));
const topArg = args.find((a) => /^\d+$/.test(a));
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/cpu-profile-summary.js FILE.cpuprofile... [TOP]\n');
  process.exitCode = 2;
} else {
  const profiles = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  process.stdout.write(`${summarize(profiles, Number(topArg ?? 25))}\n`);
}
