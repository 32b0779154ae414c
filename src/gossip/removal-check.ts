/**
 * A restarting node asks the cluster whether it was removed while it was away (kvctl remove takes
 * a dead node out for good). It asks its seeds and remembered peers for their member tables, all
 * at once, and believes the first that answers: a removal gossiped anywhere has reached it or soon
 * will, and the node also learns it later from gossip if no peer answers now.
 */

import type { MemberInfo } from '../membership/member-table.js';

export interface RemovalCheck {
  /** True when a peer's table says this incarnation was removed. */
  removed: boolean;
  /** The peer that answered, if any did. */
  answeredBy: string | undefined;
}

export async function checkRemoved(
  /** A peer's member table (the `members` view), validated; rejects when the peer does not answer. */
  membersAt: (addr: string) => Promise<MemberInfo[]>,
  peers: readonly string[],
  self: { name: string; incarnation: string },
): Promise<RemovalCheck> {
  const ask = async (addr: string) => ({ addr, members: await membersAt(addr) });
  try {
    const { addr, members } = await Promise.any(peers.map(ask));
    const entry = members.find((m) => m.name === self.name && m.incarnation === self.incarnation);
    return { removed: entry?.status === 'removed', answeredBy: addr };
  } catch {
    return { removed: false, answeredBy: undefined }; // nobody answered (or no peers): gossip tells us later
  }
}
