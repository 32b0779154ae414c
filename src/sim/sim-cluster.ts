/**
 * A whole kvctl cluster in one process: real KvNodes (the same code the daemon runs) over
 * simulated disks, a SimNetwork and one VirtualClock, seeded; values compressed inline, so a run
 * replays exactly from its seed.
 *
 * Each node's process lives from boot to crash (process-life.ts): its clock, transport and store
 * handle die with it, so nothing it had under way runs after a crash. Faults:
 * - `crash`: kill -9; the disk keeps everything written (LevelDB's log in the page cache);
 * - `powerLoss`: the machine goes down; the disk keeps only what was synced (sim-store.ts);
 * - `pause`: a long GC pause or SIGSTOP, unreachable but memory intact;
 * - `partition`: links cut between two groups.
 * `restart` boots a crashed or powered-off node again from its disk, as a new process generation.
 *
 * With `checkEveryStep`, invariants are checked after every step of `run` and `settle`
 * (invariants.ts); with `trace`, every message delivered and every client reply goes into a hash.
 */
import { createHash, type Hash } from 'node:crypto';
import { type ClusterSettings, defaultLimits, defaultMembershipSettings } from '../config.js';
import { VirtualClock } from '../env/clock.js';
import { nullLogger } from '../env/logger.js';
import { SeededRandom } from '../env/random.js';
import { KvError } from '../errors.js';
import type { ClusterIdentity } from '../membership/cluster-state.js';
import { type MemberInfo, newMember } from '../membership/member-table.js';
import { answerFrame, answerLine } from '../net/answer.js';
import { type BuiltNode, buildNode } from '../node/build-node.js';
import { loadIdentity, type NodeIdentity } from '../node/identity.js';
import { NodeMeta } from '../node/node-meta.js';
import { type ConnectionKind, newClientConnection } from '../protocol/connection.js';
import { ValueCodec } from '../storage/codec.js';
import type { Store } from '../storage/store.js';
import { InlineBrotliCodec } from '../storage/zlib-codec.js';
import type { AckLedger } from './ack-ledger.js';
import { InvariantChecker, type Violation } from './invariants.js';
import { type PlantedBug, plantBug } from './planted-bugs.js';
import { ProcessLife } from './process-life.js';
import { drainMicrotasks, runFor, SimNetwork, serveFrames } from './sim-network.js';
import { type PowerLossReport, SimDisk } from './sim-store.js';

export interface SimClusterOptions {
  seed: number;
  nodes: number;
  settings: ClusterSettings;
  lossRate?: number;
  latencyMs?: [number, number];
  requestTimeoutMs?: number;
  /** Every store write fsynced, as the daemon's `--sync`; default false, as the daemon's. */
  sync?: boolean;
  /** Check invariants after every step of `run` and `settle`. */
  checkEveryStep?: boolean;
  /** The client's writes, for the per-step check that acknowledged values stay on disk. */
  ledger?: AckLedger;
  /**
   * Hash every message delivered and every client reply (`traceHash()`): `true` or 'full' hashes
   * whole messages; 'headers' only each message's time, ends, length and first bytes (for runs
   * whose messages are too many to hash whole; still any divergence of timing or size shows).
   */
  trace?: boolean | 'full' | 'headers';
  /** Boot every node at once (a cold start of the whole cluster), instead of one after another. */
  bootTogether?: boolean;
  /**
   * With bootTogether: every node starts knowing every other, alive, as a cluster that has already
   * converged (its tables as a join would leave them), instead of joining through the seeds. A run
   * of a large cluster then measures its steady state without paying for a cold start of every node at once.
   */
  joined?: boolean;
  /** How many of the first nodes are seeds every node knows; default 1. */
  seedCount?: number;
  /** A deliberate bug in every node's store (planted-bugs.ts). */
  plant?: PlantedBug;
  /** How long a dead record (deleted or expired) waits before the reaper may drop it; default an hour. */
  tombstoneGraceMs?: number;
}

export interface SimNode {
  name: string;
  addr: string;
  disk: SimDisk;
  /** Machine boots so far: a power loss starts the next (the node's boot id). */
  boots: number;
  /** The current process life, and what it was built with. */
  life: ProcessLife;
  store: Store;
  built: BuiltNode;
}

