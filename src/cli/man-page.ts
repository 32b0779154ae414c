/**
 * Generates man/kvctl.1 (roff) from the sources the program itself runs on: the oclif manifest
 * (each command's summary, description, args, flags with their groups and defaults, examples),
 * the wire protocol's per-op field allow-lists, the limits and environment variables of
 * src/config.ts, the data dir layout of src/daemon/paths.ts and the error registry. A test
 * regenerates the page and compares it with the committed file, so the page never drifts.
 * Commands are named as typed (`kvctl ring show`), never by their oclif id (`ring:show`).
 */
import { DEFAULT_HOST, DEFAULT_PORT, defaultLimits, envVars } from '../config.js';
import { daemonPaths, defaultDataDir } from '../daemon/paths.js';
import { type ErrorCode, ExitStatus, errorCodes } from '../errors.js';
import { isPeerOpName } from '../net/peer-frames.js';
import { allowedFields } from '../net/protocol.js';
import type { Op } from '../protocol/client.js';
import { MAX_CLOCK_KEYS, MAX_REPLICA_ITEMS } from '../protocol/peer.js';
import {
  DEFAULT_SCAN_PAGE_KEYS,
  MAX_PEER_SCAN_KEYS,
  MAX_SCAN_PAGE_KEYS,
  MAX_SCANS_PER_CONNECTION,
  PEER_SCAN_PAGE_BYTES,
  SCAN_PAGE_BYTES,
  SCAN_WINDOW_BYTES,
} from '../protocol/scan.js';

interface ManifestFlag {
  name: string;
  char?: string;
  type: 'boolean' | 'option';
  description?: string;
  summary?: string;
  default?: unknown;
  env?: string;
  options?: string[];
  helpGroup?: string;
  helpValue?: string;
  hidden?: boolean;
}

type ManifestExample = string | { command: string; description?: string };

interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  hidden?: boolean;
  examples?: ManifestExample[];
  args: Record<string, { name: string; description?: string; required?: boolean }>;
  flags: Record<string, ManifestFlag>;
}

export interface Manifest {
  version: string;
  commands: Record<string, ManifestCommand>;
}

/** `ring:show` -> `ring show`: the oclif id as the user types it (topics are separated by spaces). */
export function typedName(id: string): string {
  return id.replace(/:/g, ' ');
}

/** Escapes text for roff: backslashes, hyphens that must stay ASCII, and leading dots or quotes. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** Prose from a help text: source line breaks only wrap, so lines join into one filled paragraph; blank lines separate paragraphs. */
function prose(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((para) => esc(para.replace(/\s*\n\s*/g, ' ').trim()))
    .join('\n.PP\n');
}

const term = (head: string, body: string) => `.TP\n${head}\n${body}`;

function visibleCommands(manifest: Manifest): [string, ManifestCommand][] {
  return Object.entries(manifest.commands)
    .filter(([, cmd]) => !cmd.hidden)
    .sort(([a], [b]) => typedName(a).localeCompare(typedName(b)));
}

function usage(id: string, cmd: ManifestCommand): string {
  const args = Object.values(cmd.args)
    .map((a) => (a.required ? ` \\fI${a.name.toUpperCase()}\\fR` : ` [\\fI${a.name.toUpperCase()}\\fR]`))
    .join('');
  return `\\fBkvctl ${esc(typedName(id))}\\fR${args} [\\fIFLAGS\\fR]`;
}

function flagTerm(flag: ManifestFlag): string {
  const value = flag.type === 'option' ? ` \\fI${esc(flag.helpValue ?? flag.options?.join('|') ?? 'VALUE')}\\fR` : '';
  const names = `${flag.char ? `\\fB\\-${flag.char}\\fR, ` : ''}\\fB\\-\\-${esc(flag.name)}\\fR${value}`;
  const extras = [flag.default !== undefined && flag.default !== false ? `default: ${String(flag.default)}` : '', flag.env ? `env: ${flag.env}` : ''].filter(
    Boolean,
  );
  return term(names, `${esc(flag.description ?? flag.summary ?? '')}${extras.length ? ` (${esc(extras.join('; '))})` : ''}`);
}

