/**
 * etcd as a peer in the same run: a 3-member cluster started on free loopback ports (client and
 * peer URLs) with temp data dirs, registered with the run's Resources so each member is stopped by
 * pid, and measured through its HTTP JSON gateway (`POST /v3/kv/put`, `POST /v3/kv/range`, keys and
 * values base64) over keep-alive connections spread over the three members. A range is
 * linearizable unless asked otherwise, so a get goes through the leader's read index.
 */
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import type { Store } from './bench-store.js';
import { IN_FLIGHT } from './kv-workload.js';
import { type BenchDaemon, freePort, pollUntil } from './resources.js';

export interface EtcdCluster {
  dir: string;
  members: BenchDaemon[];
  /** Client ports, in member order. */
  clientPorts: number[];
}

const MEMBERS = 3;

/** Starts the members and waits until each reports itself healthy. Rejects (ENOENT) when etcd is not installed. */
export async function startEtcd(ctx: BenchContext): Promise<EtcdCluster> {
  const dir = ctx.resources.tempDir('etcd');
  const clientPorts: number[] = [];
  const peerPorts: number[] = [];
  for (let m = 0; m < MEMBERS; m++) {
    clientPorts.push(await freePort());
    peerPorts.push(await freePort());
  }
  const name = (m: number) => `m${m + 1}`;
  const initialCluster = peerPorts.map((p, m) => `${name(m)}=http://127.0.0.1:${p}`).join(',');
  const members: BenchDaemon[] = [];
  const cluster = { dir, members, clientPorts };
  for (let m = 0; m < MEMBERS; m++) {
    const clientUrl = `http://127.0.0.1:${clientPorts[m]}`;
    const peerUrl = `http://127.0.0.1:${peerPorts[m]}`;
    const args = [
      '--name',
      name(m),
      '--data-dir',
      join(dir, name(m)),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      'bench',
    ];
    members.push(await ctx.resources.spawnServer('etcd', args, dir, join(dir, `${name(m)}.log`)));
  }
  const agent = new Agent({ keepAlive: true });
  try {
    for (const port of clientPorts) {
      await pollUntil(async () => (await httpJson(agent, port, 'GET', '/health')).health === 'true', `etcd member on port ${port}`);
    }
  } finally {
    agent.destroy();
  }
  return cluster;
}

export async function stopEtcd(ctx: BenchContext, cluster: EtcdCluster): Promise<void> {
  await ctx.resources.stopDaemons(cluster.members);
  ctx.resources.discard(cluster.dir);
}

/** One JSON request; rejects on a status other than 200 or an error in the body. */
function httpJson(agent: Agent, port: number, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`etcd ${path} on port ${port}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * The cluster as a Store: worker w sends to member w mod 3 over keep-alive connections (HTTP/1.1
 * carries one request at a time, so 64 in flight hold 64 connections, 22/21/21 per member).
 * Read-modify-write is a plain range then put (no revision check).
 */
export function etcdStore(cluster: EtcdCluster): Store {
  const agents = cluster.clientPorts.map(() => new Agent({ keepAlive: true, maxSockets: Math.ceil(IN_FLIGHT / MEMBERS) }));
  const member = (worker: number) => worker % MEMBERS;
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const call = (worker: number, path: string, body: unknown) => {
    const m = member(worker);
    return httpJson(agents[m] as Agent, cluster.clientPorts[m] as number, 'POST', path, body);
  };
  const get = async (key: string, worker: number): Promise<Buffer[]> => {
    const reply = await call(worker, '/v3/kv/range', { key: b64(key) });
    const kvs = (reply.kvs as Array<{ value?: string }> | undefined) ?? [];
    return kvs.map((kv) => Buffer.from(kv.value ?? '', 'base64'));
  };
  const put = async (key: string, value: Buffer, worker: number): Promise<void> => {
    await call(worker, '/v3/kv/put', { key: b64(key), value: b64(value) });
  };
  return {
    lanes: `${IN_FLIGHT} keep-alive, ${MEMBERS} members`,
    put: (key, value, worker) => put(key, value.bytes, worker),
    get,
    readModifyWrite: async (key, next, worker) => {
      const read = await get(key, worker);
      await put(key, next.bytes, worker);
      return read;
    },
    close: async () => {
      for (const agent of agents) agent.destroy();
    },
  };
}
