/**
 * A node's Prometheus metrics, in a private prom-client Registry (never the global one, so two
 * nodes in one process, or a library user's own metrics, do not mix). Everything but the process
 * metrics is read at scrape time from one `stats` snapshot of the node: the request metrics (kept
 * by the node in plain arrays, metrics/request-metrics.ts, so the request path never touches
 * prom-client) and the counters the node already keeps (hints, anti-entropy, handoff, members,
 * cache, codec, storage, connections). prom-client's default metrics give RSS, heap, GC and
 * event-loop lag. Names are kvctl_*; every label comes from a fixed set (ops, error codes,
 * quorums, member states), never from a key or any other string a client sends.
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import { isJsonObject, numberAt as num } from '../json.js';
import { parseRequestMetricsSnapshot, type RequestMetricsSnapshot } from './request-metrics.js';

/** The node's `stats` reply (KvNode.stats plus the daemon's process figures). */
export type StatsSnapshot = Record<string, unknown>;

export interface NodeMetrics {
  readonly registry: Registry;
  /** The exposition text, from a fresh stats snapshot; scrapes that overlap share one snapshot. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

/**
 * The request latency histogram, in the exposition's cumulative form, from the node's bucket
 * counts (prom-client's Histogram only counts what it observes itself; this one is filled by the
 * node). The object has the shape the registry reads from every metric: name, help, type, get().
 */
function latencyHistogram(name: string, current: () => RequestMetricsSnapshot | undefined): Metric {
  const help = 'Client request latency on the coordinating node, by op and quorum (w or r used)';
  const get = async () => {
    const snap = current();
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    if (snap) {
      const bounds = snap.boundsMs.map((ms) => ms / 1000);
      for (const [op, series] of Object.entries(snap.ops)) {
        for (const [quorum, l] of Object.entries(series.latency)) {
          let cumulative = 0;
          l.buckets.forEach((n, i) => {
            cumulative += n;
            const le = i < bounds.length ? (bounds[i] as number) : '+Inf';
            values.push({ metricName: `${name}_bucket`, labels: { op, quorum, le }, value: cumulative });
          });
          values.push({ metricName: `${name}_sum`, labels: { op, quorum }, value: l.sumMs / 1000 });
          values.push({ metricName: `${name}_count`, labels: { op, quorum }, value: l.count });
        }
      }
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  return { name, help, type: 'histogram', get, reset: () => {}, aggregator: 'sum' } as unknown as Metric;
}

/** Builds the registry for one node; `stats` is read once per scrape. */
export function nodeMetrics(stats: () => Promise<StatsSnapshot>): NodeMetrics {
  const registry = new Registry();
  let current: StatsSnapshot | undefined;
  const registers = [registry];

  /** A counter whose value is read from the snapshot at each scrape. */
  const counter = (name: string, help: string, value: (s: StatsSnapshot | undefined) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value(current));
      },
    });
  const gauge = (name: string, help: string, value: (s: StatsSnapshot | undefined) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value(current));
      },
    });

  const requests = () => parseRequestMetricsSnapshot(current?.requests);
  new Counter({
    name: 'kvctl_requests_total',
    help: 'Client requests this node answered, by op and outcome (ok, or the error code)',
    labelNames: ['op', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const [op, series] of Object.entries(requests()?.ops ?? {})) {
        this.inc({ op, outcome: 'ok' }, series.ok);
        for (const [code, n] of Object.entries(series.errors)) this.inc({ op, outcome: code }, n);
      }
    },
  });
  registry.registerMetric(latencyHistogram('kvctl_request_duration_seconds', requests));

  counter('kvctl_quorum_failures_total', 'Reads and writes this node coordinated that did not reach their quorum', (s) => num(s, 'ops', 'quorumFailures'));
  counter('kvctl_forwarded_writes_total', 'Writes this node forwarded to a replica of their key to coordinate', (s) => num(s, 'ops', 'forwarded'));
  counter('kvctl_read_repairs_total', 'Stale replicas a read brought up to date', (s) => num(s, 'ops', 'readRepairs'));
  counter('kvctl_stand_ins_total', 'Fallback replicas that stood in for a down one (sloppy quorum)', (s) => num(s, 'ops', 'standIns'));
  counter('kvctl_errors_total', 'Error replies of every kind (clients and peers, unparsable requests included)', (s) => num(s, 'ops', 'errors'));
  gauge('kvctl_keys', 'Keys this node holds', (s) => num(s, 'keys'));
  gauge('kvctl_uptime_seconds', 'Time since the node started', (s) => num(s, 'uptimeMs') / 1000);
  gauge('kvctl_storage_degraded', '1 while the storage refuses writes (reads still served)', (s) => (s?.health === 'degraded' ? 1 : 0));

  gauge('kvctl_hints_held', 'Hints held for down replicas', (s) => num(s, 'hints', 'held'));
  counter('kvctl_hints_stored_total', 'Hints stored for down replicas', (s) => num(s, 'hints', 'stored'));
  counter('kvctl_hints_delivered_total', 'Hints delivered to their replica once it was back', (s) => num(s, 'hints', 'delivered'));
  new Counter({
    name: 'kvctl_hints_dropped_total',
    help: 'Hints dropped (left to anti-entropy), by reason: over the per-node byte cap, or too old',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'bytes' }, num(current, 'hints', 'droppedOverBytes'));
      this.inc({ reason: 'age' }, num(current, 'hints', 'droppedOverAge'));
    },
  });

  counter('kvctl_anti_entropy_exchanges_total', 'Merkle exchanges with a peer', (s) => num(s, 'antiEntropy', 'exchanges'));
  counter('kvctl_anti_entropy_keys_repaired_total', 'Keys anti-entropy sent or fetched because replicas differed', (s) =>
    num(s, 'antiEntropy', 'keysTransferred'),
  );
  counter('kvctl_anti_entropy_bytes_total', 'Bytes of records anti-entropy transferred', (s) => num(s, 'antiEntropy', 'bytesTransferred'));
  counter('kvctl_tombstones_reaped_total', 'Tombstones reaped once every replica held them', (s) => num(s, 'antiEntropy', 'tombstonesReaped'));

  gauge('kvctl_handoff_backlog', 'Ownership transfers (key batches to new owners) waiting or under way', (s) => num(s, 'handoff', 'pending'));
  counter('kvctl_handoff_sent_keys_total', 'Keys handed to their new owners after a ring change', (s) => num(s, 'handoff', 'sentKeys'));

  new Gauge({
    name: 'kvctl_members',
    help: 'Cluster members as this node sees them, by status (up, leaving, left, removed) and health (alive, suspect, down, ...)',
    labelNames: ['status', 'health'],
    registers,
    collect() {
      this.reset();
      const states = isJsonObject(current?.cluster) ? current.cluster.memberStates : undefined;
      if (!Array.isArray(states)) return;
      for (const s of states) {
        if (isJsonObject(s) && typeof s.status === 'string' && typeof s.health === 'string' && typeof s.count === 'number') {
          this.set({ status: s.status, health: s.health }, s.count);
        }
      }
    },
  });

  counter('kvctl_cache_hits_total', 'Reads answered from the value cache', (s) => num(s, 'cache', 'hits'));
  counter('kvctl_cache_misses_total', 'Reads that went to LevelDB', (s) => num(s, 'cache', 'misses'));
  gauge('kvctl_cache_bytes', 'Bytes in the value cache', (s) => num(s, 'cache', 'bytes'));
  gauge('kvctl_cache_budget_bytes', 'Memory budget of the value cache', (s) => num(s, 'cache', 'budgetBytes'));
  gauge('kvctl_cache_entries', 'Values in the cache', (s) => num(s, 'cache', 'entries'));

  counter('kvctl_codec_raw_bytes_total', 'Bytes of values written, before compression', (s) => num(s, 'codec', 'rawBytes'));
  counter('kvctl_codec_stored_bytes_total', 'Bytes stored for those values, after compression', (s) => num(s, 'codec', 'storedBytes'));
  gauge('kvctl_compression_ratio', 'Raw over stored bytes of the values written since start (1 when none)', (s) => {
    const stored = num(s, 'codec', 'storedBytes');
    return stored > 0 ? num(s, 'codec', 'rawBytes') / stored : 1;
  });
  gauge('kvctl_disk_bytes', "LevelDB's size on disk (approximate)", (s) => num(s, 'store', 'diskBytes'));

  new Gauge({
    name: 'kvctl_connections',
    help: 'Open connections, by kind (client, peer)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.set({ kind: 'client' }, num(current, 'server', 'clientConnections'));
      this.set({ kind: 'peer' }, num(current, 'server', 'peerConnections'));
    },
  });
  counter('kvctl_connections_refused_total', 'Connections refused at the connection limits', (s) => num(s, 'server', 'refusedConnections'));

  // Process metrics (RSS, heap, GC, event-loop lag), measured by prom-client in this process.
  collectDefaultMetrics({ register: registry, prefix: 'kvctl_' });

  let inFlight: Promise<string> | undefined;
  const scrape = () => {
    inFlight ??= (async () => {
      try {
        current = await stats();
        return await registry.metrics();
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
  return { registry, scrape, contentType: registry.contentType };
}