/** Flags in their help groups (ungrouped first, GLOBAL last, as `--help` shows them), sorted by name within a group. */
function flagSections(cmd: ManifestCommand): string[] {
  const groups = new Map<string, ManifestFlag[]>();
  for (const flag of Object.values(cmd.flags).filter((f) => !f.hidden)) {
    const group = flag.helpGroup ?? '';
    groups.set(group, [...(groups.get(group) ?? []), flag]);
  }
  const rank = (g: string) => (g === '' ? 0 : g === 'GLOBAL' ? 2 : 1);
  const names = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const out: string[] = [];
  for (const group of names) {
    out.push('.PP', `${group === '' ? 'Flags' : `${esc(group.charAt(0) + group.slice(1).toLowerCase())} flags`}:`);
    for (const flag of (groups.get(group) ?? []).sort((x, y) => x.name.localeCompare(y.name))) out.push(flagTerm(flag));
  }
  return out;
}

function commandsSection(manifest: Manifest): string[] {
  const out = ['.SH COMMANDS'];
  for (const [id, cmd] of visibleCommands(manifest)) {
    out.push(`.SS "kvctl ${esc(typedName(id))}"`, usage(id, cmd), '.PP', prose(cmd.summary ?? ''));
    if (cmd.description) out.push('.PP', prose(cmd.description));
    const args = Object.values(cmd.args);
    if (args.length) out.push('.PP', 'Arguments:', ...args.map((a) => term(`\\fI${a.name.toUpperCase()}\\fR`, esc(a.description ?? ''))));
    out.push(...flagSections(cmd));
  }
  return out;
}

function exampleText(example: ManifestExample, id: string): string {
  const text = typeof example === 'string' ? example : `${example.command}${example.description ? `   # ${example.description}` : ''}`;
  return text.replace(/<%= config\.bin %>/g, 'kvctl').replace(/<%= command\.id %>/g, typedName(id));
}

function examplesSection(manifest: Manifest): string[] {
  const out = ['.SH EXAMPLES', "Each command's own examples, as typed at a shell:"];
  for (const [id, cmd] of visibleCommands(manifest)) {
    if (!cmd.examples?.length) continue;
    out.push('.PP', `\\fBkvctl ${esc(typedName(id))}\\fR`, '.RS 4', '.nf', ...cmd.examples.map((ex) => esc(exampleText(ex, id))), '.fi', '.RE');
  }
  return out;
}

/** What each op does; the fields come from the allow-lists the daemon validates requests with. */
const opPurpose: Record<Op, string> = {
  ping: 'Liveness check; replies ok.',
  stats: 'Counters and settings of the node (what kvctl status shows).',
  members: 'The member table as this node sees it (kvctl members).',
  ring: 'The ring, and with key the preference list of that key (kvctl ring show).',
  leave: 'Start decommissioning this node (kvctl leave).',
  remove: 'Take a dead node out of the cluster for good; its keys get new replicas (kvctl remove).',
  'cluster.set': "Change the cluster's n, w, r or consistency; gossip spreads them (kvctl cluster set).",
  reap: 'Reap tombstones that every replica holds and that are older than the grace period.',
  repair: 'Merkle anti-entropy with peers now (kvctl repair).',
  put: 'Store value under key. Without context it overwrites (supersedes what a read at R sees); with context it supersedes exactly the versions that read saw; keepSiblings (no context) keeps what is there as siblings; ttlMs makes it expire that many ms after the node takes it (the reply gives expiresAt).',
  get: 'Read key: replies found, values (one, or several siblings), encoding and one context covering them.',
  scan: `List keys (values too with values:true) in key order across the cluster: [start, end) narrowed to prefix, after cursor, up to limit keys. A streamed reply: many lines for one id, each with up to pageKeys keys (at most ${MAX_SCAN_PAGE_KEYS}, default ${DEFAULT_SCAN_PAGE_KEYS}) and about ${SCAN_PAGE_BYTES / 1024} KiB in items, and a cursor to resume after its last key; the last line says done. At most ${MAX_SCANS_PER_CONNECTION} scans run at once on a connection. With versions:true each item is the key's whole record as an export line (kvctl export).`,
  import:
    "Merge one export line (record: its whole causal record) into the key's replicas, at W (kvctl import). Importing a line twice, or into the cluster it came from, changes nothing.",
  delete: 'Write a tombstone for key (superseding what a read at R sees, or exactly what context saw); replies existed.',
  'gossip.push':
    'Gossip and join requests: digests of members (name, generation, heartbeat) open an exchange, answered with the entries and heartbeat deltas the sender lacks and the digests the answering node wants, sent last; a joiner or a full sync gets the whole member table.',
  'kv.read': 'Read a replica, or only its digest.',
  'kv.clocks': `The version vector a replica holds for each of up to ${MAX_CLOCK_KEYS} keys (what a plain write supersedes).`,
  'kv.replicate': 'Store a record on a replica; hintFor names the down node a fallback stands in for.',
  'kv.replicate.many': `Store up to ${MAX_REPLICA_ITEMS} records in one line, one result per record.`,
  'kv.coordinate': "A write forwarded to one of its key's replicas to coordinate.",
  'kv.reap': 'Reap one tombstone on a replica.',
  'ae.hashes': 'Anti-entropy: Merkle tree hashes at a level.',
  'ae.leaves': 'Anti-entropy: keys and version digests of differing leaves.',
  'ae.fetch': 'Anti-entropy: fetch records by key.',
  'ae.store': 'Anti-entropy: store records, merged with what the replica holds.',
  'kv.scan': `One page of a replica's records for a scan, in key order: up to ${MAX_PEER_SCAN_KEYS} keys and about ${PEER_SCAN_PAGE_BYTES / 1024} KiB, values left out unless asked.`,
  'test.fault': 'The per-link fault switch for partition tests; served only by daemons started with --testing-faults.',
  auth: 'Present a client token (a daemon with --client-token-file serves nothing but ping and auth until one is given); replies its role.',
  'peer.hello': 'First step of the peer handshake: protocol version, node name, cluster id and a fresh 32-byte nonce; replies the same of the other node.',
  'peer.proof':
    'Second step: HMAC-SHA256 proofs under the current (and previous) cluster secret; replies the other node’s proof. With frames:true (nodes’ links), the connection carries binary frames from then on.',
};

