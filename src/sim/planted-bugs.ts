/**
 * Deliberate bugs, planted from the simulator's side (store wrappers around a node's store, no
 * hook in the product), to show that the seed sweep and its invariants catch real classes of bug:
 *
 * - ack-before-write: the store acknowledges every write at once and applies it `delayMs` later;
 *   a crash in between loses it. What a store that acknowledges before its log write would do.
 * - drop-sibling-on-merge: a merge that brings a sibling minted elsewhere into a record that then
 *   holds several drops the oldest one, clock unchanged: a value lost to a merge bug.
 */
import type { Clock } from '../env/clock.js';
import { decodeRecord, encodeRecord } from '../storage/record-format.js';
import type { Store, StoreOp } from '../storage/store.js';

export const PLANTED_BUGS = ['ack-before-write', 'drop-sibling-on-merge'] as const;
export type PlantedBug = (typeof PLANTED_BUGS)[number];

/** Virtual ms an ack-before-write store holds a write before applying it. */
const ACK_BEFORE_WRITE_DELAY_MS = 200;

/** Wraps `store` (one process life's) with `bug`; `clock` is that life's, so a crash drops what is held. */
export function plantBug(bug: PlantedBug, store: Store, clock: Clock, self: string): Store {
  if (bug === 'ack-before-write') {
    return delegate(store, {
      write(ops, options) {
        clock.setTimer(ACK_BEFORE_WRITE_DELAY_MS, () => void store.write(ops, options));
        return Promise.resolve();
      },
    });
  }
  return delegate(store, {
    async write(ops, options) {
      const changed: StoreOp[] = [];
      for (const op of ops) changed.push(op.type === 'put' && op.key[0] === 0x64 /* 'd': data */ ? await dropSibling(store, op, self) : op);
      return store.write(changed, options);
    },
  });
}

/** The op, with the oldest sibling dropped when it is a merge (it adds a sibling minted elsewhere) leaving several. */
async function dropSibling(store: Store, op: StoreOp & { type: 'put' }, self: string): Promise<StoreOp> {
  const record = decodeRecord(op.value);
  if (record.siblings.length < 2) return op;
  const before = await store.get(op.key);
  const had = new Set(before ? decodeRecord(before).siblings.map((s) => `${s.dot[0]}:${s.dot[1]}`) : []);
  const added = record.siblings.filter((s) => !had.has(`${s.dot[0]}:${s.dot[1]}`));
  if (added.length === 0 || added.some((s) => s.dot[0].split('~')[0] === self)) return op;
  return { ...op, value: encodeRecord({ clock: record.clock, siblings: record.siblings.slice(1) }) };
}

function delegate(store: Store, write: Pick<Store, 'write'>): Store {
  return {
    get: (key) => store.get(key),
    write: (ops, options) => write.write(ops, options),
    entries: (gte, lt) => store.entries(gte, lt),
    keys: (gte, lt) => store.keys(gte, lt),
    diskBytes: () => store.diskBytes(),
    close: () => store.close(),
  };
}