/** A process life opened on a node's disk, before its node is built. */
interface PreparedLife {
  life: ProcessLife;
  store: Store;
  identity: NodeIdentity;
  meta: NodeMeta;
  restoredMembers: MemberInfo[];
  cluster: ClusterIdentity;
}

/** With trace 'headers', how much of each message is hashed (the frame header and the start of the body). */
const TRACE_HEADER_BYTES = 64;

/** Faults must have been over this long (and every node up) before rings are expected to agree. */
const QUIET_MS = 5000;

export class SimCluster {
  readonly clock = new VirtualClock(1_000_000);
  readonly random: SeededRandom;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly invariants: InvariantChecker | undefined;
  private readonly cluster: ClusterIdentity;
  private readonly trace: Hash | undefined;
  private lastFaultAt = 0;
  private partitioned = false;

  constructor(private readonly options: SimClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork(this.clock, this.random.fork(), { latencyMs: options.latencyMs ?? [1, 5], lossRate: options.lossRate ?? 0 });
    this.cluster = { id: `sim-${options.seed}`, settings: options.settings };
    if (options.checkEveryStep) this.invariants = new InvariantChecker(this.clock, options.ledger);
    if (options.trace) {
      const trace = createHash('sha256');
      this.trace = trace;
      const headersOnly = options.trace === 'headers';
      this.network.onDeliver = (at, from, to, line) => {
        trace.update(`${at} ${from}>${to} ${line.length} `);
        trace.update(headersOnly && typeof line !== 'string' ? line.subarray(0, TRACE_HEADER_BYTES) : line);
        trace.update('\n');
      };
    }
  }

  /**
   * Builds and starts every node; each knows the first `seedCount` nodes (node1 by default) as its
   * seeds. One after another, or all at once with `bootTogether`.
   */
  async start(): Promise<void> {
    const seedCount = Math.max(1, this.options.seedCount ?? 1);
    const count = this.options.nodes;
    for (let i = 1; i <= count; i++) {
      const name = `node${i}`;
      const disk = new SimDisk({ sync: this.options.sync ?? false, clock: this.clock, random: this.random.fork() });
      if (this.invariants) disk.listener = this.invariants.listen(name);
      this.nodes.push({ name, addr: addrOf(i), disk, boots: 0 } as SimNode);
    }
    this.seeds = Array.from({ length: Math.min(seedCount, count) }, (_, i) => addrOf(i + 1));
    if (this.options.bootTogether) await this.bootAll(this.nodes);
    else for (const node of this.nodes) await this.boot(node);
  }

  /** Seed addresses every node is started with. */
  private seeds: string[] = [];

  /** Starts a new process life on the node's disk; virtual time passes only while its store syncs. */
  private boot(node: SimNode): Promise<void> {
    return this.bootAll([node]);
  }

  /** Boots `nodes` side by side and drives the clock until every one is up. */
  private async bootAll(nodes: readonly SimNode[]): Promise<void> {
    this.fault();
    const booting = this.options.joined && nodes.length > 1 ? this.bootJoined(nodes) : Promise.all(nodes.map((node) => this.bootLife(node)));
    let done = false;
    const mark = () => {
      done = true;
    };
    void booting.then(mark, mark);
    await drainMicrotasks();
    while (!done) await this.run(1, 1);
    await booting;
  }

  /** Boots `nodes` each knowing all the others (see the `joined` option). */
  private async bootJoined(nodes: readonly SimNode[]): Promise<void> {
    const prepared = await Promise.all(nodes.map((node) => this.prepareLife(node)));
    const generation = this.clock.now();
    const members = prepared.map(({ identity }, i) =>
      newMember({ name: identity.name, addr: (nodes[i] as SimNode).addr, incarnation: identity.incarnation, generation, weight: 1 }),
    );
    // Each node's own entry among them is ignored by its table (only it speaks for itself).
    await Promise.all(nodes.map((node, i) => this.startLife(node, prepared[i] as PreparedLife, members)));
  }

  private async bootLife(node: SimNode): Promise<void> {
    await this.startLife(node, await this.prepareLife(node), []);
  }