/** One `.TP` per op: the op in bold, then "Fields: ..." (the exact allow-list, in order), then its purpose. */
function opTerm(op: Op): string {
  const fields = [...allowedFields[op]].map((f) => `\\fI${esc(f)}\\fR`).join(', ');
  const purpose = opPurpose[op] ?? '';
  return term(`\\fB${esc(op)}\\fR`, `Fields: ${fields}.${purpose ? `\n.br\n${esc(purpose)}` : ''}`);
}

function protocolSection(): string[] {
  const ops = Object.keys(allowedFields) as Op[];
  const connectionOps: Op[] = ['auth', 'peer.hello', 'peer.proof'];
  const clientOps = ops.filter((op) => !isPeerOpName(op) && !connectionOps.includes(op));
  const peerOps = ops.filter((op) => isPeerOpName(op));
  return [
    '.SH WIRE PROTOCOL',
    prose(
      'Newline-delimited JSON over TCP: one request object per line, one reply object per line. A request has an id (number or string, echoed in its reply), ' +
        'an op and the fields of that op; many requests may be in flight on one connection and replies may come out of order, matched by id. ' +
        'A reply is {"id":…,"ok":true,…} or {"id":…,"ok":false,"error":{"code":"KV_…","message":…,"details":{…}}}. A missing key is found:false, a value, not an error.',
    ),
    '.PP',
    prose(
      'Keys and values are bytes: UTF-8 strings, or base64 with "encoding":"base64" (for both key and value). A get answers in UTF-8 when every value is valid ' +
        'UTF-8, in base64 otherwise, and says which in encoding. w and r are whole numbers from 1 to N; consistency is "strict" or "sloppy"; context is the opaque ' +
        "string a get of the same key returned (on another key it is KV_BAD_CONTEXT; a missing key's, W10, is taken on any key).",
    ),
    '.PP',
    prose(
      'Each op accepts exactly the fields listed below; any other field name is refused with KV_BAD_REQUEST, and so are __proto__, constructor and prototype as ' +
        'field names (as keys or values they are ordinary data), and a line that gives one field twice in any of its objects (parsers disagree on which one counts). ' +
        'An unknown op is KV_UNKNOWN_OP.',
    ),
    '.SS "Client ops"',
    prose(
      'With --client-token-file, a client sends auth with its token first; until then only ping and auth are served (others: KV_AUTH_REQUIRED), and then ' +
        'what its role allows: read (get, stats, members, ring), write (also put, delete), admin (also leave, remove, repair, reap, cluster.set, test.fault); ' +
        "more is KV_FORBIDDEN. Without tokens, reads and writes are open and leave, remove, cluster.set and test.fault are taken only from the node's own host.",
    ),
    ...clientOps.map(opTerm),
    '.SS "Connection ops"',
    prose(
      'A node opening a connection to another proves it knows the cluster secret (--secret-file) before any node-to-node op: peer.hello, then peer.proof, ' +
        'HMAC-SHA256 over both nonces, the cluster id and both names, each side with its own label; the secret never crosses the wire and a recorded ' +
        'handshake proves nothing on another connection. A wrong secret is KV_AUTH_FAILED, another cluster KV_CLUSTER_MISMATCH.',
    ),
    ...connectionOps.map(opTerm),
    '.SS "Node-to-node ops"',
    prose(
      'Nodes use the same port. Once the peer handshake succeeds, the connection carries binary frames both ways instead of lines: a 10-byte header ' +
        '(length, kind, request id, op code), then the fields below in binary (keys and values as raw bytes, records in their stored form; gossip as JSON text); ' +
        'a frame, like a line, is at most --max-line-bytes. They are listed for operators reading logs and captures. ' +
        'Messages and replies between nodes are validated as strictly as client requests, in both directions. A connection that has not completed the ' +
        'peer handshake is refused these ops with KV_FORBIDDEN.',
    ),
    ...peerOps.map(opTerm),
  ];
}

