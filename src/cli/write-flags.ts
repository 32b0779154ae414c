/** Flags shared by put and delete, and the check that keeps a non-context out of --context. */
import { Flags } from '@oclif/core';
import { EMPTY_CONTEXT } from '../clock/index.js';
import { KvError } from '../errors.js';

export const writeFlags = {
  context: Flags.string({
    description: `Causal context from a get of this key (its "context" field): supersede exactly the versions that read saw. A missing key's context (${EMPTY_CONTEXT}) creates it`,
  }),
  consistency: Flags.string({ description: "Override the cluster's mode for this request: strict or sloppy", options: ['strict', 'sloppy'] }),
  w: Flags.integer({ description: 'Replicas that must acknowledge (1..N)', min: 1 }),
};

/**
 * The --context value, refused when it cannot be a context: an empty string (an unset shell
 * variable) or the text "null" (what `jq -r .context` prints for a field that is not there).
 */
export function contextFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === '' || value === 'null' || value === 'undefined') {
    throw new KvError(
      'KV_USAGE',
      `--context ${JSON.stringify(value)} is not a context: pass the "context" field of a get (a missing key's is ${EMPTY_CONTEXT}), or leave --context out to overwrite`,
      { flag: 'context', value },
    );
  }
  return value;
}
