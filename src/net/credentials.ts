/**
 * The credentials a node is given in files: the cluster secret (peers prove they know it) and
 * client tokens with roles. Parsed from the files' text here (pure); the daemon reads the files.
 *
 * Secret file: the current secret on the first line; during a rotation, the previous one on the
 * second. Token file: one `ROLE TOKEN` per line (`read`, `write` or `admin`). In both, blank lines
 * and lines starting with `#` are ignored. Tokens are kept only as SHA-256 digests.
 */
import { createHash } from 'node:crypto';
import { KvError } from '../errors.js';
import { CLIENT_ROLES, type ClientRole } from '../protocol/connection.js';

/** Shortest secret or token taken: shorter ones can be guessed. `kvctl secret new` makes 43 characters. */
export const MIN_SECRET_CHARS = 16;
/** A secret file holds the current secret and at most the previous one. */
const MAX_SECRETS = 2;

/** Bytes `kvctl secret new` draws (as base64url: 43 characters). */
export const NEW_SECRET_BYTES = 32;

export function newSecret(randomBytes: (n: number) => Buffer): string {
  return randomBytes(NEW_SECRET_BYTES).toString('base64url');
}

function meaningfulLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

/** The secrets in a secret file's text, current first; throws KV_START_FAILED naming the file. */
export function parseSecrets(text: string, file: string): Buffer[] {
  const lines = meaningfulLines(text);
  if (lines.length === 0) throw new KvError('KV_START_FAILED', `${file} holds no secret: make one with kvctl secret new > ${file}`, { file });
  if (lines.length > MAX_SECRETS) {
    throw new KvError('KV_START_FAILED', `${file} holds ${lines.length} secrets; it takes the current one and, during a rotation, the previous one`, { file });
  }
  for (const line of lines) {
    if (line.length < MIN_SECRET_CHARS || /\s/.test(line)) {
      throw new KvError('KV_START_FAILED', `${file}: a secret must be at least ${MIN_SECRET_CHARS} characters with no spaces (kvctl secret new makes one)`, {
        file,
      });
    }
  }
  return lines.map((line) => Buffer.from(line, 'utf8'));
}

/** The token in a client's token file: its first line, alone or as `ROLE TOKEN` copied from a daemon's file. */
export function parseClientToken(text: string, file: string): string {
  const [line] = meaningfulLines(text);
  const token = line?.split(/\s+/).at(-1);
  if (!token) throw new KvError('KV_USAGE', `${file} holds no token`, { file });
  return token;
}

function digestOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Client tokens and their roles, held as digests. */
export class TokenTable {
  private constructor(private readonly roles: ReadonlyMap<string, ClientRole>) {}

  /** Parses a token file's text; throws KV_START_FAILED naming the file and line. */
  static parse(text: string, file: string): TokenTable {
    const roles = new Map<string, ClientRole>();
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line.length === 0 || line.startsWith('#')) return;
      const bad = (why: string) => new KvError('KV_START_FAILED', `${file} line ${index + 1}: ${why}`, { file, line: index + 1 });
      const parts = line.split(/\s+/);
      if (parts.length !== 2) throw bad('expected ROLE TOKEN (e.g. "write <token>")');
      const [role, token] = parts as [string, string];
      if (!(CLIENT_ROLES as readonly string[]).includes(role)) throw bad(`role must be one of ${CLIENT_ROLES.join(', ')}, not "${role.slice(0, 32)}"`);
      if (token.length < MIN_SECRET_CHARS) throw bad(`a token must be at least ${MIN_SECRET_CHARS} characters (kvctl secret new makes one)`);
      const digest = digestOf(token);
      if (roles.has(digest)) throw bad('this token is listed twice');
      roles.set(digest, role as ClientRole);
    });
    if (roles.size === 0) throw new KvError('KV_START_FAILED', `${file} holds no token: add lines of ROLE TOKEN`, { file });
    return new TokenTable(roles);
  }

  /** The role of a token, or undefined for a token not in the table (compared by digest, so in time independent of the tokens held). */
  roleOf(token: string): ClientRole | undefined {
    return this.roles.get(digestOf(token));
  }
}