/** The code a request over each limit gets; a limit not listed here is matched by the flag its code's summary names. */
const limitCodes: Partial<Record<string, ErrorCode>> = {
  'max-line-bytes': 'KV_LINE_TOO_LONG',
  'max-key-bytes': 'KV_KEY_TOO_LARGE',
  'max-value-bytes': 'KV_VALUE_TOO_LARGE',
  'max-connections': 'KV_TOO_MANY_CONNECTIONS',
  'max-peer-connections': 'KV_TOO_MANY_CONNECTIONS',
  'max-siblings': 'KV_TOO_MANY_SIBLINGS',
};

function codeFor(flagName: string): ErrorCode | undefined {
  return limitCodes[flagName] ?? (Object.keys(errorCodes) as ErrorCode[]).find((code) => errorCodes[code].summary.includes(`--${flagName})`));
}

/** 2097152 -> "2097152, 2 MiB" for byte counts that are whole KiB or MiB. */
function bytesText(value: unknown): string {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024) return String(value);
  return n % (1024 * 1024) === 0 ? `${n}, ${n / 1024 / 1024} MiB` : n % 1024 === 0 ? `${n}, ${n / 1024} KiB` : String(n);
}

function limitsSection(manifest: Manifest): string[] {
  const start = manifest.commands.start;
  const limitFlags = Object.values(start?.flags ?? {}).filter((f) => f.helpGroup === 'LIMITS' && !f.hidden);
  const out = [
    '.SH LIMITS',
    prose(
      'Every resource a connection can make a daemon hold is bounded. These limits are flags of kvctl start (defaults shown); a request over one is refused with ' +
        'the code given, and nothing is written.',
    ),
  ];
  for (const flag of limitFlags.sort((a, b) => a.name.localeCompare(b.name))) {
    const code = codeFor(flag.name);
    out.push(
      term(
        `\\fB\\-\\-${esc(flag.name)}\\fR (default ${esc(flag.name.endsWith('-bytes') ? bytesText(flag.default) : String(flag.default))})`,
        `${esc(flag.description ?? '')}${code ? `; over it: \\fB${esc(code)}\\fR.` : '.'}`,
      ),
    );
  }
  out.push(
    term(
      'Requests in flight per connection',
      esc(
        `${defaultLimits.maxInFlightPerConnection}: above it the daemon stops reading that connection until replies drain (TCP backpressure), so no buffer grows without bound.`,
      ),
    ),
    term(
      'Scans',
      esc(
        `${MAX_SCANS_PER_CONNECTION} at once per connection (one more: KV_TOO_MANY_SCANS); a reply line carries up to pageKeys keys (at most ${MAX_SCAN_PAGE_KEYS}) and about ${SCAN_PAGE_BYTES / 1024} KiB of items; the next line is made only while the connection holds under ${SCAN_WINDOW_BYTES / 2 ** 20} MiB of replies unsent; a node's page is at most ${MAX_PEER_SCAN_KEYS} keys and ${PEER_SCAN_PAGE_BYTES / 1024} KiB, and the node asked holds at most two pages per node.`,
      ),
    ),
    term(
      'Records per kv.replicate.many line',
      esc(`${MAX_REPLICA_ITEMS}, and keys and stored values of at most 3/8 of the line limit (about half of it in base64).`),
    ),
  );
  return out;
}

