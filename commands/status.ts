import { Flags } from '@oclif/core';
import { addrFlags, KvCommand } from '../src/cli/base-command.js';
import { type ClusterView, copiesWarning, settingsText } from '../src/cli/cluster-text.js';
import { KvClient } from '../src/client/client.js';
import { envVars } from '../src/config.js';
import { readPidFile } from '../src/daemon/control.js';
import { ExitStatus, type KvError } from '../src/errors.js';
import { isJsonObject } from '../src/json.js';

export default class Status extends KvCommand {
  static override summary = 'Say whether a daemon runs, and show its stats.';
  static override description = `Asks the daemon at --addr (or the one whose pid file is in --data-dir) for its stats: its health, uptime,
operation counts, cache entries/bytes/hit ratio, compression, disk bytes, connections and limits. Exit 0 when it runs, 3 when it does not.
Health is up, or degraded while its storage refuses writes (a full disk, an I/O error): then it says why and since when, still serves
reads, and retries on its own (reopening LevelDB if it must) until writes work again.`;
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json | jq .cache.hitRatio'];

  static override flags = {
    ...addrFlags,
    'data-dir': Flags.string({ description: 'Find the daemon through the pid file in this data dir', env: envVars.dataDir }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(Status);
    const dataDir = flags.addr ? undefined : flags['data-dir'];
    const holder = dataDir ? readPidFile(dataDir) : undefined;
    if (dataDir && !holder) return this.notRunning(`no daemon runs for ${dataDir}`, { dataDir, reason: 'no pid file' });
    const addr = holder ? `${holder.host}:${holder.port}` : this.resolveAddr(flags.addr);
    let client: KvClient;
    try {
      client = await KvClient.connect(addr, this.clientOptions(flags));
    } catch (err) {
      const reason = whyUnreachable(err as KvError, flags.timeout);
      return this.notRunning(`nothing answers at ${addr}`, { addr, reason });
    }
    try {
      const stats = await client.stats();
      this.say(describe(stats));
      return { running: true, ...stats };
    } finally {
      await client.close();
    }
  }

  /** "Not running" is the answer, not a failure: one line on stdout, exit 3, `running: false` in JSON. */
  private notRunning(fact: string, where: { reason: string; addr?: string; dataDir?: string }): Record<string, unknown> {
    this.say(`not running: ${fact} (${where.reason})`);
    this.setExit(ExitStatus.unreachable);
    return { running: false, ...where };
  }
}

const errnoMeanings: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** The client's reason without the address it repeats: "connection refused", "no answer within 10000 ms". */
function whyUnreachable(err: KvError, timeoutMs: number): string {
  const errno = err.details?.cause;
  if (typeof errno === 'string') return errnoMeanings[errno] ?? errno;
  return err.code === 'KV_UNREACHABLE' && !err.details?.cause ? `no answer within ${timeoutMs} ms` : err.message;
}

function clusterLine(c: ClusterView): string {
  const warning = copiesWarning(c);
  return `${settingsText(c)}, ${c.nodes} node${c.nodes === 1 ? '' : 's'} in the ring${warning ? `; ${warning}` : ''}`;
}

function describe(s: Record<string, unknown>): string {
  const ops = s.ops as Record<string, number>;
  const cache = s.cache as Record<string, number>;
  const store = s.store as Record<string, number>;
  const codec = s.codec as Record<string, unknown>;
  const server = s.server as Record<string, number>;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return [
    `running: "${s.node}" at ${s.addr} (pid ${s.pid}, up ${Math.round(Number(s.uptimeMs) / 1000)} s)`,
    `  health:      ${healthLine(s.health, s.storage)}`,
    `  data dir:    ${s.dataDir}${s.sync ? ' (fsync per commit)' : ''}`,
    `  log:         ${s.logFile}`,
    `  ops:         ${ops.gets} gets, ${ops.puts} puts, ${ops.deletes} deletes, ${ops.errors} errors`,
    `  cache:       ${cache.entries} entries, ${mib(cache.bytes ?? 0)} of ${mib(cache.budgetBytes ?? 0)}, hit ratio ${((cache.hitRatio ?? 0) * 100).toFixed(1)}%`,
    `  codec:       ${codec.name}: ${codec.compressedValues} values compressed, ${codec.rawValues} stored raw`,
    `  disk:        ${mib(store.diskBytes ?? 0)} (approximate), ${store.batches} group commits of ${store.batchedOps} writes`,
    `  connections: ${connectionsLine(server, mib)}`,
    `  cluster:     ${clusterLine(s.cluster as ClusterView)}`,
    `  security:    ${securityLine(s.security)}`,
  ].join('\n');
}

/** `up`, or `degraded` with why, since when and how recovery goes. */
function healthLine(health: unknown, storage: unknown): string {
  if (health !== 'degraded' || !isJsonObject(storage)) return typeof health === 'string' ? health : 'not reported';
  const since =
    typeof storage.since === 'number' ? ` since ${new Date(storage.since).toISOString()} (${Math.round((Date.now() - storage.since) / 1000)} s)` : '';
  const latest = typeof storage.lastError === 'string' ? `; latest attempt: ${storage.lastError}` : '';
  return `DEGRADED${since}: ${String(storage.cause)}; it takes no writes (the cluster sends them to healthy replicas), reads served; retrying on its own (${Number(storage.attempts ?? 0)} attempts${latest})`;
}

/** Open connections by kind and what they hold (a daemon that does not report kinds: the total only). */
function connectionsLine(server: Record<string, number>, mib: (n: number) => string): string {
  const open = `${server.connections} open, ${server.refusedConnections} refused`;
  if (server.clientConnections === undefined) return open;
  const timeouts = (server.closedByReadTimeout ?? 0) + (server.closedBySendTimeout ?? 0) + (server.closedByIdleTimeout ?? 0);
  return (
    `${server.clientConnections} clients, ${server.peerConnections} peers open, ${server.refusedConnections} refused, ${timeouts} closed by timeouts; ` +
    `holding ${mib(server.replyBytesHeld ?? 0)} of replies, ${mib(server.inputBytesHeld ?? 0)} of input`
  );
}

/** What protects the node, and a warning when it runs --insecure. */
function securityLine(raw: unknown): string {
  if (!isJsonObject(raw)) return 'not reported';
  const parts = [
    raw.peerSecret ? 'peers prove the cluster secret' : 'no cluster secret (any local process can act as a peer)',
    raw.clientTokens ? 'clients need tokens' : 'no client tokens',
    raw.tls ? (raw.peerCertificates ? 'TLS, peers present certificates' : 'TLS') : 'no TLS',
  ];
  const warning = raw.insecure ? 'WARNING: --insecure: other hosts may connect without protection; ' : '';
  return `${warning}${parts.join(', ')}`;
}
