/**
 * What every kvctl command shares: `--json` (run() returns typed data, printed as one JSON line),
 * `--addr`/`--timeout` for commands that talk to a daemon, and the single place where errors
 * become exit statuses (src/errors.ts). Human output goes through `say` so it is silent with --json.
 */
import { Command, Flags, type Interfaces } from '@oclif/core';
import { KvClient } from '../client/client.js';
import { defaultAddr, envVars, parseAddr } from '../config.js';
import { type ExitStatus, errorCodes, KvError } from '../errors.js';

export const addrFlags = {
  addr: Flags.string({
    description: `Daemon to talk to, host:port [env: ${envVars.addr}; default 127.0.0.1:7070]`,
    helpGroup: 'CONNECTION',
  }),
  timeout: Flags.integer({ description: 'Milliseconds to wait for the daemon', default: 10_000, min: 1, helpGroup: 'CONNECTION' }),
};

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

  protected connect(flags: { addr?: string; timeout: number }): Promise<KvClient> {
    return KvClient.connect(this.resolveAddr(flags.addr), { timeoutMs: flags.timeout });
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

  protected override toSuccessJson(result: unknown): unknown {
    return result;
  }

  /** The one mapping from failures to exit statuses and messages. */
  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err.oclif?.exit === 0 || err.constructor.name === 'ExitError') throw err; // this.exit() and --help
    const kvError =
      err instanceof KvError
        ? err
        : err.oclif?.exit === 2 || /flag|argument|Expected/.test(err.message)
          ? new KvError('KV_USAGE', err.message.split('\n')[0] ?? err.message)
          : new KvError('KV_INTERNAL', err.message, undefined, { cause: err });
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: kvError.toWire() })}\n`);
    } else {
      const hint = kvError.code === 'KV_USAGE' ? ` (see: kvctl ${this.id ?? ''} --help)` : '';
      process.stderr.write(`kvctl: ${kvError.message} [${kvError.code}]${hint}\n`);
    }
    return this.exit(errorCodes[kvError.code].exit);
  }

  /** Sets the process exit status without printing anything more (e.g. key not found). */
  protected setExit(status: (typeof ExitStatus)[keyof typeof ExitStatus]): void {
    process.exitCode = status;
  }
}

export type KvFlags<T extends typeof Command> = Interfaces.InferredFlags<T['flags'] & T['baseFlags']>;
