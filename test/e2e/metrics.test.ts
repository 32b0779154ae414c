/**
 * `kvctl start --metrics-port` through the real CLI: the endpoint is scraped over HTTP, the
 * exposition parsed, and the request counters and histograms move by exactly the requests made;
 * the endpoint refuses what is not a scrape (other paths and methods, huge heads, bodies, more
 * connections than its cap) while the daemon keeps serving; a local cluster gets one port per node.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { type Daemon, killHard, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';

type MetricsDaemon = Daemon & { metricsAddr: string };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (0.0.4): comments, then `name{label="value",...} number` lines. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    const raw = m[3] as string;
    samples.push({ name: m[1] as string, labels, value: raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw) });
  }
  return { samples, types };
}

/** The value of the one sample with this name and (at least) these labels; 0 when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(addr: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpReply> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no reply within 10 s')));
    req.end(options.body);
  });
}

async function scrape(addr: string): Promise<Sample[]> {
  const reply = await http(addr, '/metrics');
  if (reply.status !== 200) throw new Error(`scrape answered ${reply.status}: ${reply.body}`);
  return parseExposition(reply.body).samples;
}

async function startWithMetrics(t: Parameters<typeof startDaemon>[0]): Promise<MetricsDaemon> {
  const daemon = (await startDaemon(t, { args: ['--metrics-port', '0'] })) as MetricsDaemon;
  if (typeof daemon.metricsAddr !== 'string') throw new Error(`start --json gave no metricsAddr: ${JSON.stringify(daemon)}`);
  return daemon;
}

t.test('a scrape parses as exposition, and request metrics move by the requests made', async (t) => {
  const daemon = await startWithMetrics(t);
  t.match(daemon.metricsAddr, /^127\.0\.0\.1:\d+$/, 'the endpoint listens on the daemon host, on the port the OS chose');
  t.not(daemon.metricsAddr, daemon.addr);

  const first = await http(daemon.metricsAddr, '/metrics');
  t.equal(first.status, 200);
  t.match(String(first.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const { samples: before, types } = parseExposition(first.body);
  t.ok(
    before.every((s) => s.name.startsWith('kvctl_')),
    'every metric is named kvctl_*',
  );
  t.equal(types.get('kvctl_request_duration_seconds'), 'histogram');
  t.equal(types.get('kvctl_requests_total'), 'counter');
  t.ok(value(before, 'kvctl_process_resident_memory_bytes') > 1024 * 1024, 'RSS is reported');
  t.ok(
    before.some((s) => s.name === 'kvctl_nodejs_eventloop_lag_seconds'),
    'event-loop lag is reported',
  );
  t.equal(value(before, 'kvctl_members', { status: 'up', health: 'alive' }), 1, 'the lone node sees itself up');
  for (const name of ['kvctl_disk_bytes', 'kvctl_hints_held', 'kvctl_handoff_backlog', 'kvctl_compression_ratio', 'kvctl_cache_hits_total']) {
    t.ok(
      before.some((s) => s.name === name),
      `${name} is exposed`,
    );
  }

  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  const value5k = 'x'.repeat(5000);
  for (let i = 0; i < 5; i++) await client.put(`key-${i}`, i === 0 ? value5k : `v${i}`);
  for (let i = 0; i < 3; i++) await client.get(`key-${i}`);
  await t.rejects(client.get('key-0', { r: 9 }), { code: 'KV_INVALID_QUORUM' }, 'an R beyond N is refused');

  const after = await scrape(daemon.metricsAddr);
  const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
  t.equal(delta('kvctl_requests_total', { op: 'put', outcome: 'ok' }), 5);
  t.equal(delta('kvctl_requests_total', { op: 'get', outcome: 'ok' }), 3);
  t.equal(delta('kvctl_requests_total', { op: 'get', outcome: 'KV_INVALID_QUORUM' }), 1, 'a failed request is counted under its error code');
  // A lone node keeps one copy per key: the default W=2 and R=2 are used as 1.
  t.equal(delta('kvctl_request_duration_seconds_count', { op: 'put', quorum: 'w1' }), 5);
  t.equal(
    value(after, 'kvctl_request_duration_seconds_bucket', { op: 'put', quorum: 'w1', le: '+Inf' }),
    value(after, 'kvctl_request_duration_seconds_count', { op: 'put', quorum: 'w1' }),
  );
  t.ok(delta('kvctl_request_duration_seconds_sum', { op: 'put', quorum: 'w1' }) > 0, 'the puts took time');
  const putBuckets = after.filter((s) => s.name === 'kvctl_request_duration_seconds_bucket' && s.labels.op === 'put');
  t.ok(
    putBuckets.every((s, i) => i === 0 || s.value >= (putBuckets[i - 1] as Sample).value),
    'buckets are cumulative',
  );
  t.equal(delta('kvctl_codec_raw_bytes_total'), 5000 + 4 * 2, 'every value byte written is counted');
  t.ok(value(after, 'kvctl_compression_ratio') > 1, `the 5000-byte value compressed (ratio ${value(after, 'kvctl_compression_ratio')})`);
  t.ok(delta('kvctl_uptime_seconds') > 0);
});

/** Opens a raw TCP connection and resolves once it is connected. */
function rawSocket(addr: string): Promise<Socket> {
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Writes `data` on a raw connection and collects what comes back until the server closes it (or 5 s pass). */
async function rawExchange(addr: string, data: string): Promise<{ text: string; closed: boolean }> {
  const socket = await rawSocket(addr);
  socket.on('error', () => {}); // a reset while we still write is one way of being refused
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  socket.write(data);
  const closed = await new Promise<boolean>((resolve) => {
    socket.on('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  socket.destroy();
  return { text, closed };
}

t.test('the endpoint refuses what is not a scrape, caps its connections, and the daemon keeps working', async (t) => {
  const daemon = await startWithMetrics(t);
  const m = daemon.metricsAddr;
  t.equal((await http(m, '/')).status, 404);
  t.equal((await http(m, '/metrics/../admin')).status, 404);
  const notFound = await http(m, '/debug');
  t.equal(notFound.status, 404);
  t.match(notFound.body, /\/metrics/, 'the 404 says where the metrics are');
  const post = await http(m, '/metrics', { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.equal((await http(m, '/metrics', { headers: { 'content-length': '5' }, body: 'hello' })).status, 413, 'a GET with a body is refused');
  const huge = await rawExchange(m, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
  t.ok(huge.closed, 'a 64 KiB request head closes the connection');
  t.notMatch(huge.text, /^HTTP\/1\.1 200/, 'and gets no metrics');
  if (huge.text !== '') t.match(huge.text, /^HTTP\/1\.1 431/, 'the refusal, when it arrives before the reset, is a 431');
  const head = await http(m, '/metrics', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body, '');

  // The connection cap: 16 held open; the next ones are closed by the server at once.
  const held: Socket[] = [];
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  for (let i = 0; i < 16; i++) held.push(await rawSocket(m));
  const extra = await rawSocket(m);
  const closed = await new Promise<boolean>((resolve) => {
    extra.on('close', () => resolve(true));
    extra.on('error', () => {});
    extra.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    setTimeout(() => resolve(false), 5000).unref();
  });
  t.ok(closed, 'a connection beyond the cap is closed');
  const client = await KvClient.connect(daemon.addr);
  t.teardown(() => client.close());
  await client.put('still', 'working');
  t.equal(String((await client.get('still')).values[0]), 'working', 'the daemon serves clients while the metrics port is full');
  for (const s of held.splice(0)) s.destroy();
  await waitFor(async () => (await http(m, '/metrics').catch(() => ({ status: 0 }))).status === 200, 'a scrape once the held connections are gone');
  t.equal(value(await scrape(m), 'kvctl_requests_total', { op: 'put', outcome: 'ok' }), 1);
});

t.test('start --nodes 3 --metrics-port 0: one endpoint per node, reported and saved', async (t) => {
  const dir = `${tempDir(t)}/cluster`;
  const result = await kvctl(['start', '--nodes', '3', '--port', '0', '--metrics-port', '0', '--data-dir', dir, '--json']);
  t.equal(result.code, 0, result.stderr);
  const nodes = (JSON.parse(result.out) as { nodes: MetricsDaemon[] }).nodes;
  t.teardown(() => {
    for (const d of nodes) killHard(d.pid);
  });
  const addrs = nodes.map((n) => n.metricsAddr);
  t.equal(new Set(addrs).size, 3, `three distinct endpoints: ${addrs.join(', ')}`);
  for (const n of nodes) {
    const saved = JSON.parse(readFileSync(join(n.dataDir, 'node.json'), 'utf8')) as { settings: Record<string, unknown> };
    t.equal(`127.0.0.1:${saved.settings['metrics-port']}`, n.metricsAddr, `${n.name} keeps the metrics port it got`);
  }
  const client = await KvClient.connect(nodes[0]?.addr as string);
  t.teardown(() => client.close());
  await client.put('k', 'v');
  const perNode = await Promise.all(addrs.map(scrape));
  t.same(
    perNode.map((s) => value(s, 'kvctl_requests_total', { op: 'put', outcome: 'ok' })),
    [1, 0, 0],
    'each endpoint reports its own node: the put went to the first',
  );
  const text = await kvctl(['start', '--nodes', '2', '--port', '0', '--metrics-port', '65535', '--data-dir', `${dir}-2`]);
  t.equal(text.code, 2, 'ports past 65535 are refused before anything starts');
  t.match(text.stderr, /runs past port 65535/);
});
