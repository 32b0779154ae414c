/**
 * Invariants of a simulated cluster, checked as it runs (after every step) rather than only at the
 * end, so a failure is caught near its cause. The checker watches every disk (sim-store.ts): each
 * record written or lost is decoded once, as it changes.
 *
 * - siblings-concurrent: the siblings of a stored record are pairwise concurrent. Each dot's causal
 *   past is taken from the record it was minted in, at its own node: everything that record's clock
 *   covers except the siblings it kept (those are concurrent with it). A sibling in another's past
 *   means a merge kept a version its successor had replaced.
 * - dot-unique: a dot names one value everywhere. A node may mint a dot again only if no disk has
 *   seen it (it was lost before it left the node, with the power); otherwise its counter rolled back
 *   and replicas hold, or have replaced, another version under the same dot: they drop the new
 *   one on merge, and no repair ever tells the two apart.
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

/** A record as the checker keeps it: its dots (scoped by key) and its clock. */
interface HeldRecord {
  dots: string[];
  clock: VersionVector;
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
  /** Per node, what each data or hint record holds (by store key, latin1): its dots and clock. */
  private readonly held = new Map<string, Map<string, HeldRecord>>();
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
    const held = new Map<string, HeldRecord>();
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
      held.set(storeKey, { dots: record.siblings.map((s) => scoped(userKey, s)), clock: record.clock });
      this.inspect(name, storeKey, userKey, record);
    };
  }

  /** Checks a record as it lands: one value per dot, siblings pairwise concurrent. */
  private inspect(node: string, storeKey: string, userKey: string, record: StoredRecord): void {
    for (const s of record.siblings) {
      const key = scoped(userKey, s);
      let info = this.dots.get(key);
      const stored = s.value?.stored ?? null;
      const mintedHere = s.dot[0].split('~')[0] === node;
      if (info && !(stored === null ? info.stored === null : info.stored?.equals(stored))) {
        const value = decodeValue(s.value);
        if (value !== info.value) {
          if (mintedHere && !this.seenElsewhere(userKey, s, storeKey, node)) {
            info = undefined; // minted again, but its first minting never left the node: a new version
          } else {
            this.fail(
              'dot-unique',
              `dot ${dotKey(s)} of ${JSON.stringify(userKey)} names two values: ${short(String(info.value))} and, at ${node}, ${short(String(value))}`,
            );
          }
        }
      }
      if (!info) {
        info = { stored, value: decodeValue(s.value), originClock: undefined, originSiblings: undefined };
        this.dots.set(key, info);
      }
      // Minted here: the first record holding it at its own node is the one it was minted in.
      if (info.originClock === undefined && mintedHere) {
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

  /** True when a record of `userKey` other than `storeKey` at `node` has seen the sibling's dot. */
  private seenElsewhere(userKey: string, s: Sibling<unknown>, storeKey: string, node: string): boolean {
    const targets = [...this.held.keys()];
    for (const [name, held] of this.held) {
      for (const key of [DATA + userKey, ...targets.map((target) => `${HINT}${target}\u0000${userKey}`)]) {
        if (name === node && key === storeKey) continue;
        const record = held.get(key);
        if (record && coversDot(record.clock, s.dot)) return true;
      }
    }
    return false;
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
      add(held.get(DATA + latin)?.dots);
      for (const target of nodes) add(held.get(`${HINT}${target}\u0000${latin}`)?.dots);
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
