/**
 * Trust boundaries with real daemons: node-to-node ops only after the peer handshake, a wrong
 * secret cannot join, a recorded handshake cannot be replayed, secrets rotate, client tokens and
 * their roles, protected mode, and TLS (a passive observer between two nodes sees no key or value).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { KvClient } from '../../src/client/client.js';
import { newSecret } from '../../src/net/credentials.js';
import { peerProof } from '../../src/net/peer-auth.js';
import { FRAME_REPLY, readFrameHeader } from '../../src/net/peer-frames.js';
import { PEER_PROTOCOL_VERSION } from '../../src/net/protocol.js';
import { type Daemon, killHard, kvctl, startDaemon, tempDir, waitFor } from '../helpers/cli.js';
import { startCluster, waitForMembers } from '../helpers/cluster.js';
import { frameFromJson } from '../helpers/peer-frames.js';
import { freePort, makeCertificates, peerConnect, recordingProxy, writeSecretFile } from '../helpers/security.js';

/** The error code of a rejected promise. */
async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

async function memberNames(addr: string, options = {}): Promise<string[]> {
  const client = await KvClient.connect(addr, options);
  try {
    const reply = await client.request({ op: 'members' });
    return (reply.members as { name: string; status: string }[])
      .filter((m) => m.status === 'up')
      .map((m) => m.name)
      .sort();
  } finally {
    await client.close();
  }
}

t.test('a cluster made by start --nodes has a secret, and node-to-node ops need it', async (t) => {
  const nodes = await startCluster(t, 2);
  const [a, b] = nodes as [Daemon, Daemon];
  const secretFile = join(a.dataDir, '..', 'cluster.secret');
  t.equal(readFileSync(secretFile, 'utf8').trim().length, 43, 'start --nodes wrote the cluster secret');

  const client = await KvClient.connect(a.addr);
  t.teardown(() => client.close());
  for (let i = 0; i < 20; i++) await client.put(`k${i}`, `v${i}`);

  // Each of these once changed or destroyed data from a plain connection.
  const attacks: Record<string, unknown>[] = [
    { op: 'kv.replicate', key: Buffer.from('k1').toString('base64'), record: { clock: [['evil', 99]], siblings: [{ dot: ['evil', 99], value: 'ZXZpbA==' }] } },
    { op: 'ae.store', records: [{ key: Buffer.from('k2').toString('base64'), record: { clock: [['evil', 99]], siblings: [], tombstone: true } }] },
    { op: 'kv.reap', key: Buffer.from('k3').toString('base64') },
    {
      op: 'gossip.push',
      members: [{ name: 'fake', addr: '127.0.0.1:1', incarnation: 'x', generation: 2 ** 40, heartbeat: 1, status: 'up', weight: 64 }],
      cluster: a.name,
    },
  ];
  for (const attack of attacks) {
    t.equal(await codeOf(client.request(attack)), 'KV_FORBIDDEN', `${attack.op} from a plain connection is refused`);
  }
  t.equal(await codeOf(peerConnect(a.addr, newSecret(randomBytes))), 'KV_AUTH_FAILED', 'a peer handshake with another secret is refused');
  const peer = await peerConnect(a.addr, readFileSync(secretFile, 'utf8').trim());
  t.teardown(() => peer.close());
  t.equal(typeof (await peer.request({ op: 'kv.read', key: Buffer.from('k1').toString('base64') })).record, 'object', 'with the secret, peer ops run');

  for (let i = 0; i < 20; i++) t.same((await client.get(`k${i}`)).values.map(String), [`v${i}`], `k${i} reads back`);
  t.same(await memberNames(b.addr), [a.name, b.name].sort(), 'membership unchanged');
});

