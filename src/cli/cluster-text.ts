/** How commands describe a cluster's settings, from the `cluster` object of stats, members and cluster.set replies. */

export interface ClusterView {
  n: number;
  w: number;
  r: number;
  consistency: string;
  /** Nodes in the ring (down ones included). */
  nodes: number;
  /** Copies each key has: N, or fewer while the ring has fewer nodes. */
  copiesPerKey: number;
}

export function settingsText(c: Pick<ClusterView, 'n' | 'w' | 'r' | 'consistency'>): string {
  return `N=${c.n} W=${c.w} R=${c.r} ${c.consistency}`;
}

/** Said plainly when the ring has fewer nodes than N, e.g. "N=3 but 1 node: 1 copy per key"; undefined otherwise. */
export function copiesWarning(c: ClusterView): string | undefined {
  if (c.copiesPerKey >= c.n) return undefined;
  return `N=${c.n} but ${c.nodes} node${c.nodes === 1 ? '' : 's'}: ${c.copiesPerKey} ${c.copiesPerKey === 1 ? 'copy' : 'copies'} per key`;
}
