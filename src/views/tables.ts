/**
 * The rows of `kvctl members` and `kvctl ring show`, computed once from a plain snapshot (the
 * daemon's JSON) and drawn two ways: as stable plain text (pipes, scripts) and as an ink view
 * (a person at a terminal). Pure functions; the views only lay them out.
 */

export interface MemberRow {
  name: string;
  addr: string;
  status: 'up' | 'leaving' | 'left' | 'removed';
  health: 'alive' | 'suspect' | 'down' | 'left' | 'removed';
  heartbeatAgeMs: number;
  incarnation: string;
  generation: number;
  keys: number;
  handoffPending: number;
  hintBacklog: number;
  weight: number;
  /** Set while the member's storage refuses writes: why, as it gossips it. */
  degraded?: string;
}

export interface MembersSnapshot {
  self: string;
  /** copiesPerKey, when the daemon sends it: how many replicas each key really gets (N, or fewer on a smaller ring). */
  cluster: { id: string; n: number; w: number; r: number; consistency: string; copiesPerKey?: number };
  members: MemberRow[];
}

export interface RingNode {
  name: string;
  addr: string;
  status: string;
  weight: number;
  vnodes: number;
  ownership: number;
  previousOwnership?: number;
  handoffPending: number;
}

export interface RingSnapshot {
  n: number;
  vnodesPerWeight: number;
  transferring: boolean;
  nodes: RingNode[];
  preferenceList?: { name: string; role: 'primary' | 'fallback' }[];
}

/**
 * One word per node, as operators read it: up, degraded (alive, but its storage refuses writes),
 * suspect, down, leaving, left, removed.
 */
export function memberState(m: Pick<MemberRow, 'status' | 'health' | 'degraded'>): string {
  if (m.status !== 'up') return m.status;
  if (m.health !== 'alive') return m.health;
  return m.degraded === undefined ? 'up' : 'degraded';
}

/** True for a member that answers: up, or degraded (it still serves reads and views). */
export function answers(m: Pick<MemberRow, 'status' | 'health' | 'degraded'>): boolean {
  const state = memberState(m);
  return state === 'up' || state === 'degraded';
}

function age(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export const memberColumns = ['NODE', 'STATE', 'ADDRESS', 'HEARTBEAT AGE', 'INCARNATION', 'WEIGHT', 'KEYS', 'HANDOFF', 'HINTS'];

export function memberRows(s: MembersSnapshot): string[][] {
  return s.members.map((m) => [
    m.name === s.self ? `${m.name}*` : m.name,
    memberState(m),
    m.addr,
    m.name === s.self ? '-' : age(m.heartbeatAgeMs),
    m.incarnation,
    String(m.weight),
    String(m.keys),
    String(m.handoffPending),
    String(m.hintBacklog),
  ]);
}

export function membersTitle(s: MembersSnapshot): string {
  const c = s.cluster;
  return `cluster ${c.id}  N=${c.n} W=${c.w} R=${c.r} ${c.consistency}  (as seen by ${s.self}, marked *)`;
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/**
 * The plain warning when the ring is smaller than N, so each key has fewer copies than N promises
 * (`N=3 but 1 node: 1 copy per key`); undefined when every key gets its N copies.
 */
export function copiesWarning(n: number, nodes: number, copiesPerKey = Math.min(n, nodes)): string | undefined {
  if (copiesPerKey >= n) return undefined;
  return `N=${n} but ${plural(nodes, 'node', 'nodes')}: ${plural(copiesPerKey, 'copy', 'copies')} per key`;
}

/**
 * The members view's warnings: the cluster's copies per key (the daemon's figure when it sends one)
 * against N, and each degraded member with its cause.
 */
export function membersWarnings(s: MembersSnapshot): string[] {
  const nodes = s.members.filter((m) => m.status !== 'left').length;
  const warning = copiesWarning(s.cluster.n, nodes, s.cluster.copiesPerKey);
  const degraded = s.members
    .filter((m) => memberState(m) === 'degraded')
    .map((m) => `${m.name} is degraded (${m.degraded}): it refuses writes until its storage recovers, and still serves reads`);
  return [...(warning ? [warning] : []), ...degraded];
}

export const ringColumns = ['NODE', 'STATUS', 'WEIGHT', 'VNODES', 'OWNS', 'OWNS AFTER HANDOFF', 'HANDOFF'];

/**
 * OWNS is each node's share of the key space as a replica (sums to N × 100% once the ring has
 * N nodes, like Cassandra's "Owns (effective)"); while keys are being handed off it is the share
 * under the old ring, and OWNS AFTER HANDOFF the share once the handoff completes.
 */
export function ringRows(s: RingSnapshot): string[][] {
  return s.nodes.map((n) => [
    n.name,
    n.status,
    String(n.weight),
    String(n.vnodes),
    pct(n.previousOwnership ?? n.ownership),
    s.transferring ? pct(n.ownership) : '-',
    String(n.handoffPending),
  ]);
}

export function ringTitle(s: RingSnapshot): string {
  return `ring: ${plural(s.nodes.filter((n) => n.vnodes > 0).length, 'node', 'nodes')}, N=${s.n}, ${s.vnodesPerWeight} vnodes per unit of weight${s.transferring ? ', handoff in progress' : ''}`;
}

/** The ring view's warnings: fewer nodes holding vnodes than N. */
export function ringWarnings(s: RingSnapshot): string[] {
  const warning = copiesWarning(s.n, s.nodes.filter((n) => n.vnodes > 0).length);
  return warning ? [warning] : [];
}

export function preferenceLine(s: RingSnapshot, key: string): string | undefined {
  if (!s.preferenceList) return undefined;
  const list = s.preferenceList.map((e) => `${e.name} (${e.role})`).join(', ');
  return `preference list of "${key}": ${list}`;
}

/** Plain, stable text: columns padded with spaces, no colour. */
export function plainTable(columns: string[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map(line)].join('\n');
}
