/**
 * Structured logging: one JSON object per line (`{"t":…,"level":…,"msg":…,…fields}`), so logs are
 * greppable and machine-readable. The daemon writes to a file in its data dir; tests use a null logger.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  close(): Promise<void>;
}

export const nullLogger: Logger = {
  log() {},
  async close() {},
};

export class FileLogger implements Logger {
  private readonly stream: WriteStream;

  constructor(path: string) {
    this.stream = createWriteStream(path, { flags: 'a' });
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.stream.write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
