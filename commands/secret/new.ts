import { randomBytes } from 'node:crypto';
import { KvCommand } from '../../src/cli/base-command.js';
import { NEW_SECRET_BYTES, newSecret } from '../../src/net/credentials.js';

export default class SecretNew extends KvCommand {
  static override summary = 'Print a new random secret: a cluster secret (--secret-file) or a client token.';
  static override description = `${NEW_SECRET_BYTES} random bytes from the operating system, as 43 characters of base64url, on one line.
Write it to a file only its owner can read and give that file to every node of the cluster as --secret-file; nodes prove
they know it before any node-to-node op, and it never crosses the wire. To rotate: put the new secret on the first line
and the old one on the second on every node, restart the nodes one by one, then drop the second line.
A client token is made the same way: add "read TOKEN", "write TOKEN" or "admin TOKEN" to the daemon's --client-token-file.`;
  static override examples = [
    '(umask 077; <%= config.bin %> secret new > cluster.secret)',
    '(umask 077; echo "write $(<%= config.bin %> secret new)" >> tokens)',
  ];

  async run(): Promise<{ secret: string }> {
    await this.parse(SecretNew);
    const secret = newSecret(randomBytes);
    this.say(secret);
    return { secret };
  }
}
