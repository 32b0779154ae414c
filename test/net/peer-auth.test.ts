/** The peer handshake and client tokens, both ends in one process: who is admitted, and what a proof can and cannot be reused for. */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { defaultLimits } from '../../src/config.js';
import { newSecret, parseClientToken, parseSecrets, TokenTable } from '../../src/net/credentials.js';
import { ConnectionAuthenticator, type PeerSecrets, peerProof, provePeer } from '../../src/net/peer-auth.js';
import { PEER_PROTOCOL_VERSION, parseRequest } from '../../src/net/protocol.js';
import type { ConnectionRequest } from '../../src/protocol/client.js';
import { type ConnectionIdentity, newClientConnection } from '../../src/protocol/connection.js';

const secret = () => Buffer.from(newSecret(randomBytes));

function server(secrets: PeerSecrets, options: { tokens?: TokenTable; requireCertificate?: boolean; cluster?: string } = {}) {
  const failures: string[] = [];
  const gate = new ConnectionAuthenticator({
    secrets,
    tokens: options.tokens,
    self: () => ({ name: 'server', cluster: options.cluster ?? 'c1' }),
    randomBytes,
    requireCertificate: options.requireCertificate ?? false,
    onFailure: (what) => failures.push(what),
  });
  return { gate, failures };
}

/** Runs the connecting side against `gate` over a fake wire that goes through the real parser, as a daemon's does. */
function wire(gate: ConnectionAuthenticator, connection: ConnectionIdentity) {
  return async (body: Record<string, unknown>) => {
    const { request } = parseRequest(Buffer.from(JSON.stringify({ id: 1, ...body })), defaultLimits);
    return gate.answer(request as ConnectionRequest, connection);
  };
}

const self =
  (cluster = '') =>
  () => ({ name: 'client', cluster });

t.test('both ends with the same secret: the connection becomes a peer and the client learns who answered', async (t) => {
  const s = secret();
  const { gate } = server([s]);
  const connection = newClientConnection('127.0.0.1:1', true);
  const other = await provePeer(wire(gate, connection), { secrets: [s], self: self(), randomBytes }, 'addr');
  t.same(other, { name: 'server', cluster: 'c1' }, 'a joiner learns the cluster id from the handshake');
  t.equal(connection.kind, 'peer');
});

t.test('a wrong secret is refused on both sides, and nothing changes', async (t) => {
  const { gate, failures } = server([secret()]);
  const connection = newClientConnection('10.0.0.9:1', false);
  await t.rejects(provePeer(wire(gate, connection), { secrets: [secret()], self: self(), randomBytes }, 'addr'), { code: 'KV_AUTH_FAILED' });
  t.equal(connection.kind, 'client');
  t.same(failures, ['peer handshake refused'], 'the server logs it');

  // A server that does not know the secret cannot fake its answer either.
  const s = secret();
  const liar = async (body: Record<string, unknown>) =>
    body.op === 'peer.hello'
      ? { version: PEER_PROTOCOL_VERSION, node: 'liar', cluster: 'c1', nonce: randomBytes(32).toString('base64') }
      : { proof: randomBytes(32).toString('base64') };
  await t.rejects(provePeer(liar, { secrets: [s], self: self(), randomBytes }, 'addr'), { code: 'KV_AUTH_FAILED', message: /could not prove/ });
});

t.test('rotation: a node holding new and old secrets talks to nodes on either', async (t) => {
  const oldSecret = secret();
  const newer = secret();
  for (const [client, serverSecrets, label] of [
    [[newer, oldSecret], [oldSecret], 'rotated node to a node still on the old secret'],
    [[oldSecret], [newer, oldSecret], 'node on the old secret to a rotated node'],
    [[newer], [newer, oldSecret], 'node on the new secret to a rotated node'],
  ] as const) {
    const { gate } = server(serverSecrets);
    const connection = newClientConnection('x', false);
    await provePeer(wire(gate, connection), { secrets: client, self: self(), randomBytes }, 'addr');
    t.equal(connection.kind, 'peer', label);
  }
  const { gate } = server([newer]);
  await t.rejects(
    provePeer(wire(gate, newClientConnection('x', false)), { secrets: [oldSecret], self: self(), randomBytes }, 'addr'),
    { code: 'KV_AUTH_FAILED' },
    'once rotated, the old secret alone is refused',
  );
});

