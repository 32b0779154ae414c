/**
 * Nodes as separate hosts with real addresses: three Linux network namespaces joined through a
 * router namespace (veth pairs); partitions are `ip rule ... blackhole` rules in the router (silent
 * drops; netem and iptables are not on these machines). Skipped, with the reason printed, where
 * namespaces cannot be created (not root, no iproute2).
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { KVCTL, killHard, type RunResult, tempDir, waitFor } from '../helpers/cli.js';

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

const reason = canCreateNamespaces();
if (reason) {
  t.comment(`skipping the network-namespace suite: ${reason}`);
  t.pass(`skipped: ${reason}`);
} else {
  t.test('three hosts with real addresses: quorums, a real partition, healing and repair', async (t) => {
    setUp();
    t.teardown(tearDown);
    const dir = tempDir(t);
    const pids: number[] = [];
    t.teardown(() => {
      for (const pid of pids) killHard(pid);
    });
    const [h1, h2, h3] = hosts as [(typeof hosts)[number], (typeof hosts)[number], (typeof hosts)[number]];
    for (const h of hosts) {
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
        '--json',
        ...flags,
        ...join_,
      ]);
      t.equal(started.code, 0, `host${h.i} started: ${started.stderr}`);
      pids.push(JSON.parse(started.out).pid);
    }
    const membersSeenBy = async (h: (typeof hosts)[number]) =>
      JSON.parse((await kvctlIn(h.ns, ['members', '--addr', `${h.ip}:7070`, '--json'])).out).members as { name: string; health: string; addr: string }[];
    await waitFor(async () => (await membersSeenBy(h3)).filter((m) => m.health === 'alive').length === 3, 'all three hosts to see each other', 20_000);
    t.same(
      (await membersSeenBy(h1)).map((m) => m.addr),
      hosts.map((h) => `${h.ip}:7070`),
      'members listen on their own addresses',
    );
    for (let i = 0; i < 30; i++) t.equal((await kvctlIn(h2.ns, ['put', `net:${i}`, `v${i}`, '--addr', `${h2.ip}:7070`])).code, 0);
    t.equal((await kvctlIn(h3.ns, ['get', 'net:7', '--r', '3', '--addr', `${h3.ip}:7070`])).out, 'v7', 'read at R=3 from another host');

    blackhole(h1, h3, true);
    blackhole(h2, h3, true);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'down', 'host1 to see host3 down', 20_000);
    const strict = await kvctlIn(h1.ns, ['put', 'cut', 'x', '--w', '3', '--addr', `${h1.ip}:7070`, '--json']);
    t.equal(JSON.parse(strict.out).error?.code, 'KV_QUORUM_UNAVAILABLE', 'W=3 fails fast across the partition');
    for (let i = 0; i < 20; i++)
      t.equal((await kvctlIn(h1.ns, ['put', `during:${i}`, `d${i}`, '--addr', `${h1.ip}:7070`])).code, 0, `W=2 write ${i} during the partition`);

    blackhole(h1, h3, false);
    blackhole(h2, h3, false);
    await waitFor(async () => (await membersSeenBy(h1)).find((m) => m.name === 'host3')?.health === 'alive', 'host3 back', 20_000);
    const repair = await kvctlIn(h1.ns, ['repair', '--addr', `${h1.ip}:7070`, '--json']);
    t.equal(repair.code, 0, repair.stderr);
    t.equal(JSON.parse(repair.out.trim().split('\n').at(-1) as string).keysTransferred, 20, 'repair moved exactly the 20 keys host3 missed');
    t.equal((await kvctlIn(h3.ns, ['get', 'during:5', '--r', '1', '--addr', `${h3.ip}:7070`])).out, 'd5', 'host3 has them');
  });
}
