/** What a connection may run: peer ops need the peer handshake, admin ops an admin token or the node's own host. */
import t from 'tap';
import { isSameHost } from '../../src/net/tcp-server.js';
import { type ConnectionIdentity, newClientConnection, opRefusal } from '../../src/protocol/connection.js';

t.test('a connection is from this host when it is loopback, or comes from the address it reached us at', async (t) => {
  t.ok(isSameHost('127.0.0.1', '127.0.0.1'));
  t.ok(isSameHost('127.0.0.5', '10.0.0.1'), 'all of 127/8');
  t.ok(isSameHost('::1', '::1'));
  t.ok(isSameHost('::ffff:127.0.0.1', '::ffff:127.0.0.1'), 'IPv4 loopback mapped into IPv6');
  t.ok(isSameHost('10.0.0.1', '10.0.0.1'), "a CLI on the node's host using the host's address");
  t.notOk(isSameHost('10.0.0.2', '10.0.0.1'), 'another host');
  t.notOk(isSameHost(undefined, '10.0.0.1'), 'an unknown remote is not trusted');
});

t.test('client connections run no peer ops; without tokens, admin ops only from this host', async (t) => {
  const from = (local: boolean): ConnectionIdentity => newClientConnection(local ? '127.0.0.1:5000' : '10.0.0.9:5000', local);
  t.equal(opRefusal('put', from(false)), undefined, 'data ops from anywhere');
  t.equal(opRefusal('get', from(false)), undefined);
  t.match(opRefusal('kv.replicate', from(true)), { code: 'KV_FORBIDDEN', message: /for nodes of the cluster/ }, 'even from this host: peers prove the secret');
  const peer = { ...from(false), kind: 'peer' as const };
  t.equal(opRefusal('kv.replicate', peer), undefined, 'a connection that completed the peer handshake runs peer ops');
  t.equal(opRefusal('leave', peer), undefined);
  for (const op of ['repair', 'reap'] as const) t.equal(opRefusal(op, from(false)), undefined, `${op} from anywhere (kvctl repair drives every node)`);
  for (const op of ['leave', 'remove', 'cluster.set', 'test.fault'] as const) {
    t.match(
      opRefusal(op, from(false)),
      { code: 'KV_FORBIDDEN', message: /taken only from the node's own host \(10\.0\.0\.9:5000 is not\)/ },
      `${op} from another host`,
    );
    t.equal(opRefusal(op, from(true)), undefined, `${op} from this host`);
  }
  for (const op of ['auth', 'peer.hello', 'peer.proof'] as const)
    t.equal(opRefusal(op, from(false)), undefined, `${op} is open: it is how a connection proves more`);
});

t.test('with tokens, a client runs what its role allows, and nothing but ping before a token', async (t) => {
  const as = (role: ConnectionIdentity['role'], local = true) => ({ ...newClientConnection('127.0.0.1:5000', local, { tokensRequired: true }), role });
  t.equal(opRefusal('ping', as(undefined)), undefined, 'ping needs no token (health checks)');
  for (const op of ['get', 'put', 'stats', 'members', 'ring', 'leave'] as const)
    t.match(opRefusal(op, as(undefined)), { code: 'KV_AUTH_REQUIRED' }, `${op} before a token`);
  t.equal(opRefusal('get', as('read')), undefined);
  t.match(opRefusal('put', as('read')), { code: 'KV_FORBIDDEN', message: /needs a token with the write role/ }, 'read cannot write');
  t.equal(opRefusal('delete', as('write')), undefined);
  for (const op of ['leave', 'remove', 'repair', 'reap', 'cluster.set', 'test.fault'] as const) {
    t.match(opRefusal(op, as('write')), { code: 'KV_FORBIDDEN', message: /admin role/ }, `write cannot ${op}`);
    t.equal(opRefusal(op, as('admin', false)), undefined, `admin may ${op}, from any host`);
  }
  t.match(opRefusal('kv.replicate', as('admin')), { code: 'KV_FORBIDDEN' }, 'no token makes a client a peer');
});
