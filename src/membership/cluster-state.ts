/**
 * What a node knows of its cluster: the id and settings, the member table, and the ring computed
 * from it. Keeps the previous ring until every member reports it has handed off for the current
 * one, so reads during a transfer can still find data at its former owners. Pure: time passed in.
 */
import type { ClusterSettings } from '../config.js';
import { hashString, Ring } from '../ring/index.js';
import { isGone, type MemberTable } from './member-table.js';

export interface ClusterIdentity {
  id: string;
  settings: ClusterSettings;
}

/** A short fingerprint of a ring, gossiped as `handoffRing` once a node finished handing off for it. */
export function ringFingerprint(ring: Ring): string {
  return hashString(ring.id).toString(16).padStart(8, '0');
}

export class ClusterState {
  ring: Ring;
  /** The ring before the latest changes, while transfers for the current one are not all done. */
  previousRing: Ring | undefined;

  constructor(
    readonly cluster: ClusterIdentity,
    readonly table: MemberTable,
    readonly vnodesPerWeight?: number,
  ) {
    this.ring = new Ring(table.ringMembers(), vnodesPerWeight);
  }

  get settings(): ClusterSettings {
    return this.cluster.settings;
  }

  /** Recomputes the ring from the table; returns true when it changed. */
  refreshRing(): boolean {
    const next = new Ring(this.table.ringMembers(), this.vnodesPerWeight);
    if (next.id === this.ring.id) return false;
    if (!this.previousRing) this.previousRing = this.ring;
    this.ring = next;
    return true;
  }

  /** Drops the previous ring once every ring member says it handed off for the current one. */
  settleTransfers(handoffRingOf: (name: string) => string | undefined): boolean {
    if (!this.previousRing) return true;
    const current = ringFingerprint(this.ring);
    const members = new Set([...this.ring.members, ...this.previousRing.members].map((m) => m.name));
    for (const name of members) {
      const info = this.table.get(name);
      if (info && isGone(info.status)) continue;
      if (handoffRingOf(name) !== current) return false;
    }
    this.previousRing = undefined;
    return true;
  }

  addrOf(name: string): string | undefined {
    return this.table.get(name)?.addr;
  }
}