t.test('a proof is bound to its connection, its side, its cluster and its names', async (t) => {
  const s = secret();
  const { gate } = server([s]);
  /** A fresh connection after its hello, with the transcript an honest client would prove. */
  const opened = () => {
    const connection = newClientConnection('x', false);
    const clientNonce = randomBytes(32);
    const hello = gate.answer({ op: 'peer.hello', version: 1, node: 'client', cluster: '', nonce: clientNonce }, connection);
    return {
      connection,
      transcript: { clientNonce, serverNonce: Buffer.from(String(hello.nonce), 'base64'), cluster: 'c1', client: 'client', server: 'server' },
    };
  };
  const first = opened();
  const variants: [string, (tr: typeof first.transcript) => Buffer][] = [
    ['the server-side label (a reflected proof)', (tr) => peerProof(s, 'server', tr)],
    ['another cluster id', (tr) => peerProof(s, 'client', { ...tr, cluster: 'c2' })],
    ['another client name', (tr) => peerProof(s, 'client', { ...tr, client: 'mallory' })],
    ['another connection’s nonces (a replay)', () => peerProof(s, 'client', first.transcript)],
  ];
  for (const [what, proofFor] of variants) {
    const { connection, transcript } = opened();
    t.throws(() => gate.answer({ op: 'peer.proof', proofs: [proofFor(transcript)] }, connection), { code: 'KV_AUTH_FAILED' }, what);
    t.equal(connection.kind, 'client');
  }
  t.type(
    gate.answer({ op: 'peer.proof', proofs: [peerProof(s, 'client', first.transcript)] }, first.connection).proof,
    'string',
    'the right proof on its own connection works',
  );
  t.equal(first.connection.kind, 'peer');
  t.throws(
    () => gate.answer({ op: 'peer.proof', proofs: [peerProof(s, 'client', first.transcript)] }, newClientConnection('y', false)),
    { code: 'KV_BAD_REQUEST' },
    'a proof without a hello',
  );
});

t.test('cluster ids must agree; a certificate can be required', async (t) => {
  const s = secret();
  const { gate } = server([s]);
  t.throws(() => gate.answer({ op: 'peer.hello', version: 1, node: 'n', cluster: 'other', nonce: randomBytes(32) }, newClientConnection('x', false)), {
    code: 'KV_CLUSTER_MISMATCH',
  });
  await t.rejects(provePeer(wire(gate, newClientConnection('x', false)), { secrets: [s], self: self('other'), randomBytes }, 'addr'), {
    code: 'KV_CLUSTER_MISMATCH',
  });
  const strict = server([s], { requireCertificate: true }).gate;
  await t.rejects(provePeer(wire(strict, newClientConnection('x', false)), { secrets: [s], self: self(), randomBytes }, 'addr'), {
    code: 'KV_AUTH_FAILED',
    message: /certificate/,
  });
  const certified = newClientConnection('x', false, { certified: true });
  await provePeer(wire(strict, certified), { secrets: [s], self: self(), randomBytes }, 'addr');
  t.equal(certified.kind, 'peer', 'with a certificate from the CA');
});

