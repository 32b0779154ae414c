/**
 * What the hostile tests share: connections that attack a daemon (as a plain client, or as a peer
 * that proved the cluster secret), wire records and member entries built by hand, a server that
 * acknowledges everything, and the checks that nothing was lost: every key reads back and every
 * node sees the same members up.
 */

import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { KvClient } from '../../src/client/client.js';
import { type MemberInfo, newMember } from '../../src/membership/index.js';
import { PEER_PROTOCOL_VERSION } from '../../src/net/protocol.js';
import type { Daemon } from './cli.js';
import { clusterSecretFile } from './cluster.js';
import type { TestPeer } from './peer-frames.js';
import { peerConnect } from './security.js';

/** The error code of a rejected promise (undefined when it resolved). */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

export const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');

/** A connection to `d` that proved its local cluster's secret: a peer, buggy or hostile. */
export async function attackerPeer(t: { teardown: (fn: () => unknown) => void }, d: Daemon): Promise<TestPeer> {
  const peer = await peerConnect(d.addr, readFileSync(clusterSecretFile(d), 'utf8').trim(), { timeoutMs: 60_000 });
  t.teardown(() => peer.close());
  return peer;
}

/** A plain client connection to `d` (no handshake, no token). */
export async function plainClient(t: { teardown: (fn: () => unknown) => void }, d: Daemon): Promise<KvClient> {
  const client = await KvClient.connect(d.addr, { timeoutMs: 60_000 });
  t.teardown(() => client.close());
  return client;
}

/** A sibling on the wire: [actor, counter, ts, codec, base64 bytes], a tombstone when `value` is null. */
export type WireSibling = [string, number, number, number, string | null];

/** A record on the wire (net/record-json.ts) whose siblings are each their own writer's only write: concurrent with everything. */
export function wireRecord(siblings: { actor: string; counter?: number; value: string | null }[]): {
  clock: [string, number][];
  siblings: WireSibling[];
} {
  const now = Date.now();
  return {
    clock: siblings.map((s) => [s.actor, s.counter ?? 1]),
    siblings: siblings.map((s) => [s.actor, s.counter ?? 1, now, s.value === null ? -1 : 0, s.value === null ? null : b64(s.value)]),
  };
}

/** A member entry as gossip carries it. */
export type WireMember = MemberInfo;

export function fakeMember(name: string, over: Partial<WireMember> = {}): WireMember {
  return { ...newMember({ name, addr: '127.0.0.1:1', incarnation: 'invented', generation: Date.now(), weight: 1 }), heartbeat: 1, ...over };
}

interface MemberView extends WireMember {
  health: string;
  heartbeatAgeMs: number;
}

/** The member table as `d` shows it. */
export async function membersOf(d: Daemon): Promise<MemberView[]> {
  const client = await KvClient.connect(d.addr);
  try {
    return (await client.request({ op: 'members' })).members as MemberView[];
  } finally {
    await client.close();
  }
}

/** `d`'s entry for `name` as gossip carries it (without the health it judged). */
export async function entryOf(d: Daemon, name: string): Promise<WireMember> {
  const view = (await membersOf(d)).find((m) => m.name === name);
  if (!view) throw new Error(`${d.name} does not know ${name}`);
  const { health: _health, heartbeatAgeMs: _age, ...entry } = view;
  return entry;
}

/** Names of the members `d` sees up and alive, sorted. */
export async function upMembers(d: Daemon): Promise<string[]> {
  return (await membersOf(d))
    .filter((m) => m.status === 'up' && m.health === 'alive')
    .map((m) => m.name)
    .sort();
}

/** The cluster a member's gossip names (id, settings, version), as `d` reports it. */
export async function gossipCluster(d: Daemon): Promise<Record<string, unknown>> {
  const client = await KvClient.connect(d.addr);
  try {
    const c = (await client.request({ op: 'members' })).cluster as Record<string, unknown>;
    return { id: c.id, n: c.n, w: c.w, r: c.r, consistency: c.consistency, version: c.version };
  } finally {
    await client.close();
  }
}

export const keyName = (i: number): string => `key-${i}`;
export const valueName = (i: number): string => `value-${i}`;

/** Writes keys 0..count-1 through `d`. */
export async function writeKeys(d: Daemon, count: number): Promise<void> {
  const client = await KvClient.connect(d.addr);
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => client.put(keyName(i), valueName(i))));
  } finally {
    await client.close();
  }
}

/** Keys of 0..count-1 that do not read back (through `d`, at the cluster's R) as exactly the value written. */
export async function keysLost(d: Daemon, count: number): Promise<string[]> {
  const client = await KvClient.connect(d.addr, { timeoutMs: 30_000 });
  try {
    const reads = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        client.get(keyName(i)).then(
          (got) => got.values.length === 1 && got.values[0]?.toString() === valueName(i),
          () => false,
        ),
      ),
    );
    return reads.flatMap((ok, i) => (ok ? [] : [keyName(i)]));
  } finally {
    await client.close();
  }
}

/** Keys of 0..count-1 `d` holds no record of itself (read with kv.read, as a replica). */
export async function copiesMissing(d: Daemon, count: number): Promise<string[]> {
  const peer = await peerConnect(d.addr, readFileSync(clusterSecretFile(d), 'utf8').trim());
  try {
    const held = await Promise.all(
      Array.from({ length: count }, (_, i) => peer.request({ op: 'kv.read', key: b64(keyName(i)) }).then((r) => r.record !== null)),
    );
    return held.flatMap((ok, i) => (ok ? [] : [keyName(i)]));
  } finally {
    await peer.close();
  }
}

/**
 * A TCP server that answers every line `{"ok":true}` with whatever fields a reply might need: what
 * an address "that acknowledges everything" is. It knows no secret, so it cannot finish a peer
 * handshake; `ops` counts the ops it was sent.
 */
export async function ackEverything(t: { teardown: (fn: () => unknown) => void }): Promise<{ addr: string; ops: Map<string, number> }> {
  const ops = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let id: unknown = null;
        try {
          const request = JSON.parse(line) as { id?: unknown; op?: string };
          id = request.id ?? null;
          ops.set(String(request.op), (ops.get(String(request.op)) ?? 0) + 1);
        } catch {
          // not JSON: acknowledged all the same
        }
        const ack = { id, ok: true, version: PEER_PROTOCOL_VERSION, node: 'ack', cluster: '', nonce: b64('x'.repeat(32)), proof: b64('x'.repeat(32)) };
        socket.write(`${JSON.stringify({ ...ack, results: [], stored: 1, dropped: true, members: [] })}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return { addr: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, ops };
}

/** Pings `d` every few ms until stopped; resolves the slowest answer's time in ms. */
export function pingWatch(d: Daemon): { stop: () => Promise<number> } {
  let running = true;
  const done = (async () => {
    const client = await KvClient.connect(d.addr, { timeoutMs: 600_000 });
    let worst = 0;
    try {
      while (running) {
        const start = Date.now();
        await client.ping();
        worst = Math.max(worst, Date.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await client.close();
    }
    return worst;
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

/** Resident memory of a daemon's process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}
