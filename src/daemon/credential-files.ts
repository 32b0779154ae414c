/**
 * Reads the files a node's security settings name (secret, client tokens, TLS material) when the
 * daemon starts. Each failure is KV_START_FAILED naming the file; a secret or token file that other
 * users may read is worth a warning in the log.
 */
import { readFileSync, statSync } from 'node:fs';
import type { SecuritySettings } from '../config.js';
import { KvError } from '../errors.js';
import { parseSecrets, TokenTable } from '../net/credentials.js';
import type { ClientTls } from '../net/line-connection.js';
import type { PeerSecrets } from '../net/peer-auth.js';
import type { ServerTls } from '../net/tcp-server.js';

export interface NodeCredentials {
  secrets: PeerSecrets;
  tokens: TokenTable | undefined;
  serverTls: ServerTls | undefined;
  /** For this node's own connections to peers: their CA, and its certificate to present. */
  peerTls: ClientTls | undefined;
  /** Things an operator should fix (files readable by other users). */
  warnings: string[];
}

function readSetting(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new KvError('KV_START_FAILED', `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
}

function openToOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

export function loadCredentials(security: SecuritySettings): NodeCredentials {
  const warnings: string[] = [];
  const privateFile = (file: string, flag: string) => {
    const bytes = readSetting(file, flag);
    if (openToOthers(file)) warnings.push(`${flag} ${file} can be read by other users of this host: chmod 600 ${file}`);
    return bytes.toString('utf8');
  };
  const secrets = security.secretFile ? parseSecrets(privateFile(security.secretFile, '--secret-file'), security.secretFile) : [];
  const tokens = security.clientTokenFile
    ? TokenTable.parse(privateFile(security.clientTokenFile, '--client-token-file'), security.clientTokenFile)
    : undefined;
  let serverTls: ServerTls | undefined;
  let peerTls: ClientTls | undefined;
  if (security.tls) {
    const cert = readSetting(security.tls.cert, '--tls-cert');
    const key = readSetting(security.tls.key, '--tls-key');
    if (openToOthers(security.tls.key)) warnings.push(`--tls-key ${security.tls.key} can be read by other users of this host: chmod 600 ${security.tls.key}`);
    const ca = readSetting(security.tls.ca, '--tls-ca');
    serverTls = { cert, key, ca, requestCertificate: security.tls.peerVerify };
    peerTls = { ca, cert, key };
  }
  return { secrets, tokens, serverTls, peerTls, warnings };
}