t.test('the wire refuses malformed handshakes', async (t) => {
  const parse = (body: Record<string, unknown>) => () => parseRequest(Buffer.from(JSON.stringify(body)), defaultLimits);
  const nonce = randomBytes(32).toString('base64');
  const v = PEER_PROTOCOL_VERSION;
  t.throws(parse({ op: 'peer.hello', version: v + 1, node: 'n', cluster: '', nonce }), {
    code: 'KV_BAD_REQUEST',
    message: `peer.hello: this node speaks peer protocol version ${v}, not ${v + 1}`,
  });
  t.throws(parse({ op: 'peer.hello', version: v - 1, node: 'n', cluster: '', nonce }), { code: 'KV_BAD_REQUEST', message: `version ${v}, not ${v - 1}` });
  t.throws(parse({ op: 'peer.hello', version: v, node: '', cluster: '', nonce }), { code: 'KV_BAD_REQUEST' });
  t.throws(parse({ op: 'peer.hello', version: v, node: 'n', cluster: '', nonce: randomBytes(8).toString('base64') }), { code: 'KV_BAD_REQUEST' });
  t.throws(parse({ op: 'peer.hello', version: v, node: 'x'.repeat(513), cluster: '', nonce }), { code: 'KV_BAD_REQUEST' });
  t.throws(parse({ op: 'peer.proof', proofs: [nonce, nonce, nonce] }), { code: 'KV_BAD_REQUEST' }, 'at most two proofs');
  t.throws(parse({ op: 'peer.proof', proofs: [] }), { code: 'KV_BAD_REQUEST' });
  t.throws(parse({ op: 'auth', token: '' }), { code: 'KV_BAD_REQUEST' });
});

t.test('client tokens give roles; unknown tokens are refused', async (t) => {
  const [r, w] = [newSecret(randomBytes), newSecret(randomBytes)];
  const tokens = TokenTable.parse(`# roles\nread ${r}\n\nwrite   ${w}\n`, 'tokens');
  const { gate, failures } = server([], { tokens });
  const connection = newClientConnection('x', false, { tokensRequired: true });
  t.same(gate.answer({ op: 'auth', token: w }, connection), { tokens: true, role: 'write' });
  t.equal(connection.role, 'write');
  t.throws(() => gate.answer({ op: 'auth', token: 'not-a-token-at-all' }, connection), { code: 'KV_AUTH_FAILED' });
  t.same(failures, ['client token refused']);
  const open = server([]).gate;
  t.same(open.answer({ op: 'auth', token: r }, newClientConnection('x', false)), { tokens: false }, 'a node without tokens says so');
});

t.test('secret and token files: what is taken and what is refused', async (t) => {
  const s = newSecret(randomBytes);
  t.same(parseSecrets(`# cluster secret\n${s}\n`, 'f').map(String), [s]);
  t.equal(parseSecrets(`${s}\n${newSecret(randomBytes)}\n`, 'f').length, 2, 'current and previous');
  const startFailed = (fn: () => unknown, message: RegExp) => t.throws(fn, { code: 'KV_START_FAILED', message });
  startFailed(() => parseSecrets('\n# nothing\n', 'f'), /holds no secret/);
  startFailed(() => parseSecrets('short\n', 'f'), /at least 16/);
  startFailed(() => parseSecrets(`${s}\n${s}x\n${s}y\n`, 'f'), /holds 3 secrets/);
  startFailed(() => TokenTable.parse(`owner ${s}\n`, 'tokens'), /line 1: role must be one of read, write, admin/);
  startFailed(() => TokenTable.parse(`read short\n`, 'tokens'), /at least 16/);
  startFailed(() => TokenTable.parse(`read ${s}\nwrite ${s}\n`, 'tokens'), /line 2: this token is listed twice/);
  startFailed(() => TokenTable.parse(`read\n`, 'tokens'), /ROLE TOKEN/);
  t.equal(TokenTable.parse(`admin ${s}`, 'tokens').roleOf(s), 'admin');
  t.equal(TokenTable.parse(`admin ${s}`, 'tokens').roleOf(`${s}x`), undefined);
  t.equal(parseClientToken(`${s}\n`, 'f'), s);
  t.equal(parseClientToken(`write ${s}\n`, 'f'), s, 'a line copied from the daemon’s file works too');
  t.throws(() => parseClientToken('# empty\n', 'f'), { code: 'KV_USAGE' });
});
