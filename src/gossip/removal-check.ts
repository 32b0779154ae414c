/**
 * A restarting node asks the cluster whether it was removed while it was away (kvctl remove takes
 * a dead node out for good). It asks its seeds and remembered peers for their member tables, all
 * at once, and believes the first that answers: a removal gossiped anywhere has reached it or soon
 * will, and the node also learns it later from gossip if no peer answers now.
 */

import { parseMembers } from '../membership/member-wire.js';
import type { Transport } from '../net/transport.js';

export interface RemovalCheck {
  /** True when a peer's table says this incarnation was removed. */
  removed: boolean;
  /** The peer that answered, if any did. */
  answeredBy: string | undefined;
}

export async function checkRemoved(
  transport: Transport,
  peers: readonly string[],
  self: { name: string; incarnation: string },
  timeoutMs: number,
): Promise<RemovalCheck> {
  const ask = async (addr: string) => {
    const reply = await transport.request(addr, { op: 'members' }, timeoutMs);
    return { addr, members: parseMembers(reply.members) };
  };
  try {
    const { addr, members } = await Promise.any(peers.map(ask));
    const entry = members.find((m) => m.name === self.name && m.incarnation === self.incarnation);
    return { removed: entry?.status === 'removed', answeredBy: addr };
  } catch {
    return { removed: false, answeredBy: undefined }; // nobody answered (or no peers): gossip tells us later
  }
}