  /** A new process life's first steps: its disk opened, its identity and saved state read. */
  private async prepareLife(node: SimNode): Promise<PreparedLife> {
    const life = new ProcessLife(this.clock, this.network.transportFor(node.addr));
    const handle = node.disk.open();
    const store = this.options.plant ? plantBug(this.options.plant, handle, life.clock, node.name) : handle;
    node.life = life;
    node.store = store;
    const identity = await loadIdentity(store, node.name, node.name, () => this.random.int(2 ** 32).toString(16), this.clock.now(), `boot-${node.boots}`);
    const meta = new NodeMeta(store);
    const restoredMembers = await meta.loadMembers(); // empty on a first boot, the saved table on a restart
    // Each node its own copy, as each daemon reads its own from its data dir: settings change per node, through gossip.
    const cluster = (await meta.loadCluster()) ?? structuredClone(this.cluster);
    await meta.saveCluster(cluster);
    return { life, store, identity, meta, restoredMembers, cluster };
  }

  /** Builds and starts the node of a prepared life, knowing `members` (as a join would leave it). */
  private async startLife(node: SimNode, prepared: PreparedLife, members: MemberInfo[]): Promise<void> {
    const { life, store, identity, meta, restoredMembers, cluster } = prepared;
    node.built = buildNode({
      identity,
      addr: node.addr,
      weight: 1,
      generation: this.clock.now(),
      store,
      meta,
      transport: life.transport,
      clock: life.clock,
      random: this.random.fork(),
      logger: nullLogger,
      codec: new ValueCodec(new InlineBrotliCodec(), { minBytes: 512, quality: 4 }),
      cacheBytes: 1024 * 1024,
      limits: defaultLimits,
      membership: defaultMembershipSettings,
      requestTimeoutMs: this.options.requestTimeoutMs ?? 500,
      cluster,
      members,
      restoredMembers,
      seeds: this.seeds.length > 0 ? this.seeds : [node.addr],
      hintCaps: { maxBytesPerTarget: 64 * 1024 * 1024, maxAgeMs: 60 * 60 * 1000 },
      hintDeliveryIntervalMs: 500,
      antiEntropy: { intervalMs: 0, maxKeysPerSecond: 1_000_000, tombstoneGraceMs: this.options.tombstoneGraceMs ?? 60 * 60 * 1000 },
      testingFaults: false,
    });
    this.network.register(node.addr, serveFrames(node.built.node, defaultLimits), node.name);
    await node.built.start();
  }

  /**
   * A request as a client connection sends it (kind: 'peer' for a connection that proved itself a
   * peer: node-to-node ops travel in frames, see `requestFrame`; `local`: the client runs on the
   * node's host, as an operator's CLI does).
   */
  private async handle(node: SimNode, body: Record<string, unknown>, kind: ConnectionKind, local: boolean): Promise<Record<string, unknown>> {
    const identity = newClientConnection(local ? 'sim-client (same host)' : 'sim-client (another host)', local);
    identity.kind = kind;
    const reply = await answerLine(Buffer.from(JSON.stringify(body)), node.built.node, identity, defaultLimits);
    if (reply.ok === false) throw KvError.fromWire(reply.error);
    return reply;
  }

  /**
   * Sends a client request to a node, as the CLI would: if the node's process dies first, the
   * connection is reset (KV_UNREACHABLE, at once); if it stalls, the client gives up after
   * `timeoutMs` of virtual time with KV_TIMEOUT.
   */
  request(node: SimNode, body: Record<string, unknown>, timeoutMs = 5000, kind: ConnectionKind = 'client', local = true): Promise<Record<string, unknown>> {
    return this.deliver(node, () => this.handle(node, body, kind, local), timeoutMs);
  }

  /** Sends one request frame to a node as a peer link would (node-to-node ops by hand); resolves the reply frame, error frames included. */
  requestFrame(node: SimNode, frame: Buffer, timeoutMs = 5000): Promise<Buffer> {
    const identity = { ...newClientConnection('sim-peer', false), kind: 'peer' as const };
    return this.deliver(node, () => answerFrame(frame, node.built.node, identity, defaultLimits), timeoutMs);
  }

