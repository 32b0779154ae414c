/**
 * Nodes as separate hosts with real addresses: three Linux network namespaces joined through a
 * router namespace (veth pairs); partitions are `ip rule ... blackhole` rules in the router (silent
 * drops; netem and iptables are not on these machines). The cluster runs as one would be deployed:
 * mutual TLS, a cluster secret and client tokens; a raw packet socket in the router is the
 * passive observer. Skipped, with the reason printed, where namespaces cannot be created (not
 * root, no iproute2).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newSecret } from '../../src/net/credentials.js';
import { KVCTL, killHard, type RunResult, tempDir, waitFor } from '../helpers/cli.js';
import { makeCertificates, writeSecretFile } from '../helpers/security.js';

const tag = `kv${process.pid % 100000}`;
const router = `${tag}r`;
const hosts = [1, 2, 3].map((i) => ({ ns: `${tag}h${i}`, ip: `10.201.${i}.2`, gw: `10.201.${i}.1`, i }));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function canCreateNamespaces(): string | undefined {
  try {
    ip('netns', 'add', `${tag}probe`);
    ip('netns', 'del', `${tag}probe`);
    return undefined;
  } catch (err) {
    return `network namespaces unavailable here (${(err as Error).message.split('\n')[0]})`;
  }
}

function setUp(): void {
  ip('netns', 'add', router);
  ip('-n', router, 'link', 'set', 'lo', 'up');
  execFileSync('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { stdio: 'pipe' });
  for (const h of hosts) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', `${tag}v${h.i}`, 'type', 'veth', 'peer', 'name', `${tag}p${h.i}`);
    ip('link', 'set', `${tag}v${h.i}`, 'netns', h.ns);
    ip('link', 'set', `${tag}p${h.i}`, 'netns', router);
    ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', `${tag}v${h.i}`);
    ip('-n', router, 'addr', 'add', `${h.gw}/24`, 'dev', `${tag}p${h.i}`);
    ip('-n', h.ns, 'link', 'set', `${tag}v${h.i}`, 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    ip('-n', router, 'link', 'set', `${tag}p${h.i}`, 'up');
    ip('-n', h.ns, 'route', 'add', 'default', 'via', h.gw);
  }
}

function tearDown(): void {
  for (const ns of [router, ...hosts.map((h) => h.ns)]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  }
}

/** Runs the real CLI inside a host's namespace. */
function kvctlIn(ns: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.KVCTL_ADDR;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, KVCTL, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout, stderr: err, out: stdout.toString('utf8') });
    });
  });
}

/** Silent drops between two hosts, both ways, in the router. */
function blackhole(a: (typeof hosts)[number], b: (typeof hosts)[number], on: boolean): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    ip('-n', router, 'rule', on ? 'add' : 'del', 'from', from.ip, 'to', to.ip, 'blackhole');
  }
}

/** A passive observer in the router: every frame that crosses it, written to `file` (Python's AF_PACKET socket; no tcpdump here). */
function startCapture(file: string): { stop: () => Promise<void> } | undefined {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.AF_PACKET'], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))',
    "out = open(sys.argv[1], 'wb')",
    'while True:',
    '    out.write(s.recv(65535)); out.flush()',
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', router, 'python3', '-c', script, file], { stdio: 'ignore' });
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
    },
  };
}