t.test('a recorded handshake proves nothing on another connection', async (t) => {
  const dir = tempDir(t);
  const { file, secret } = writeSecretFile(dir, 'secret');
  const daemon = await startDaemon(t, { args: ['--secret-file', file] });
  const clientNonce = randomBytes(32);
  const hello = { op: 'peer.hello', version: PEER_PROTOCOL_VERSION, node: 'recorder', cluster: '', nonce: clientNonce.toString('base64') };

  const first = await KvClient.connect(daemon.addr);
  t.teardown(() => first.close());
  const answer = await first.request(hello);
  const transcript = {
    clientNonce,
    serverNonce: Buffer.from(String(answer.nonce), 'base64'),
    cluster: String(answer.cluster),
    client: 'recorder',
    server: String(answer.node),
  };
  const proof = peerProof(Buffer.from(secret), 'client', transcript).toString('base64');
  await first.request({ op: 'peer.proof', proofs: [proof], frames: true });
  const read = await first.requestFrame((id) => frameFromJson({ op: 'kv.read', key: 'azE=' }, id));
  t.equal(readFrameHeader(read).kind, FRAME_REPLY, 'the recorded connection became a peer: it speaks frames, and its kv.read is answered');

  const replay = await KvClient.connect(daemon.addr);
  t.teardown(() => replay.close());
  const again = await replay.request(hello);
  t.not(again.nonce, answer.nonce, 'the daemon picks a fresh nonce');
  t.equal(await codeOf(replay.request({ op: 'peer.proof', proofs: [proof] })), 'KV_AUTH_FAILED', 'the replayed proof is refused');
  t.equal(await codeOf(replay.request({ op: 'kv.read', key: 'azE=' })), 'KV_FORBIDDEN', 'and the connection is no peer');
  t.equal(await codeOf(replay.request({ op: 'peer.proof', proofs: [proof] })), 'KV_BAD_REQUEST', 'a second proof needs a new hello');
  // The log is written asynchronously: the reply may arrive before the line is on disk.
  await waitFor(() => /"event":"auth.peer_refused","msg":"peer handshake refused"/.test(readFileSync(daemon.logFile, 'utf8')), 'the refusal to be logged');
  t.pass('the refusal is logged');
});

t.test('a node with the wrong secret cannot join and is told why; secrets rotate', async (t) => {
  const dir = tempDir(t);
  const old = newSecret(randomBytes);
  const next = newSecret(randomBytes);
  const first = await startDaemon(t, { args: ['--secret-file', writeSecretFile(dir, 'first', [old]).file, '--name', 'first'] });

  const wrong = await kvctl([
    'start',
    '--port',
    '0',
    '--data-dir',
    join(dir, 'wrong'),
    '--join',
    first.addr,
    '--secret-file',
    writeSecretFile(dir, 'wrong.secret').file,
    '--json',
  ]);
  t.equal(wrong.code, 4, 'exit status 4 (rejected)');
  t.match(JSON.parse(wrong.out), { ok: false, error: { code: 'KV_AUTH_FAILED', message: /cluster secret/ } }, 'KV_AUTH_FAILED says the secret is wrong');

  // Rotation: a node on the new secret that still holds the old one joins a node that knows only the old one…
  const rotated = writeSecretFile(dir, 'rotated', [next, old]).file;
  const second = await startDaemon(t, { args: ['--secret-file', rotated, '--join', first.addr, '--name', 'second'] });
  await waitForMembers([first, second], 2);
  // …and a node that knows only the new one joins through it.
  const third = await startDaemon(t, { args: ['--secret-file', writeSecretFile(dir, 'new', [next]).file, '--join', second.addr, '--name', 'third'] });
  await waitFor(async () => (await memberNames(third.addr)).length === 3, 'third to see three members');
  t.same(await memberNames(second.addr), ['first', 'second', 'third'], 'all three are members');
  // first (old secret only) and third (new only) refuse each other: first hears of third through second's gossip.
  await waitFor(async () => (await memberNames(first.addr)).length === 3, 'first to hear of third');
  t.same(await memberNames(first.addr), ['first', 'second', 'third'], 'first (old secret) sees the one it cannot reach directly, through gossip');

  // A node restarted with another secret is cut off, and both sides say so in their logs.
  t.equal((await kvctl(['stop', '--data-dir', third.dataDir])).code, 0);
  const lost = await kvctl(['start', '--data-dir', third.dataDir, '--secret-file', writeSecretFile(dir, 'lost').file, '--json']);
  t.equal(lost.code, 0, 'it starts (its peers may be down; it cannot tell)');
  t.teardown(() => killHard(JSON.parse(lost.out).pid));
  await waitFor(() => /a peer refused this node/.test(readFileSync(third.logFile, 'utf8')), 'the restarted node to log the refusal');
  t.match(readFileSync(second.logFile, 'utf8'), /peer handshake refused/, 'and the refusing node logs it too');
});

