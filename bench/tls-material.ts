/**
 * The files a secured cluster is started with, made as an operator would: a CA and one node
 * certificate (made with openssl, SAN IP:127.0.0.1, for serving and for peer links), and a client
 * token file. Returns the `kvctl start` flags that name them and what a client then needs to
 * connect (the CA, a token). The cluster secret is left to `kvctl start --nodes`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSecret } from '../src/net/credentials.js';
import type { ClientOptions } from '../src/net/line-connection.js';
import type { ClientRole } from '../src/protocol/connection.js';

export interface Certificates {
  ca: string;
  cert: string;
  key: string;
}

/**
 * A CA and one certificate every node presents (SANs: the given IPs; for servers and clients, as
 * peers are both). `prefix` names the files, so one dir can hold several CAs (tests make a second
 * one to be refused).
 */
export function makeCertificates(dir: string, ips: readonly string[], prefix = ''): Certificates {
  const f = (name: string) => join(dir, `${prefix}${name}`);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=kvctl CA']);
  run(['req', ...ec, '-keyout', f('node.key'), '-out', f('node.csr'), '-subj', '/CN=kvctl node']);
  writeFileSync(f('node.ext'), `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  run([
    'x509',
    '-req',
    '-in',
    f('node.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('node.pem'),
    '-days',
    '2',
    '-extfile',
    f('node.ext'),
  ]);
  return { ca: f('ca.pem'), cert: f('node.pem'), key: f('node.key') };
}

/** A client token file (mode 600) holding one new token of `role`; returns the file and the token. */
export function writeClientTokens(dir: string, role: ClientRole): { file: string; token: string } {
  const token = newSecret(randomBytes);
  const file = join(dir, 'client.tokens');
  writeFileSync(file, `${role} ${token}\n`, { mode: 0o600 });
  return { file, token };
}

export interface SecuredClusterMaterial {
  /** For `kvctl start --nodes K`: TLS 1.3 with mutual TLS between nodes, and client tokens. */
  flags: string[];
  /** For the bench's own connections: the CA to check the nodes against, and a `write` token. */
  client: ClientOptions;
}

/** Certificates for 127.0.0.1 and a `write` token, made in `dir`. */
export function securedClusterMaterial(dir: string): SecuredClusterMaterial {
  const certs = makeCertificates(dir, ['127.0.0.1']);
  const tokens = writeClientTokens(dir, 'write');
  return {
    flags: ['--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-ca', certs.ca, '--tls-peer-verify', '--client-token-file', tokens.file],
    client: { tls: { ca: readFileSync(certs.ca) }, token: tokens.token },
  };
}
