/**
 * Invariants of a simulated cluster, checked as it runs (after every step) rather than only at the
 * end, so a failure is caught near its cause. The checker watches every disk (sim-store.ts): each
 * record written or lost is decoded once, as it changes.
 *
 * - siblings-concurrent: the siblings of a stored record are pairwise concurrent. Each dot's causal
 *   past is taken from the record it was minted in, at its own node: everything that record's clock
 *   covers except the siblings it kept (those are concurrent with it). A sibling in another's past
 *   means a merge kept a version its successor had replaced.
 * - dot-unique: a dot names one value everywhere. A node that mints a dot it had minted before (its
 *   counter rolled back) makes replicas keep different values under one version, which no
 *   merge or repair ever reconciles.
 * - acked-on-disk: every acknowledged value is on some disk (data or hint), crashed nodes' disks
 *   included, unless a causal successor accounts for it (see ack-ledger.ts). Checked per key, for
 *   the keys whose records changed or whose writes were acknowledged since the last step.
 * - ring-converged: at quiet points (no fault for a while, every node up) every node has one
 *   placement: the same ring and N.
 */
import { brotliDecompressSync } from 'node:zlib';
import { coversDot, type Sibling, type VersionVector } from '../clock/index.js';
import type { Clock } from '../env/clock.js';
import { type ClusterState, ringFingerprint } from '../membership/cluster-state.js';
import { CODEC_BROTLI, type StoredValue } from '../storage/codec.js';
import { decodeRecord, type StoredRecord } from '../storage/record-format.js';
import type { AckLedger } from './ack-ledger.js';
import type { DiskListener } from './sim-store.js';

export type InvariantName = 'siblings-concurrent' | 'dot-unique' | 'acked-on-disk' | 'ring-converged' | 'replicas-agree' | 'acked-readable';

export interface Violation {
  invariant: InvariantName;
  /** Virtual time it was found. */
  at: number;
  detail: string;
}

/** What the checker learned of a dot when it first saw it. */
interface DotInfo {
  /** Its value as stored (null: a tombstone), and decoded. */
  stored: Buffer | null;
  value: string | null;
  /** The clock of the record it was minted in, and the other siblings that record kept. */
  originClock: VersionVector | undefined;
  originSiblings: Set<string> | undefined;
}

const DATA = 'd';
const HINT = 'h';
/** Hint values start with a u48 timestamp (hint-store.ts). */
const HINT_HEADER_BYTES = 6;

function dotKey(s: Sibling<unknown>): string {
  return `${s.dot[0]}:${s.dot[1]}`;
}

function scoped(userKey: string, s: Sibling<unknown>): string {
  return `${userKey}\u0000${dotKey(s)}`;
}

function decodeValue(value: StoredValue | null): string | null {
  if (value === null) return null;
  return (value.codec === CODEC_BROTLI ? brotliDecompressSync(value.stored) : value.stored).toString('utf8');
}

function short(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}

export class InvariantChecker {
  readonly violations: Violation[] = [];
  /** Per key (latin1) and dot: a dot is an event of one key's record (its counter is per key). */
  private readonly dots = new Map<string, DotInfo>();
  /** Per node, the dots each data or hint record holds (store key, latin1). */
  private readonly held = new Map<string, Map<string, string[]>>();
  /** Keys (latin1) whose records changed since the last step. */
  private changed = new Set<string>();
  /** Values already reported lost, so a loss is reported once. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly ledger: AckLedger | undefined,
  ) {}

  /** The listener for the disk of node `name`. */
  listen(name: string): DiskListener {
    const held = new Map<string, string[]>();
    this.held.set(name, held);
    return (storeKey, value) => {
      let userKey: string;
      let record: StoredRecord | undefined;
      if (storeKey.startsWith(DATA)) {
        userKey = storeKey.slice(1);
        record = value && decodeRecord(value);
      } else if (storeKey.startsWith(HINT)) {
        userKey = storeKey.slice(storeKey.indexOf('\u0000', 1) + 1);
        record = value && decodeRecord(value.subarray(HINT_HEADER_BYTES));
      } else {
        return;
      }
      this.changed.add(userKey);
      if (!record) {
        held.delete(storeKey);
        return;
      }
      held.set(
        storeKey,
        record.siblings.map((s) => scoped(userKey, s)),
      );
      this.inspect(name, storeKey, userKey, record);
    };
  }