t.test('client tokens: nothing without one, and each role only its ops', async (t) => {
  const dir = tempDir(t);
  const tokens = { read: newSecret(randomBytes), write: newSecret(randomBytes), admin: newSecret(randomBytes) };
  const tokenFile = writeSecretFile(dir, 'tokens', [`read ${tokens.read}`, `write ${tokens.write}`, `# a comment`, `admin ${tokens.admin}`]).file;
  const daemon = await startDaemon(t, { args: ['--client-token-file', tokenFile] });
  const files = {
    read: writeSecretFile(dir, 'read.token', [tokens.read]).file,
    write: writeSecretFile(dir, 'write.token', [`write ${tokens.write}`]).file,
    admin: writeSecretFile(dir, 'admin.token', [tokens.admin]).file,
    wrong: writeSecretFile(dir, 'wrong.token').file,
  };
  const cli = (args: string[], env: Record<string, string> = {}) => kvctl([...args, '--addr', daemon.addr, '--json'], { env });
  const codeIn = (out: string) => (JSON.parse(out) as { error?: { code: string } }).error?.code;

  const none = await cli(['get', 'k']);
  t.equal(none.code, 4, 'no token: exit 4');
  t.equal(codeIn(none.out), 'KV_AUTH_REQUIRED');
  const ping = await KvClient.connect(daemon.addr);
  t.teardown(() => ping.close());
  t.ok(await ping.ping(), 'ping needs no token');
  t.equal(codeIn((await cli(['put', 'k', 'v', '--token-file', files.wrong])).out), 'KV_AUTH_FAILED', 'a token the daemon does not know');
  t.equal((await cli(['put', 'k', 'v', '--token-file', files.write])).code, 0, 'write token puts ("ROLE TOKEN" lines are read too)');
  const read = await cli(['get', 'k'], { KVCTL_TOKEN_FILE: files.read });
  t.equal(read.code, 0, 'read token gets (from KVCTL_TOKEN_FILE)');
  t.match(JSON.parse(read.out), { values: ['v'] });
  t.equal(codeIn((await cli(['put', 'k', 'w', '--token-file', files.read])).out), 'KV_FORBIDDEN', 'read token cannot put');
  t.equal(codeIn((await cli(['delete', 'k', '--token-file', files.read])).out), 'KV_FORBIDDEN', 'read token cannot delete');
  t.equal(codeIn((await cli(['cluster', 'set', '--r', '1', '--token-file', files.write])).out), 'KV_FORBIDDEN', 'write token cannot change settings');
  const writer = await KvClient.connect(daemon.addr, { token: tokens.write });
  t.teardown(() => writer.close());
  t.equal(await codeOf(writer.request({ op: 'leave' })), 'KV_FORBIDDEN', 'write token cannot leave');
  t.equal(await codeOf(writer.request({ op: 'kv.read', key: 'aw==' })), 'KV_FORBIDDEN', 'no token makes a client a peer');
  t.equal((await cli(['cluster', 'set', '--r', '1', '--token-file', files.admin])).code, 0, 'admin token changes settings');
  t.same((await cli(['get', 'k'], { KVCTL_TOKEN_FILE: files.read })).code, 0, 'the value is still there');
});

t.test('protected mode: beyond loopback a daemon needs a secret and client protection, or --insecure', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const everywhere = ['--host', '0.0.0.0', '--port', String(port), '--advertise', `127.0.0.1:${port}`];
  const refused = await kvctl(['start', '--data-dir', join(dir, 'a'), ...everywhere, '--json']);
  t.equal(refused.code, 6, 'refuses to start (exit 6)');
  t.match(JSON.parse(refused.out).error, { code: 'KV_START_FAILED', message: /--secret-file.*--client-token-file.*--insecure/ }, 'and says what to add');

  const secret = writeSecretFile(dir, 'secret').file;
  const halfway = await kvctl(['start', '--data-dir', join(dir, 'b'), ...everywhere, '--secret-file', secret, '--json']);
  t.match(
    JSON.parse(halfway.out).error,
    { code: 'KV_START_FAILED', message: /--client-token-file FILE or --tls-cert/ },
    'a secret alone leaves clients unprotected',
  );

  const tokens = writeSecretFile(dir, 'tokens', [`admin ${newSecret(randomBytes)}`]).file;
  const protectedDaemon = await startDaemon(t, {
    dataDir: join(dir, 'c'),
    port,
    args: ['--host', '0.0.0.0', '--advertise', `127.0.0.1:${port}`, '--secret-file', secret, '--client-token-file', tokens],
  });
  t.ok(protectedDaemon.pid > 0, 'starts with a secret and tokens');
  await kvctl(['stop', '--data-dir', join(dir, 'c')]);

  const insecure = await startDaemon(t, { dataDir: join(dir, 'd'), port, args: ['--host', '0.0.0.0', '--advertise', `127.0.0.1:${port}`, '--insecure'] });
  const status = await kvctl(['status', '--addr', `127.0.0.1:${port}`]);
  t.match(status.out, /security: +WARNING: --insecure/, 'status warns');
  t.match(readFileSync(insecure.logFile, 'utf8'), /running with --insecure/, 'and so does the log');
});

