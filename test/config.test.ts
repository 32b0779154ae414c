/** Addresses a node may advertise to its peers. */
import t from 'tap';
import { advertiseProblem, defaultSecurity, isLoopbackHost, isUnroutableHost, protectedModeProblem } from '../src/config.js';

t.test('every-interface addresses are not addresses to be reached at', async (t) => {
  for (const host of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) t.ok(isUnroutableHost(host), host);
  for (const host of ['127.0.0.1', '10.0.0.5', 'db1.example', '::1', '[fe80::1]']) t.notOk(isUnroutableHost(host), host);
});

t.test('listening everywhere needs an advertised address, and that address must be reachable', async (t) => {
  t.equal(advertiseProblem('127.0.0.1', undefined), undefined, 'loopback, advertised as itself');
  t.equal(advertiseProblem('0.0.0.0', '10.0.0.5:7070'), undefined, 'everywhere, advertised as the host');
  t.match(advertiseProblem('0.0.0.0', undefined), /add --advertise HOST:PORT/);
  t.match(advertiseProblem('::', undefined), /add --advertise/);
  t.match(advertiseProblem('127.0.0.1', '0.0.0.0:7070'), /no address a peer can reach/);
  t.match(advertiseProblem('127.0.0.1', '[::]:7070'), /no address a peer can reach/);
  t.match(advertiseProblem('127.0.0.1', 'nowhere'), /--advertise: address must be host:port/, 'not an address at all');
});

t.test('protected mode: loopback needs nothing; beyond it, a secret and tokens or TLS, or --insecure', async (t) => {
  for (const host of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost']) t.ok(isLoopbackHost(host), `${host} is loopback`);
  for (const host of ['0.0.0.0', '10.0.0.1', '::', 'db1.example', '128.0.0.1']) t.notOk(isLoopbackHost(host), `${host} is not`);
  const none = defaultSecurity;
  const tls = { cert: 'c', key: 'k', ca: 'a', peerVerify: true };
  t.equal(protectedModeProblem('127.0.0.1', none), undefined);
  t.match(protectedModeProblem('10.0.0.1', none), /--secret-file FILE.*--client-token-file FILE or --tls-cert.*--insecure/);
  t.match(protectedModeProblem('10.0.0.1', { ...none, secretFile: 's' }), /^(?!.*--secret-file).*--client-token-file/);
  t.match(protectedModeProblem('10.0.0.1', { ...none, clientTokenFile: 't' }), /--secret-file/);
  t.equal(protectedModeProblem('10.0.0.1', { ...none, secretFile: 's', clientTokenFile: 't' }), undefined);
  t.equal(protectedModeProblem('0.0.0.0', { ...none, secretFile: 's', tls }), undefined);
  t.equal(protectedModeProblem('0.0.0.0', { ...none, insecure: true }), undefined);
});
