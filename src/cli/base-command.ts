/**
 * What every kvctl command shares: `--json` (run() returns typed data, printed as one JSON line
 * with `ok: true`), `--addr`/`--timeout` for commands that talk to a daemon, command-line mistakes
 * as KV_USAGE errors that name the flag and value (src/cli/usage-errors.ts), and the single place
 * where errors become exit statuses (src/errors.ts). Human output goes through `say` so it is
 * silent with --json.
 */

import { readFileSync } from 'node:fs';
import { Command, Flags, type Interfaces, toConfiguredId } from '@oclif/core';
import { KvClient } from '../client/client.js';
import { defaultAddr, envVars, parseAddr } from '../config.js';
import { type ExitStatus, KvError } from '../errors.js';
import { parseClientToken } from '../net/credentials.js';
import type { ClientOptions } from '../net/line-connection.js';
import { checkedFlags, usageError, writeFailure } from './usage-errors.js';

export const addrFlags = {
  addr: Flags.string({
    description: `Daemon to talk to, host:port [env: ${envVars.addr}; default 127.0.0.1:7070]`,
    helpGroup: 'CONNECTION',
  }),
  timeout: Flags.integer({ description: 'Milliseconds to wait for the daemon', default: 10_000, min: 1, helpGroup: 'CONNECTION' }),
  'token-file': Flags.string({
    description: 'File holding the token to present to a daemon that takes client tokens',
    env: envVars.tokenFile,
    helpGroup: 'CONNECTION',
  }),
  'tls-ca': Flags.string({ description: 'Reach a TLS daemon, checking its certificate against this CA (PEM)', env: envVars.tlsCa, helpGroup: 'CONNECTION' }),
};

/** What oclif's parser yields per flag or argument name. */
type Fields = { [name: string]: unknown };

export abstract class KvCommand extends Command {
  static override enableJsonFlag = true;

  /** The address from --addr, KVCTL_ADDR or the embedded default; bad ones are usage errors. */
  protected resolveAddr(flag: string | undefined): string {
    const addr = flag ?? defaultAddr();
    try {
      parseAddr(addr);
    } catch (err) {
      throw new KvError('KV_USAGE', (err as Error).message);
    }
    return addr;
  }

  protected connect(flags: ConnectionFlags): Promise<KvClient> {
    return KvClient.connect(this.resolveAddr(flags.addr), this.clientOptions(flags));
  }

  /** How to reach a daemon from the connection flags: deadline, TLS (--tls-ca), token (--token-file). */
  protected clientOptions(flags: ConnectionFlags): ClientOptions {
    const options: ClientOptions = { timeoutMs: flags.timeout };
    if (flags['tls-ca'] !== undefined) options.tls = { ca: readFlagFile(flags['tls-ca'], '--tls-ca') };
    if (flags['token-file'] !== undefined)
      options.token = parseClientToken(readFlagFile(flags['token-file'], '--token-file').toString('utf8'), flags['token-file']);
    return options;
  }

  /** Prints a line for people; nothing in --json mode. */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(`${text}\n`);
  }

  /** A warning on stderr, shown in every mode (stdout stays machine-clean). */
  protected note(text: string): void {
    process.stderr.write(`kvctl: ${text}\n`);
  }

  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`);
  }

  /** Every result says `ok: true`; an absence (get of a missing key) is a result too, failures are not. */
  protected override toSuccessJson(result: unknown): unknown {
    return typeof result === 'object' && result !== null && !Array.isArray(result) ? { ok: true, ...result } : { ok: true, result };
  }

  /** oclif's parser, with every mistake turned into a KV_USAGE error that names the flag or argument. */
  protected override async parse<F extends Fields, B extends Fields, A extends Fields>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const input = options ?? (this.ctor as Interfaces.Input<F, B, A>);
    // Spelled out: oclif reads baseFlags and enableJsonFlag, which a command class inherits, from this object.
    const checked = { ...input, baseFlags: input.baseFlags, enableJsonFlag: input.enableJsonFlag, flags: checkedFlags(input.flags ?? {}) };
    try {
      return (await super.parse(checked as Interfaces.Input<F, B, A>, argv)) as Interfaces.ParserOutput<F, B, A>;
    } catch (err) {
      throw usageError(err, { id: this.displayId(), flags: input.flags, args: input.args });
    }
  }

  /** The one mapping from failures to exit statuses and messages. */
  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<unknown> {
    if (err.oclif?.exit === 0 || err.constructor.name === 'ExitError') throw err; // this.exit() and --help
    const kvError =
      err instanceof KvError
        ? err
        : err.oclif?.exit === 2 // this.error() and oclif's own usage errors
          ? usageError(err, { id: this.displayId(), flags: this.ctor.flags, args: this.ctor.args })
          : new KvError('KV_INTERNAL', err.message, undefined, { cause: err });
    writeFailure(kvError, this.jsonEnabled(), this.displayId());
    return this.exit(kvError.exitStatus);
  }

  /** The command as people type it: `ring show`, not `ring:show`. */
  private displayId(): string {
    return this.id ? toConfiguredId(this.id, this.config) : '';
  }

  /** Sets the process exit status without printing anything more (e.g. key not found). */
  protected setExit(status: (typeof ExitStatus)[keyof typeof ExitStatus]): void {
    process.exitCode = status;
  }
}

/** The connection flags every command that talks to a daemon has. */
export interface ConnectionFlags {
  addr?: string | undefined;
  timeout: number;
  'token-file'?: string | undefined;
  'tls-ca'?: string | undefined;
}

function readFlagFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new KvError('KV_USAGE', `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
}

export type KvFlags<T extends typeof Command> = Interfaces.InferredFlags<T['flags'] & T['baseFlags']>;