const reason = canCreateNamespaces();
if (reason) {
  t.comment(`skipping the network-namespace suite: ${reason}`);
  t.pass(`skipped: ${reason}`);
} else {
  t.test('three hosts with mutual TLS and a secret: protected mode, quorums, kill -9, a real partition, repair, nothing in the clear', async (t) => {
    setUp();
    t.teardown(tearDown);
    const dir = tempDir(t);
    const pids = new Map<number, number>();
    t.teardown(() => {
      for (const pid of pids.values()) killHard(pid);
    });
    const [h1, h2, h3] = hosts as [(typeof hosts)[number], (typeof hosts)[number], (typeof hosts)[number]];
    const certs = makeCertificates(
      dir,
      hosts.map((h) => h.ip),
    );
    const secret = writeSecretFile(dir, 'cluster.secret').file;
    const adminToken = newSecret(randomBytes);
    const tokens = writeSecretFile(dir, 'tokens', [`admin ${adminToken}`]).file;
    const tokenFile = writeSecretFile(dir, 'admin.token', [adminToken]).file;
    const client = ['--tls-ca', certs.ca, '--token-file', tokenFile];
    const security = [
      '--tls-cert',
      certs.cert,
      '--tls-key',
      certs.key,
      '--tls-ca',
      certs.ca,
      '--tls-peer-verify',
      '--secret-file',
      secret,
      '--client-token-file',
      tokens,
    ];

    const bare = await kvctlIn(h1.ns, ['start', '--host', h1.ip, '--port', '7070', '--data-dir', join(dir, 'bare'), '--json']);
    t.equal(bare.code, 6, 'protected mode: a daemon on a real address without a secret refuses to start');
    t.match(JSON.parse(bare.out).error?.message, /--secret-file/, 'and says what to add');

    const capture = startCapture(join(dir, 'wire'));
    if (!capture) t.comment('python3 with AF_PACKET is not here: the wire is not observed');
    const start = async (h: (typeof hosts)[number]) => {
      const join_ = h === h1 ? [] : ['--join', `${h1.ip}:7070`];
      const flags = h === h1 ? ['--n', '3', '--w', '2', '--r', '2'] : [];
      const started = await kvctlIn(h.ns, [
        'start',
        '--host',
        h.ip,
        '--port',
        '7070',
        '--name',
        `host${h.i}`,
        '--data-dir',
        join(dir, `h${h.i}`),
        '--anti-entropy-interval-ms',
        '0',
        '--down-after-ms',
        '1500',
        '--json',
        ...security,
        ...flags,
        ...join_,
      ]);
      t.equal(started.code, 0, `host${h.i} started: ${started.out} ${started.stderr}`);
      pids.set(h.i, JSON.parse(started.out).pid);
    };
    for (const h of hosts) await start(h);
    const membersSeenBy = async (h: (typeof hosts)[number]) =>
      JSON.parse((await kvctlIn(h.ns, ['members', '--addr', `${h.ip}:7070`, '--json', ...client])).out).members as {
        name: string;
        health: string;
        addr: string;
      }[];
    await waitFor(async () => (await membersSeenBy(h3)).filter((m) => m.health === 'alive').length === 3, 'all three hosts to see each other', 20_000);
    t.same(
      (await membersSeenBy(h1)).map((m) => m.addr),
      hosts.map((h) => `${h.ip}:7070`),
      'members listen on their own addresses',
    );
    for (let i = 0; i < 30; i++)
      t.equal((await kvctlIn(h2.ns, ['put', `net:${i}`, `wire-canary-${i}`, '--w', '2', '--addr', `${h2.ip}:7070`, ...client])).code, 0);
    t.equal((await kvctlIn(h3.ns, ['get', 'net:7', '--r', '2', '--addr', `${h3.ip}:7070`, ...client])).out, 'wire-canary-7', 'read at R=2 from another host');
    const noToken = await kvctlIn(h3.ns, ['get', 'net:7', '--addr', `${h3.ip}:7070`, '--tls-ca', certs.ca, '--json']);
    t.equal(JSON.parse(noToken.out).error?.code, 'KV_AUTH_REQUIRED', 'a client without a token gets nothing');

    // kill -9 one host; writes go on at W=2; it comes back with its saved settings and repair fills it in.
    killHard(pids.get(3) as number);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'down', 'host1 to see host3 down', 20_000);
    for (let i = 0; i < 10; i++)
      t.equal((await kvctlIn(h1.ns, ['put', `killed:${i}`, `k${i}`, '--addr', `${h1.ip}:7070`, ...client])).code, 0, `W=2 write ${i} with host3 dead`);
    const restarted = await kvctlIn(h3.ns, ['start', '--data-dir', join(dir, 'h3'), '--json']);
    t.equal(restarted.code, 0, `host3 restarts from its saved settings (TLS, secret, tokens): ${restarted.out}`);
    pids.set(3, JSON.parse(restarted.out).pid);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'alive', 'host3 back', 20_000);

    blackhole(h1, h3, true);
    blackhole(h2, h3, true);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'down', 'host1 to see host3 down', 20_000);
    const strict = await kvctlIn(h1.ns, ['put', 'cut', 'x', '--w', '3', '--addr', `${h1.ip}:7070`, '--json', ...client]);
    t.equal(JSON.parse(strict.out).error?.code, 'KV_QUORUM_UNAVAILABLE', 'W=3 fails fast across the partition');
    for (let i = 0; i < 20; i++)
      t.equal((await kvctlIn(h1.ns, ['put', `during:${i}`, `d${i}`, '--addr', `${h1.ip}:7070`, ...client])).code, 0, `W=2 write ${i} during the partition`);

    blackhole(h1, h3, false);
    blackhole(h2, h3, false);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'alive', 'host3 back', 20_000);
    const repair = await kvctlIn(h1.ns, ['repair', '--addr', `${h1.ip}:7070`, '--json', ...client]);
    t.equal(repair.code, 0, repair.stderr);
    t.ok(JSON.parse(repair.out.trim().split('\n').at(-1) as string).keysTransferred >= 20, 'repair moved the keys host3 missed');
    t.equal((await kvctlIn(h3.ns, ['get', 'during:5', '--r', '1', '--addr', `${h3.ip}:7070`, ...client])).out, 'd5', 'host3 has the partition’s writes');
    t.equal((await kvctlIn(h3.ns, ['get', 'killed:5', '--r', '1', '--addr', `${h3.ip}:7070`, ...client])).out, 'k5', 'and those made while it was dead');

    if (capture) {
      // A plaintext probe across the router shows the observer sees what is in the clear (the check can fail).
      await kvctlIn(h2.ns, ['get', 'plaintext-probe-4e1d', '--addr', `${h1.ip}:7070`, '--timeout', '1000', '--json']);
      await new Promise((r) => setTimeout(r, 200));
      await capture.stop();
      const wire = readFileSync(join(dir, 'wire'));
      t.ok(wire.includes('plaintext-probe-4e1d'), `the observer saw the plaintext probe (${wire.length} bytes captured)`);
      const leaked = [...Array(30).keys()].filter(
        (i) => wire.includes(`wire-canary-${i}`) || wire.includes(Buffer.from(`wire-canary-${i}`).toString('base64')),
      );
      t.same(leaked, [], 'no value crossed the wire in the clear');
      t.notOk(wire.includes('net:7') || wire.includes(Buffer.from('net:7').toString('base64')), 'nor a key');
    }
  });
}
