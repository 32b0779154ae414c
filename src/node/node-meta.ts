/**
 * A node's persistent metadata, in its own store beside the data: which cluster it belongs to
 * (id and settings), the addresses of the peers it knew (seeds for a restart), the member table
 * (so a restart knows the ring before gossip reaches it), the placement it last finished handing
 * off for (so an interrupted transfer resumes), and whether it was removed from the cluster (so it
 * never serves again from this data dir).
 */
import type { HandedOff } from '../handoff/ownership-transfer.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import type { MemberInfo } from '../membership/member-table.js';
import { parseMembers } from '../membership/member-wire.js';
import type { RingMember } from '../ring/index.js';
import type { Store } from '../storage/store.js';

const CLUSTER_KEY = Buffer.from('m:cluster');
const PEERS_KEY = Buffer.from('m:peers');
const MEMBERS_KEY = Buffer.from('m:members');
const HANDOFF_KEY = Buffer.from('m:handoff-ring');
const REMOVED_KEY = Buffer.from('m:removed');

/** When and from which cluster a node learned it was removed (kvctl remove). */
export interface Removal {
  cluster: string;
  at: number;
}

async function readJson<T>(store: Store, key: Buffer): Promise<T | undefined> {
  const data = await store.get(key);
  return data ? (JSON.parse(data.toString('utf8')) as T) : undefined;
}

function writeJson(store: Store, key: Buffer, value: unknown): Promise<void> {
  return store.write([{ type: 'put', key, value: Buffer.from(JSON.stringify(value)) }]);
}

export class NodeMeta {
  constructor(private readonly store: Store) {}

  loadCluster(): Promise<ClusterIdentity | undefined> {
    return readJson(this.store, CLUSTER_KEY);
  }

  saveCluster(cluster: ClusterIdentity): Promise<void> {
    return writeJson(this.store, CLUSTER_KEY, cluster);
  }

  async loadPeers(): Promise<string[]> {
    return (await readJson<string[]>(this.store, PEERS_KEY)) ?? [];
  }

  savePeers(addrs: string[]): Promise<void> {
    return writeJson(this.store, PEERS_KEY, addrs);
  }

  /** The member table as last saved (what a restart knows of the cluster before gossip reaches it). */
  async loadMembers(): Promise<MemberInfo[]> {
    const saved = await readJson<unknown>(this.store, MEMBERS_KEY);
    try {
      return saved === undefined ? [] : parseMembers(saved);
    } catch {
      return []; // unreadable: gossip will tell us again
    }
  }

  saveMembers(members: MemberInfo[]): Promise<void> {
    return writeJson(this.store, MEMBERS_KEY, members);
  }

  async loadHandedOff(): Promise<HandedOff | undefined> {
    const saved = await readJson<HandedOff | RingMember[]>(this.store, HANDOFF_KEY);
    return Array.isArray(saved) ? { members: saved } : saved; // data dirs from before N could change kept the members only
  }

  saveHandedOff(placement: HandedOff): Promise<void> {
    return writeJson(this.store, HANDOFF_KEY, placement);
  }

  loadRemoved(): Promise<Removal | undefined> {
    return readJson(this.store, REMOVED_KEY);
  }

  saveRemoved(removal: Removal): Promise<void> {
    return writeJson(this.store, REMOVED_KEY, removal);
  }
}
