/**
 * A node's identity, kept in its data dir: a name (stable, chosen by the operator) and an
 * incarnation (random, made when the data dir is created). The clock actor is both together, so a
 * node whose data dir was wiped comes back as a new actor and never reuses old clock entries.
 */
import { KvError } from '../errors.js';
import type { Store } from '../storage/store.js';

const IDENTITY_KEY = Buffer.from('m:identity');

export interface NodeIdentity {
  name: string;
  incarnation: string;
  createdAt: number;
}

/** The clock actor id: `name~incarnation`. */
export function actorOf(identity: NodeIdentity): string {
  return `${identity.name}~${identity.incarnation}`;
}

/**
 * Loads the identity stored in `store`, or creates one. A data dir belongs to one name: asking for
 * another (`requestedName` given and different) fails instead of silently renaming the node.
 */
export async function loadIdentity(
  store: Store,
  requestedName: string | undefined,
  defaultName: string,
  newIncarnation: () => string,
  now: number,
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
    return stored;
  }
  const identity: NodeIdentity = { name: requestedName ?? defaultName, incarnation: newIncarnation(), createdAt: now };
  await store.write([{ type: 'put', key: IDENTITY_KEY, value: Buffer.from(JSON.stringify(identity)) }]);
  return identity;
}
