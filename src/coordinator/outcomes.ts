/**
 * What the coordinator's paths share: their deps, the outcomes they return, their counters, and
 * the one quorum error both reads and writes report.
 */
import type { VersionVector } from '../clock/index.js';
import type { Consistency } from '../config.js';
import { KvError } from '../errors.js';
import type { HintStore } from '../handoff/hint-store.js';
import type { QuorumSummary } from '../quorum/quorum.js';
import type { EngineDeps } from '../replica/engine-deps.js';
import type { StoredRecord } from '../storage/record-format.js';

export interface CoordinatorDeps extends EngineDeps {
  hints: HintStore;
}

export interface WriteOutcome {
  record: StoredRecord;
  existed: boolean;
  quorum: QuorumSummary;
  /** Replicas a fallback took the write for (sloppy quorum), each with a hint stored durably. */
  hinted: string[];
  /** Replicas whose hint a fallback dropped (its hint cap for them was reached) and no other fallback kept. */
  hintsDropped: string[];
}

export interface ReadOutcome {
  record: StoredRecord | undefined;
  quorum: QuorumSummary;
  /** Fallbacks that answered for down replicas (sloppy): the result may be stale. */
  fallbacks: string[];
}

export interface WriteOptions {
  w?: number;
  consistency?: Consistency;
  /** Without a context: supersede nothing (the new version is a sibling of what is there). */
  keepSiblings?: boolean;
  /** When the value expires, wall-clock ms (absent: never): set by the node the client asked, carried as it is. */
  expiresAt?: number;
  /** A write another node sent us to coordinate (never forwarded again). */
  forwarded?: boolean;
}

/** A write as the coordinator takes it (value null: a delete). */
export interface WriteRequest {
  key: Buffer;
  value: Buffer | null;
  context: VersionVector | undefined;
  options: WriteOptions;
}

export interface CoordinatorCounters {
  forwarded: number;
  readRepairs: number;
  quorumFailures: number;
  /** Fallbacks asked within a request in place of a replica that failed it (sloppy). */
  standIns: number;
  /** Replicas that did not answer a request within their deadline. */
  replicaDeadlinesMissed: number;
}

/**
 * KV_QUORUM_NOT_MET, saying how many of the key's replicas answered and why the others did not
 * (counted).
 */
export function quorumError(
  counters: CoordinatorCounters,
  field: 'w' | 'r',
  summary: QuorumSummary,
  replicas: number,
  failures: ReadonlyMap<string, string> = new Map(),
): KvError {
  counters.quorumFailures++;
  const verb = field === 'w' ? 'acknowledged the write' : 'answered the read';
  const why = failures.size > 0 ? ` (${[...failures].map(([name, reason]) => `${name}: ${reason}`).join('; ')})` : '';
  return new KvError('KV_QUORUM_NOT_MET', `only ${summary.replied} of ${replicas} replicas ${verb}; ${field.toUpperCase()}=${summary.needed} needed${why}`, {
    ...summary,
    replicas,
    ...(failures.size > 0 ? { failures: Object.fromEntries(failures) } : {}),
  });
}

/** Why a replica failed a request, for the quorum error: its error code, or the deadline it missed. */
export function failureReason(err: unknown): string {
  const code = (err as KvError | undefined)?.code;
  return code ?? String(err);
}

/** The reason given for a replica that did not answer within `ms`. */
export function missedDeadline(ms: number): string {
  return `no reply within ${ms} ms`;
}
