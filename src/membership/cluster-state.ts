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
  /** Bumped by each `cluster set`; gossip spreads the settings with the highest version. Absent: 0. */
  settingsVersion?: number;
}

/**
 * A short fingerprint of a placement (a ring and the N its keys are placed with), gossiped as
 * `handoffRing` once a node finished handing off for it.
 */
export function ringFingerprint(ring: Ring, n: number): string {
  return hashString(placementOf(ring, n)).toString(16).padStart(8, '0');
}

/** Names a placement: the ring's membership and the N its keys are placed with. */
function placementOf(ring: Ring, n: number): string {
  return `${ring.id}/n=${n}`;
}

/** True when `a` (with version `av`) should replace `b` (version `bv`): higher version, ties broken alike on every node. */
export function newerSettings(a: ClusterSettings, av: number, b: ClusterSettings, bv: number): boolean {
  if (av !== bv) return av > bv;
  return settingsText(a) > settingsText(b);
}

function settingsText(s: ClusterSettings): string {
  return `${s.n}/${s.w}/${s.r}/${s.consistency}`;
}

export class ClusterState {
  ring: Ring;
  /** The ring before the latest changes, while transfers for the current one are not all done. */
  previousRing: Ring | undefined;
  /** The N keys were placed with on the previous ring (N may change with `cluster set`). */
  previousN: number | undefined;

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

  /** Names the current placement: changes when the ring or N does. */
  get placementId(): string {
    return placementOf(this.ring, this.settings.n);
  }

  /**
   * Recomputes the ring from the table; returns true when it changed. The new ring is made from
   * the current one, so only the members that changed are hashed and merged in.
   */
  refreshRing(): boolean {
    const next = this.ring.withMembers(this.table.ringMembers());
    if (next === this.ring) return false;
    this.keepPrevious();
    this.ring = next;
    return true;
  }

  /**
   * Adopts `settings` if they are newer than ours (see newerSettings); returns true when they
   * changed. A changed N keeps the current placement as the previous one until transfers settle.
   */
  adoptSettings(settings: ClusterSettings, version: number): boolean {
    if (!newerSettings(settings, version, this.settings, this.cluster.settingsVersion ?? 0)) return false;
    if (settings.n !== this.settings.n) this.keepPrevious();
    this.cluster.settings = { ...settings };
    this.cluster.settingsVersion = version;
    return true;
  }

  private keepPrevious(): void {
    if (this.previousRing) return;
    this.previousRing = this.ring;
    this.previousN = this.settings.n;
  }

  /** Drops the previous ring once every ring member says it handed off for the current placement. */
  settleTransfers(handoffRingOf: (name: string) => string | undefined): boolean {
    if (!this.previousRing) return true;
    const current = ringFingerprint(this.ring, this.settings.n);
    const members = new Set([...this.ring.members, ...this.previousRing.members].map((m) => m.name));
    for (const name of members) {
      const info = this.table.get(name);
      if (info && isGone(info.status)) continue;
      if (handoffRingOf(name) !== current) return false;
    }
    this.previousRing = undefined;
    this.previousN = undefined;
    return true;
  }

  addrOf(name: string): string | undefined {
    return this.table.get(name)?.addr;
  }
}
