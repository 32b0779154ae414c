/**
 * What the realistic workloads drive: a store with put, get and read-modify-write, reached over
 * some number of lanes (connections; worker w uses lane w mod count). kvctl (its NDJSON client),
 * raw classic-level in this process, Redis (RESP) and etcd (HTTP gateway) each implement it, so
 * one workload driver measures them all under the same load.
 */
import type { ClassicLevel } from 'classic-level';
import type { KvClient } from '../src/client/client.js';
import type { Payload } from './key-space.js';
import type { Lanes } from './kv-workload.js';

export interface Store {
  /** How the requests are spread, e.g. "16 per node". */
  lanes: string;
  put(key: string, value: Payload, worker: number): Promise<void>;
  /** Every value the key holds (several when kvctl keeps siblings); empty when not found. */
  get(key: string, worker: number): Promise<Buffer[]>;
  /**
   * Reads the key and writes `next` over what it read (with kvctl, with the context the read
   * returned, as a careful client does); resolves what it read.
   */
  readModifyWrite(key: string, next: Payload, worker: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** kvctl through its client: text values travel as UTF-8 strings, binary ones as Buffers (base64 on the wire). */
export function kvctlStore(lanes: Lanes, close: () => Promise<void>): Store {
  const { clients } = lanes;
  const lane = (worker: number) => clients[worker % clients.length] as KvClient;
  return {
    lanes: lanes.label,
    put: async (key, value, worker) => {
      await lane(worker).put(key, value.send);
    },
    get: async (key, worker) => (await lane(worker).get(key)).values,
    readModifyWrite: async (key, next, worker) => {
      const client = lane(worker);
      const read = await client.get(key);
      await client.put(key, next.send, read.context === undefined ? {} : { context: read.context });
      return read.values;
    },
    close,
  };
}

/** Raw classic-level in this process (buffer encodings): what LevelDB alone does with the same load. */
export function rawLevelStore(db: ClassicLevel<Buffer, Buffer>): Store {
  const get = async (key: string) => {
    const value = await db.get(Buffer.from(key));
    return value === undefined ? [] : [value];
  };
  return {
    lanes: 'in-process',
    put: (key, value) => db.put(Buffer.from(key), value.bytes),
    get,
    readModifyWrite: async (key, next) => {
      const read = await get(key);
      await db.put(Buffer.from(key), next.bytes);
      return read;
    },
    close: async () => {},
  };
}
