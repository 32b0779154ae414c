/**
 * The daemon's logger: appends one JSON object per line to a file (src/env/logger.ts has the format).
 *
 * The log usually sits on the same disk as the data, so it fills with it. A failed append must not
 * take the daemon down (a stream's unhandled error would), nor lose what says why the node is
 * degraded: while the file cannot be written, lines are held (the first HELD_BYTES of them; the
 * rest are counted), and the next line logged a second or more later opens the file again and
 * writes them first, with how many were dropped.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger, LogLevel } from './logger.js';

/** Lines held while the log cannot be written, at most. */
const HELD_BYTES = 256 * 1024;
/** How long after a failed append the file is opened again, at the soonest. */
const REOPEN_AFTER_MS = 1000;

export class FileLogger implements Logger {
  private stream: WriteStream | undefined;
  /** Lines handed to the stream and not yet written: held again if it fails. */
  private unwritten: string[] = [];
  /** How many of `unwritten`, from its start, are written already (a queue without shifting). */
  private written = 0;
  private held: string[] = [];
  private heldBytes = 0;
  private dropped = 0;
  /** When appending last failed, and why; undefined while it works. */
  private failedAt: number | undefined;
  private failure = '';

  constructor(private readonly path: string) {
    this.stream = this.openStream();
  }

  private openStream(): WriteStream {
    const stream = createWriteStream(this.path, { flags: 'a' });
    stream.on('error', (err) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.failedAt = Date.now();
      this.failure = err.message;
      this.held = [...this.unwritten.slice(this.written), ...this.held];
      this.heldBytes = this.held.reduce((sum, line) => sum + line.length, 0);
      this.unwritten = [];
      this.written = 0;
    });
    return stream;
  }

  private write(stream: WriteStream, text: string): void {
    this.unwritten.push(text);
    stream.write(text, (err) => {
      if (err || this.stream !== stream) return;
      if (++this.written === this.unwritten.length) {
        this.unwritten = [];
        this.written = 0;
      }
    });
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    const line = `${JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })}\n`;
    if (!this.stream && this.failedAt !== undefined && Date.now() - this.failedAt >= REOPEN_AFTER_MS) this.reopen();
    if (this.stream) {
      this.write(this.stream, line);
    } else if (this.heldBytes + line.length <= HELD_BYTES) {
      this.held.push(line);
      this.heldBytes += line.length;
    } else {
      this.dropped++;
    }
  }

  /** Opens the file again and writes what was held, after a newline that ends a line cut short. */
  private reopen(): void {
    this.stream = this.openStream();
    const note = {
      t: new Date().toISOString(),
      level: 'warn',
      msg: 'the log could not be written for a while; the lines held meanwhile follow (those written in part before the failure may repeat)',
      error: this.failure,
      held: this.held.length,
      dropped: this.dropped,
    };
    this.write(this.stream, `\n${JSON.stringify(note)}\n${this.held.join('')}`);
    this.held = [];
    this.heldBytes = 0;
    this.dropped = 0;
    this.failedAt = undefined;
  }

  close(): Promise<void> {
    const stream = this.stream;
    if (!stream) return Promise.resolve();
    return new Promise((resolve) => {
      stream.once('error', () => resolve());
      stream.end(resolve);
    });
  }
}