  private deliver<T>(node: SimNode, handle: () => Promise<T>, timeoutMs: number): Promise<T> {
    const life = node.life;
    const sent = this.clock.now();
    const reply = new Promise<T>((resolve, reject) => {
      if (!life.isAlive) return reject(new KvError('KV_UNREACHABLE', `connection to ${node.name} refused`));
      const timer = this.clock.setTimer(timeoutMs, () => reject(new KvError('KV_TIMEOUT', `no reply from ${node.name}`)));
      const reset = life.onEnd(() => {
        timer.cancel();
        reject(new KvError('KV_UNREACHABLE', `connection to ${node.name} reset`));
      });
      life.guard(handle()).then(
        (value) => {
          timer.cancel();
          reset.cancel();
          resolve(value);
        },
        (err: unknown) => {
          timer.cancel();
          reset.cancel();
          reject(err);
        },
      );
    });
    if (!this.trace) return reply;
    const trace = this.trace;
    const record = (outcome: string) => trace.update(`${this.clock.now()} client>${node.name}@${sent} ${outcome}\n`);
    return reply.then(
      (value) => {
        record(Buffer.isBuffer(value) ? value.toString('base64') : JSON.stringify(value));
        return value;
      },
      (err: unknown) => {
        record(`error ${(err as KvError).code}`);
        throw err;
      },
    );
  }

  /** Advances virtual time by `ms` in steps of `stepMs`, checking invariants after each step when asked to. */
  run(ms: number, stepMs = 10): Promise<boolean> {
    return runFor(this.clock, ms, stepMs, this.invariants ? () => this.checkStep() : undefined);
  }

  /** Drives virtual time in steps of `stepMs` until the promise settles; returns its value or throws its error. */
  async settle<T>(promise: Promise<T>, stepMs = 10): Promise<T> {
    let done = false;
    const mark = () => {
      done = true;
    };
    void promise.then(mark, mark);
    while (!done) await this.run(stepMs, stepMs);
    return promise;
  }

  /** The invariants of one step (see invariants.ts); rings only at quiet points. */
  checkStep(): undefined {
    const invariants = this.invariants;
    if (!invariants) return undefined;
    invariants.checkStep(this.nodes.map((n) => n.name));
    const quiet = !this.partitioned && this.clock.now() - this.lastFaultAt >= QUIET_MS && this.nodes.every((n) => !this.isDown(n));
    if (quiet) invariants.checkRings(this.nodes.map((n) => ({ name: n.name, state: n.built.state })));
    return undefined;
  }

  /** Invariant violations found so far (none when not checking). */
  get violations(): readonly Violation[] {
    return this.invariants?.violations ?? [];
  }

  /** The hash of the trace so far (with `trace`). */
  traceHash(): string {
    if (!this.trace) throw new Error('traceHash() needs a SimCluster built with trace: true');
    return this.trace.copy().digest('hex');
  }

  /** kill -9: the process is gone (timers, requests and store calls die with it), its disk survives. */
  crash(node: SimNode): void {
    this.fault();
    node.built.stop();
    node.life.end();
    node.disk.crash();
    this.network.crash(node.addr);
  }

  /** Power loss of the node's machine: the process dies and its disk loses what was not synced. */
  powerLoss(node: SimNode, options: { partial?: boolean } = {}): PowerLossReport {
    this.crash(node);
    node.boots++; // the machine comes back under a new boot
    return node.disk.powerLoss(options);
  }

  /** Starts a crashed node again from its disk, as a new process generation. */
  async restart(node: SimNode): Promise<void> {
    this.network.restart(node.addr);
    await this.boot(node);
  }

  /** A long GC pause or SIGSTOP: unreachable, but memory intact. */
  pause(node: SimNode): void {
    this.fault();
    this.network.crash(node.addr);
  }

  resume(node: SimNode): void {
    this.fault();
    this.network.restart(node.addr);
  }

  /** Cuts every link between the two groups of nodes (see SimNetwork.partition). */
  partition(groupA: readonly SimNode[], groupB: readonly SimNode[]): void {
    this.fault();
    this.partitioned = true;
    this.network.partition(
      groupA.map((n) => n.addr),
      groupB.map((n) => n.addr),
    );
  }

  heal(): void {
    this.fault();
    this.partitioned = false;
    this.network.heal();
  }

  isDown(node: SimNode): boolean {
    return this.network.isCrashed(node.addr);
  }

  stop(): void {
    for (const n of this.nodes) {
      n.built.stop();
      n.life.end();
    }
  }

  private fault(): void {
    this.lastFaultAt = this.clock.now();
  }
}

function addrOf(index: number): string {
  // Node 256 and later take the next octets (10.0.1.0 and on), so every address stays distinct.
  return `10.0.${Math.floor(index / 256)}.${index % 256}:7070`;
}