t.test('TLS: mutual TLS between nodes, clients with --tls-ca, nothing in the clear on the wire', async (t) => {
  const dir = tempDir(t);
  const certs = makeCertificates(dir, ['127.0.0.1']);
  const other = makeCertificates(dir, ['127.0.0.1'], 'other-');
  const secret = writeSecretFile(dir, 'secret');
  const tlsArgs = ['--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-ca', certs.ca, '--tls-peer-verify', '--secret-file', secret.file];
  const ca = readFileSync(certs.ca);

  /** Two nodes, N=2 W=2, the second reached by the first only through a recording proxy; returns what the proxy saw of one put. */
  let plainAddr = '';
  async function observe(args: string[], name: string): Promise<Buffer> {
    const first = await startDaemon(t, { dataDir: join(dir, `${name}-1`), args: [...args, '--n', '2', '--w', '2', '--name', `${name}-1`] });
    const secondPort = await freePort();
    const proxy = await recordingProxy(() => `127.0.0.1:${secondPort}`);
    t.teardown(() => proxy.close());
    const second = await startDaemon(t, {
      dataDir: join(dir, `${name}-2`),
      port: secondPort,
      args: [...args, '--join', first.addr, '--advertise', `127.0.0.1:${proxy.port}`, '--name', `${name}-2`],
    });
    plainAddr ||= first.addr;
    const access = args.includes('--tls-ca') ? { tls: { ca } } : {};
    await waitFor(async () => (await memberNames(first.addr, access)).length === 2, `${name}: two members`);
    const put = await kvctl([
      'put',
      'canary-key-7f3a',
      'canary-value-9b1c',
      '--addr',
      first.addr,
      '--w',
      '2',
      ...(args.includes('--tls-ca') ? ['--tls-ca', certs.ca] : []),
    ]);
    t.equal(put.code, 0, `${name}: put at W=2 through the proxied replica`);
    const get = await kvctl(['get', 'canary-key-7f3a', '--addr', second.addr, '--r', '2', ...(args.includes('--tls-ca') ? ['--tls-ca', certs.ca] : [])]);
    t.equal(get.out, 'canary-value-9b1c', `${name}: get at R=2`);
    return proxy.captured();
  }
  const seen = (wire: Buffer, text: string) => wire.includes(text) || wire.includes(Buffer.from(text).toString('base64'));

  const plain = await observe([], 'plain');
  t.ok(seen(plain, 'canary-value-9b1c'), 'without TLS the observer sees the value (the check can fail)');
  const encrypted = await observe(tlsArgs, 'tls');
  t.ok(encrypted.length > 1000, 'the proxy carried the TLS cluster’s traffic');
  t.notOk(seen(encrypted, 'canary-value-9b1c'), 'with TLS it sees no value');
  t.notOk(seen(encrypted, 'canary-key-7f3a'), 'and no key');

  const tlsNode = await startDaemon(t, { dataDir: join(dir, 'single'), args: tlsArgs });
  // A TLS listener never answers plaintext.
  const [host, port] = tlsNode.addr.split(':') as [string, string];
  const raw = connect({ host, port: Number(port) });
  const received: Buffer[] = [];
  raw.on('data', (c: Buffer) => received.push(c));
  raw.on('error', () => {});
  raw.write('{"id":1,"op":"ping"}\n');
  await new Promise((resolve) => raw.once('close', resolve));
  t.notOk(Buffer.concat(received).includes('"ok"'), 'a plaintext request gets no JSON answer');

  const noCa = await kvctl(['get', 'k', '--addr', tlsNode.addr, '--timeout', '3000', '--json']);
  t.equal(noCa.code, 3, 'a client without --tls-ca cannot talk to it (exit 3)');
  const wrongCa = await kvctl(['get', 'k', '--addr', tlsNode.addr, '--tls-ca', other.ca, '--json']);
  t.match(JSON.parse(wrongCa.out).error, { code: 'KV_TLS_FAILED' }, 'a certificate from another CA is KV_TLS_FAILED');
  const tlsToPlain = await kvctl(['get', 'k', '--addr', plainAddr, '--tls-ca', certs.ca, '--json']);
  t.match(
    JSON.parse(tlsToPlain.out).error,
    { code: 'KV_TLS_FAILED', message: /does it listen with TLS/ },
    'a TLS client at a plaintext daemon is told at once',
  );
  t.equal(
    await codeOf(peerConnect(tlsNode.addr, secret.secret, { tls: { ca } })),
    'KV_AUTH_FAILED',
    'a peer without a certificate is refused under --tls-peer-verify',
  );
  const withCert = await peerConnect(tlsNode.addr, secret.secret, { tls: { ca, cert: readFileSync(certs.cert), key: readFileSync(certs.key) } });
  t.ok(await withCert.request({ op: 'kv.read', key: 'aw==' }), 'with the CA’s certificate and the secret, it is a peer');
  await withCert.close();
});
