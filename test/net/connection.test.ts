/** What a connection may run: peer ops need a node, admin ops the node's own host. */
import t from 'tap';
import { isSameHost } from '../../src/net/tcp-server.js';
import { type ConnectionIdentity, opRefusal } from '../../src/protocol/connection.js';

t.test('a connection is from this host when it is loopback, or comes from the address it reached us at', async (t) => {
  t.ok(isSameHost('127.0.0.1', '127.0.0.1'));
  t.ok(isSameHost('127.0.0.5', '10.0.0.1'), 'all of 127/8');
  t.ok(isSameHost('::1', '::1'));
  t.ok(isSameHost('::ffff:127.0.0.1', '::ffff:127.0.0.1'), 'IPv4 loopback mapped into IPv6');
  t.ok(isSameHost('10.0.0.1', '10.0.0.1'), "a CLI on the node's host using the host's address");
  t.notOk(isSameHost('10.0.0.2', '10.0.0.1'), 'another host');
  t.notOk(isSameHost(undefined, '10.0.0.1'), 'an unknown remote is not trusted');
});

t.test('client connections run no peer ops; admin ops only from this host', async (t) => {
  const from = (kind: ConnectionIdentity['kind'], local: boolean): ConnectionIdentity => ({ kind, remote: local ? '127.0.0.1:5000' : '10.0.0.9:5000', local });
  t.equal(opRefusal('put', from('client', false)), undefined, 'data ops from anywhere');
  t.equal(opRefusal('get', from('unverified', false)), undefined);
  t.match(opRefusal('kv.replicate', from('client', true)), /for nodes of the cluster/);
  t.equal(opRefusal('kv.replicate', from('unverified', false)), undefined, 'an unverified connection may still be a node');
  for (const op of ['repair', 'reap'] as const)
    t.equal(opRefusal(op, from('unverified', false)), undefined, `${op} from anywhere (kvctl repair drives every node)`);
  for (const op of ['leave', 'remove', 'cluster.set', 'test.fault'] as const) {
    t.match(opRefusal(op, from('unverified', false)), /taken only from this node's own host \(10\.0\.0\.9:5000 is not\)/, `${op} from another host`);
    t.equal(opRefusal(op, from('unverified', true)), undefined, `${op} from this host`);
  }
});
