/**
 * A node's identity, kept in its data dir: a name (stable, chosen by the operator), an incarnation
 * (random, made when the data dir is created) and an epoch. The clock actor is all three, so a
 * node never mints a clock counter it minted before:
 * - a wiped data dir comes back as a new incarnation;
 * - a node that starts after its machine restarted (a power loss, an OS crash) takes the next
 *   epoch. Writes the OS had not written to disk yet may be gone, and with them the counters
 *   their records held; minted again, a counter would name a version the other replicas already
 *   have, and they would drop the new write while acknowledging it. A process crash on a machine
 *   that stays up loses nothing (LevelDB's log is in the page cache), so it keeps its epoch;
 * - a node about to forget keys it handed off to their new replicas takes the next epoch too: it
 *   may coordinate such a key again before its record comes back (nextEpoch).
 */
import { KvError } from '../errors.js';
import type { Store } from '../storage/store.js';

const IDENTITY_KEY = Buffer.from('m:identity');

export interface NodeIdentity {
  name: string;
  incarnation: string;
  createdAt: number;
  /** Machine restarts this incarnation has started after (absent: 0). */
  epoch?: number;
  /** The machine boot the node last started under (absent in data dirs from before epochs). */
  bootId?: string;
}

/** The clock actor id: `name~incarnation`, then `.epoch` from the first epoch on. */
export function actorOf(identity: NodeIdentity): string {
  const base = `${identity.name}~${identity.incarnation}`;
  return identity.epoch ? `${base}.${identity.epoch}` : base;
}

/** The node name and incarnation a clock actor id names (its epoch aside). */
export function actorParts(actor: string): { name: string; incarnation: string } {
  const [name = '', rest = ''] = actor.split('~');
  return { name, incarnation: rest.split('.')[0] ?? '' };
}

/**
 * Loads the identity stored in `store`, or creates one, for a node starting under machine boot
 * `bootId`: a boot other than the last one stored starts the next epoch (see above). A data dir
 * belongs to one name: asking for another (`requestedName` given and different) fails instead of
 * silently renaming the node. A new or changed identity is written with fsync before the node
 * mints anything under it.
 */
export async function loadIdentity(
  store: Store,
  requestedName: string | undefined,
  defaultName: string,
  newIncarnation: () => string,
  now: number,
  bootId: string,
): Promise<NodeIdentity> {
  const data = await store.get(IDENTITY_KEY);
  if (data) {
    const stored = JSON.parse(data.toString('utf8')) as NodeIdentity;
    if (requestedName !== undefined && requestedName !== stored.name) {
      throw new KvError('KV_START_FAILED', `data dir belongs to node "${stored.name}", not "${requestedName}"`, {
        stored: stored.name,
        requested: requestedName,
      });
    }
    if (stored.bootId === bootId) return stored;
    const next: NodeIdentity = { ...stored, epoch: (stored.epoch ?? 0) + 1, bootId };
    await saveIdentity(store, next);
    return next;
  }
  const identity: NodeIdentity = { name: requestedName ?? defaultName, incarnation: newIncarnation(), createdAt: now, bootId };
  await saveIdentity(store, identity);
  return identity;
}

/**
 * The identity's next epoch, saved with fsync before it is used: for a node about to forget keys
 * it handed off, which it may coordinate again later without their records (and so without the
 * counters it minted for them).
 */
export async function nextEpoch(store: Store, identity: NodeIdentity): Promise<NodeIdentity> {
  const next: NodeIdentity = { ...identity, epoch: (identity.epoch ?? 0) + 1 };
  await saveIdentity(store, next);
  return next;
}

function saveIdentity(store: Store, identity: NodeIdentity): Promise<void> {
  return store.write([{ type: 'put', key: IDENTITY_KEY, value: Buffer.from(JSON.stringify(identity)) }], { sync: true });
}
