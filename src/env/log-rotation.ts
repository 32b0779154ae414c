/**
 * Which files a log rotation removes and renames, from the names in the log's directory. Pure.
 *
 * Keeping `keep` rotated files of `kvctl.log`: `kvctl.log.1` is the newest, `kvctl.log.<keep>` the
 * oldest. A rotation removes `kvctl.log.<keep>` and any higher number (left by a larger --log-files
 * before), renames each `kvctl.log.K` to `K+1` from the highest down (so no rename lands on a file
 * still there), then `kvctl.log` to `kvctl.log.1`. With `keep` 0 the log itself is removed.
 */
export interface RotationPlan {
  /** Names to remove, first. */
  remove: string[];
  /** Then renames, in this order: [from, to]. */
  renames: [string, string][];
}

export function rotationPlan(namesInDir: readonly string[], base: string, keep: number): RotationPlan {
  const numbered = new Map<number, string>();
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.([1-9][0-9]*)$`);
  for (const name of namesInDir) {
    const match = pattern.exec(name);
    if (match) numbered.set(Number(match[1]), name);
  }
  const remove = [...numbered.entries()]
    .filter(([k]) => k >= keep)
    .sort(([a], [b]) => a - b)
    .map(([, name]) => name);
  if (keep === 0) return { remove: namesInDir.includes(base) ? [...remove, base] : remove, renames: [] };
  const renames: [string, string][] = [];
  for (let k = keep - 1; k >= 1; k--) {
    const name = numbered.get(k);
    if (name !== undefined) renames.push([name, `${base}.${k + 1}`]);
  }
  if (namesInDir.includes(base)) renames.push([base, `${base}.1`]);
  return { remove, renames };
}