  /** Checks a record as it lands: one value per dot, siblings pairwise concurrent. */
  private inspect(node: string, storeKey: string, userKey: string, record: StoredRecord): void {
    for (const s of record.siblings) {
      const key = scoped(userKey, s);
      let info = this.dots.get(key);
      const stored = s.value?.stored ?? null;
      if (!info) {
        info = { stored, value: decodeValue(s.value), originClock: undefined, originSiblings: undefined };
        this.dots.set(key, info);
      } else if (!(stored === null ? info.stored === null : info.stored?.equals(stored))) {
        const value = decodeValue(s.value);
        if (value !== info.value) {
          this.fail(
            'dot-unique',
            `dot ${dotKey(s)} of ${JSON.stringify(userKey)} names two values: ${short(String(info.value))} and, at ${node}, ${short(String(value))}`,
          );
        }
      }
      // Minted here: the first record holding it at its own node is the one it was minted in.
      if (info.originClock === undefined && s.dot[0].split('~')[0] === node) {
        info.originClock = record.clock;
        info.originSiblings = new Set(record.siblings.filter((o) => o !== s).map(dotKey));
      }
    }
    for (const a of record.siblings) {
      const origin = this.dots.get(scoped(userKey, a));
      if (!origin?.originClock) continue;
      for (const b of record.siblings) {
        if (b === a || !coversDot(origin.originClock, b.dot) || origin.originSiblings?.has(dotKey(b))) continue;
        this.fail(
          'siblings-concurrent',
          `${node} ${storeKey.startsWith(HINT) ? 'hint' : 'record'} for ${JSON.stringify(userKey)} holds ${dotKey(a)} and ${dotKey(b)}, which ${dotKey(a)} replaced`,
        );
      }
    }
  }

  /**
   * The per-step check of acknowledged writes: for each key whose records changed or whose writes
   * were acknowledged since the last step, every value the ledger says is owed is on some disk.
   */
  checkStep(nodes: readonly string[]): void {
    if (!this.ledger) {
      this.changed.clear();
      return;
    }
    const keys = this.changed;
    this.changed = new Set();
    for (const key of this.ledger.takeAcked()) keys.add(Buffer.from(key, 'utf8').toString('latin1'));
    for (const latin of keys) {
      const key = Buffer.from(latin, 'latin1').toString('utf8');
      const lost = this.ledger.lost(key, this.onDisk(latin, nodes)).filter((w) => !this.reported.has(w.value));
      if (lost.length === 0) continue;
      for (const w of lost) this.reported.add(w.value);
      this.fail('acked-on-disk', `key ${key}: ${lost.map((w) => short(w.value)).join(', ')} acknowledged, now on no disk and not replaced`);
    }
  }

  /** Values of `key` (latin1) held on any node's disk, in its data record or in a hint. */
  private onDisk(latin: string, nodes: readonly string[]): Set<string> {
    const values = new Set<string>();
    const add = (dots: string[] | undefined) => {
      for (const dot of dots ?? []) {
        const value = this.dots.get(dot)?.value;
        if (value !== null && value !== undefined) values.add(value);
      }
    };
    for (const held of this.held.values()) {
      add(held.get(DATA + latin));
      for (const target of nodes) add(held.get(`${HINT}${target}\u0000${latin}`));
    }
    return values;
  }

  /** At a quiet point: every node given has the same placement (ring and N). */
  checkRings(nodes: readonly { name: string; state: ClusterState }[]): void {
    const placements = nodes.map((n) => `${n.name}=${ringFingerprint(n.state.ring, n.state.settings.n)}`);
    const distinct = new Set(placements.map((p) => p.split('=')[1]));
    if (distinct.size > 1) this.fail('ring-converged', `nodes disagree on the placement after a quiet period: ${placements.join(' ')}`);
  }

  fail(invariant: InvariantName, detail: string): void {
    this.violations.push({ invariant, at: this.clock.now(), detail });
  }
}