function environmentSection(manifest: Manifest): string[] {
  const out = ['.SH ENVIRONMENT'];
  for (const variable of Object.values(envVars).sort()) {
    const users = visibleCommands(manifest).flatMap(([id, cmd]) =>
      Object.values(cmd.flags)
        .filter((f) => f.env === variable)
        .map((f) => `\\-\\-${esc(f.name)} of \\fBkvctl ${esc(typedName(id))}\\fR`),
    );
    const text =
      variable === envVars.addr
        ? `Daemon address (host:port) for client commands without \\-\\-addr; when unset, $${envVars.host}:$${envVars.port} if either is set, else ${DEFAULT_HOST}:${DEFAULT_PORT}.`
        : `Default for ${users.join(', ') || 'nothing yet'}.`;
    out.push(term(`\\fB${variable}\\fR`, text));
  }
  out.push(
    term('\\fBXDG_DATA_HOME\\fR', `Where default data dirs live: ${esc(defaultDataDir({ XDG_DATA_HOME: '$XDG_DATA_HOME' }))}; unset, $HOME/.local/share.`),
  );
  return out;
}

function filesSection(): string[] {
  const paths = daemonPaths('DATA_DIR');
  const local = (path: string) => path.replace(/^DATA_DIR\//, '');
  return [
    '.SH FILES',
    term(`\\fI${esc(defaultDataDir({ XDG_DATA_HOME: '$XDG_DATA_HOME' }))}\\fR`, 'The data dir of kvctl start without \\-\\-data\\-dir.'),
    term(
      '\\fI$XDG_DATA_HOME/kvctl/local\\-cluster/nodeK\\fR',
      'The data dirs of kvctl start \\-\\-nodes K without \\-\\-data\\-dir (nodeK under it with one).',
    ),
    term(
      '\\fI$XDG_DATA_HOME/kvctl/local\\-cluster/cluster.secret\\fR',
      'The secret kvctl start \\-\\-nodes made for the local cluster (mode 600); a node joining it later needs \\-\\-secret\\-file pointing here.',
    ),
    '.PP',
    'Inside a data dir:',
    term(
      `\\fIDATA_DIR/${esc(local(paths.db))}\\fR`,
      "LevelDB: the records, the node's identity (name and incarnation), its cluster membership and hints for down nodes.",
    ),
    term(
      `\\fIDATA_DIR/${esc(local(paths.pidFile))}\\fR`,
      'JSON: pid, host, port, name, startedAt. Informational: the LevelDB lock is what keeps a second daemon out, so a pid file left by a crash blocks nothing.',
    ),
    term(
      `\\fIDATA_DIR/${esc(local(paths.logFile))}\\fR`,
      "The daemon log: one JSON object per line (time, level, node, event, msg, then the event's fields), rotated at \\-\\-log\\-max\\-bytes to kvctl.log.1 ... kvctl.log.N (N: \\-\\-log\\-files); see docs/logs.md.",
    ),
    term(
      `\\fIDATA_DIR/${esc(local(paths.outFile))}\\fR`,
      "What the daemon process printed itself, such as a crash's stack trace; moved to daemon.out.1 at a start once over 1 MiB.",
    ),
  ];
}

const exitMeaning: Partial<Record<number, string>> = {
  [ExitStatus.ok]: 'success',
  [ExitStatus.notFound]: 'key not found (get)',
  [ExitStatus.usage]: 'usage error: bad flag, missing argument, value out of range',
  [ExitStatus.unreachable]: 'daemon unreachable, timed out, or not running',
  [ExitStatus.rejected]: 'request rejected: bad input, too large, too many siblings; in --stdin mode, any line failed',
  [ExitStatus.quorum]: 'quorum not met: too few replicas reachable or answering',
  [ExitStatus.startFailed]: 'daemon could not start: port in use, data dir locked, cluster mismatch',
  [ExitStatus.internal]: 'internal or storage error',
};

function exitSection(): string[] {
  const out = ['.SH EXIT STATUS'];
  const statuses = [...new Set(Object.values(ExitStatus) as number[])].sort((a, b) => a - b);
  for (const status of statuses) {
    const codes = (Object.keys(errorCodes) as ErrorCode[]).filter((c) => errorCodes[c].exit === status);
    const meaning = exitMeaning[status] ?? 'see the codes';
    out.push(term(`\\fB${status}\\fR`, `${esc(meaning)}${codes.length ? ` (${codes.map(esc).join(', ')})` : ''}`));
  }
  out.push('.SH ERRORS', esc('Every failure carries a stable code (it never changes; messages may). Code, exit status, meaning:'));
  for (const code of Object.keys(errorCodes).sort() as ErrorCode[]) {
    const spec = errorCodes[code];
    out.push(term(`\\fB${esc(code)}\\fR (exit ${spec.exit}${spec.retryable ? ', retryable' : ''})`, esc(spec.summary)));
  }
  return out;
}

export function renderManPage(manifest: Manifest): string {
  const synopsis = visibleCommands(manifest).flatMap(([id, cmd]) => [usage(id, cmd), '.br']);
  return [
    `.TH KVCTL 1 "" "kvctl ${manifest.version}" "User Commands"`,
    // Left-aligned and unhyphenated: flags, codes and JSON must stay copyable as printed.
    '.ad l',
    '.nh',
    '.SH NAME',
    'kvctl \\- a Dynamo\\-style distributed key\\-value store and its command line',
    '.SH SYNOPSIS',
    ...synopsis.slice(0, -1),
    '.SH DESCRIPTION',
    prose(
      'kvctl starts and stops kvctl daemons, reads and writes their data, and shows and changes their cluster. A daemon stores keys and values on LevelDB; ' +
        'several daemons form a cluster with consistent hashing, per-request quorums (N replicas per key, W acknowledgements per write, R replies per read), ' +
        'version vectors with siblings for concurrent writes, gossip membership, hinted handoff and Merkle anti-entropy.',
    ),
    '.PP',
    prose(
      `Client commands find their daemon by --addr host:port, else ${envVars.addr}, else ${DEFAULT_HOST}:${DEFAULT_PORT} (see ENVIRONMENT). Every command takes --json, which prints one JSON ` +
        'object on stdout (errors too, as {"ok":false,"error":{"code":…,"message":…}}); human text goes to stdout and warnings to stderr.',
    ),
    ...commandsSection(manifest),
    ...examplesSection(manifest),
    ...protocolSection(),
    ...limitsSection(manifest),
    '.SH SECURITY',
    prose(
      'Nodes prove they know the cluster secret (--secret-file; kvctl secret new makes one, kvctl start --nodes makes one for a local cluster) before any ' +
        'node-to-node op, by a challenge-response in which the secret never crosses the wire; a node with the wrong secret cannot join (KV_AUTH_FAILED). ' +
        'With --client-token-file, clients present a token (--token-file) whose role (read, write, admin) decides what they may run. With --tls-cert, ' +
        '--tls-key and --tls-ca, the listener and every peer connection use TLS 1.3, and --tls-peer-verify makes peers present a certificate from the CA; ' +
        'clients reach such a daemon with --tls-ca. Protected mode: a daemon on an address other than loopback refuses to start without a secret and, for ' +
        'clients, tokens or TLS, unless --insecure (then its log and kvctl status warn). Values are not encrypted at rest.',
    ),
    ...environmentSection(manifest),
    ...filesSection(),
    ...exitSection(),
    '.SH SEE ALSO',
    '\\fBjq\\fR(1).',
    '.PP',
    prose(
      'README.md in the kvctl package: a tour, the guarantees and what they do not cover. ' +
        "G. DeCandia et al., Dynamo: Amazon's Highly Available Key-value Store, SOSP 2007, the design kvctl follows.",
    ),
    '',
  ].join('\n');
}
