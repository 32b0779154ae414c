/**
 * A whole kvctl cluster in one process: real KvNodes (the same code the daemon runs) over
 * MemoryStores, a SimNetwork and one VirtualClock, seeded. A crash keeps the node's store (as
 * LevelDB keeps acknowledged writes across kill -9) and restarts it as a new process generation; a
 * pause makes it unreachable without losing its memory.
 */
import { type ClusterSettings, defaultLimits, defaultMembershipSettings } from '../config.js';
import { VirtualClock } from '../env/clock.js';
import { nullLogger } from '../env/logger.js';
import { SeededRandom } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { answerLine } from '../net/answer.js';
import { type BuiltNode, buildNode } from '../node/build-node.js';
import { loadIdentity } from '../node/identity.js';
import { NodeMeta } from '../node/node-meta.js';
import type { ConnectionKind } from '../protocol/connection.js';
import { ValueCodec } from '../storage/codec.js';
import { MemoryStore } from '../storage/memory-store.js';
import { InlineBrotliCodec } from '../storage/zlib-codec.js';
import { runFor, SimNetwork, serveLines } from './sim-network.js';

export interface SimClusterOptions {
  seed: number;
  nodes: number;
  settings: ClusterSettings;
  lossRate?: number;
  latencyMs?: [number, number];
  requestTimeoutMs?: number;
}

export interface SimNode {
  name: string;
  addr: string;
  store: MemoryStore;
  built: BuiltNode;
}

export class SimCluster {
  readonly clock = new VirtualClock(1_000_000);
  readonly random: SeededRandom;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  private readonly cluster: ClusterIdentity;

  constructor(private readonly options: SimClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork(this.clock, this.random.fork(), { latencyMs: options.latencyMs ?? [1, 5], lossRate: options.lossRate ?? 0 });
    this.cluster = { id: `sim-${options.seed}`, settings: options.settings };
  }

  /** Builds and starts every node; each knows node1 as its seed. */
  async start(): Promise<void> {
    for (let i = 1; i <= this.options.nodes; i++) {
      const node: SimNode = { name: `node${i}`, addr: `10.0.0.${i}:7070`, store: new MemoryStore(), built: undefined as unknown as BuiltNode };
      this.nodes.push(node);
      await this.boot(node);
    }
  }

  private async boot(node: SimNode): Promise<void> {
    const identity = await loadIdentity(node.store, node.name, node.name, () => this.random.int(2 ** 32).toString(16), this.clock.now());
    const meta = new NodeMeta(node.store);
    const restoredMembers = await meta.loadMembers(); // empty on a first boot, the saved table on a restart
    // Each node its own copy, as each daemon reads its own from its data dir: settings change per node, through gossip.
    const cluster = (await meta.loadCluster()) ?? structuredClone(this.cluster);
    await meta.saveCluster(cluster);
    node.built = buildNode({
      identity,
      addr: node.addr,
      weight: 1,
      generation: this.clock.now(),
      store: node.store,
      meta,
      transport: this.network.transportFor(node.addr),
      clock: this.clock,
      random: this.random.fork(),
      logger: nullLogger,
      codec: new ValueCodec(new InlineBrotliCodec(), { minBytes: 512, quality: 4 }),
      cacheBytes: 1024 * 1024,
      limits: defaultLimits,
      membership: defaultMembershipSettings,
      requestTimeoutMs: this.options.requestTimeoutMs ?? 500,
      cluster,
      members: [],
      restoredMembers,
      seeds: [this.nodes[0]?.addr ?? node.addr],
      hintCaps: { maxBytesPerTarget: 64 * 1024 * 1024, maxAgeMs: 60 * 60 * 1000 },
      hintDeliveryIntervalMs: 500,
      antiEntropy: { intervalMs: 0, maxKeysPerSecond: 1_000_000, tombstoneGraceMs: 60 * 60 * 1000 },
      testingFaults: false,
    });
    this.network.register(node.addr, serveLines(node.built.node, defaultLimits));
    await node.built.start();
  }

  /** A request as a client connection sends it (kind: use 'peer' to send node-to-node ops by hand). */
  private async handle(node: SimNode, body: Record<string, unknown>, kind: ConnectionKind): Promise<Record<string, unknown>> {
    const reply = await answerLine(Buffer.from(JSON.stringify(body)), node.built.node, { kind, remote: 'sim-client' }, defaultLimits);
    if (reply.ok === false) throw KvError.fromWire(reply.error);
    return reply;
  }

  /**
   * Sends a client request to a node, as the CLI would: if the node crashes or stalls, the client
   * gives up after `timeoutMs` of virtual time with KV_TIMEOUT (its connection would be gone).
   */
  request(node: SimNode, body: Record<string, unknown>, timeoutMs = 5000, kind: ConnectionKind = 'client'): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => reject(new KvError('KV_TIMEOUT', `no reply from ${node.name}`)));
      this.handle(node, body, kind).then(
        (reply) => {
          timer.cancel();
          resolve(reply);
        },
        (err: unknown) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }

  /** Drives virtual time in steps of `stepMs` until the promise settles; returns its value or throws its error. */
  async settle<T>(promise: Promise<T>, stepMs = 10): Promise<T> {
    let done = false;
    const mark = () => {
      done = true;
    };
    void promise.then(mark, mark);
    while (!done) await runFor(this.clock, stepMs, stepMs);
    return promise;
  }

  /** kill -9: the process is gone (timers stop), its store survives. */
  crash(node: SimNode): void {
    node.built.stop();
    this.network.crash(node.addr);
  }

  /** Starts a crashed node again from its store, as a new process generation. */
  async restart(node: SimNode): Promise<void> {
    this.network.restart(node.addr);
    await this.boot(node);
  }

  /** A long GC pause or SIGSTOP: unreachable, but memory intact. */
  pause(node: SimNode): void {
    this.network.crash(node.addr);
  }

  resume(node: SimNode): void {
    this.network.restart(node.addr);
  }

  isDown(node: SimNode): boolean {
    return this.network.isCrashed(node.addr);
  }

  stop(): void {
    for (const n of this.nodes) n.built.stop();
  }
}
