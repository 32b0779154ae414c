/**
 * A request body given as the JSON text of its fields (`"op":"kv.replicate.many","items":[…]`),
 * sent as is. A coordinator sends each written record to every other replica: serialized once as
 * text, the same item goes into each replica's line instead of being stringified per replica
 * (stringifying the 1 KiB base64 values for each peer was ~4 % of a cluster put's main thread).
 */
export class PreparedBody {
  constructor(readonly fields: string) {}

  /** The body as an object, for transports that carry objects (the simulator). */
  toObject(): Record<string, unknown> {
    return JSON.parse(`{${this.fields}}`) as Record<string, unknown>;
  }
}

/** What a node-to-node request carries: fields as an object, or already as JSON text. */
export type RequestBody = Record<string, unknown> | PreparedBody;
