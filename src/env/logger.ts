/**
 * Structured logging: one JSON object per line (`{"t":…,"level":…,"msg":…,…fields}`), so logs are
 * greppable and machine-readable. The daemon writes to a file in its data dir (FileLogger, in
 * src/env/file-logger.ts); tests and the simulator use the null logger.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  close(): Promise<void>;
}

export const nullLogger: Logger = {
  log() {},
  async close() {},
};
