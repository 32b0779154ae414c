/** The daemon's logger: appends one JSON object per line to a file (src/env/logger.ts has the format). */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger, LogLevel } from './logger.js';

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
