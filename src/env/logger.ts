/**
 * Structured logging: one JSON object per line, so logs are greppable and machine-readable. Every
 * line starts with the same fields (`time`, `level`, `node`, `event`, `msg`; see log-line.ts) and
 * every call names its event from the registry in log-events.ts. The daemon writes to a file in its
 * data dir (FileLogger, in src/env/file-logger.ts); tests and the simulator use the null logger.
 */
import type { LogEvent } from './log-events.js';

export type { LogEvent } from './log-events.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Lower is chattier: a logger set to a level writes lines of that rank and above. */
export const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The daemon's log file (src/env/file-logger.ts): its level, and its rotation. */
export interface LogSettings {
  /** Lines below this level are not written. */
  level: LogLevel;
  /** A log file is rotated before it grows past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (kvctl.log.1 ... kvctl.log.<files>); the logs take at most maxBytes * (files + 1). */
  files: number;
}

export const defaultLogSettings: LogSettings = { level: 'info', maxBytes: 10 * 1024 * 1024, files: 3 };

export interface Logger {
  /** `msg` is for people and may change; `event` is for machines and does not. */
  log(level: LogLevel, event: LogEvent, msg: string, fields?: Record<string, unknown>): void;
  close(): Promise<void>;
}

export const nullLogger: Logger = {
  log() {},
  async close() {},
};
