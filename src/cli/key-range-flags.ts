/** Flags shared by the commands that walk a key range across the cluster (scan, export): the range, where to resume, R and mode. */
import { Flags } from '@oclif/core';

export const keyRangeFlags = {
  prefix: Flags.string({ description: 'Only keys that start with this (UTF-8)' }),
  start: Flags.string({ description: 'First key of the range, included (UTF-8)' }),
  end: Flags.string({ description: 'End of the range, excluded (UTF-8)' }),
  cursor: Flags.string({ description: 'Resume after the key this cursor (from an earlier scan or export) names' }),
  r: Flags.integer({ description: 'Replicas that must answer for each key (1..N)', min: 1 }),
  consistency: Flags.string({ description: "Override the cluster's mode for this request: strict or sloppy", options: ['strict', 'sloppy'] }),
};
