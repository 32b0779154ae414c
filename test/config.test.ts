/** Addresses a node may advertise to its peers. */
import t from 'tap';
import { advertiseProblem, isUnroutableHost } from '../src/config.js';

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
