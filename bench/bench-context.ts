/** What every bench section gets: the run's settings, the report, and the resource registry. */
import type { Report } from './report.js';
import type { Resources } from './resources.js';

export interface BenchConfig {
  /** `--quick`: a smoke run (fewer keys, one round). */
  quick: boolean;
  /** Keys written per put phase (each a fresh key). */
  keys: number;
  /** Requests per measured get phase. */
  getOps: number;
  /** Unmeasured requests before each measured phase. */
  warmOps: number;
  /**
   * Unmeasured puts before the first phase of a fresh daemon, cluster or raw LevelDB instead: JIT
   * tiering, heap growth and LevelDB's first files. Measured: a fresh 3-node cluster's first ~50,000
   * puts ran at 10-15k/s and 110-180 µs of daemon CPU each, later ones at 18-25k/s and 63-94 µs.
   */
  freshWarmOps: number;
  /** Measured rounds per phase; tables show the median round and the spread. */
  rounds: number;
  startupRuns: number;
  codecDocs: number;
  /** Keys loaded into the repair section's cluster (section 7). */
  repairKeys: number;
  /** Keys changed while node3 is cut off, one repair per entry (section 7). */
  repairDiffs: number[];
  /** Added to the environment of `kvctl start` (and so of the daemon), e.g. for profiling. */
  daemonEnv: NodeJS.ProcessEnv;
}

export interface BenchContext {
  config: BenchConfig;
  report: Report;
  resources: Resources;
}

/** Value size of the put/get sections, bytes. */
export const VALUE_BYTES = 1024;
/** Brotli quality the daemon uses (src/config.ts) and the codec section measures. */
export const QUALITY = 4;
