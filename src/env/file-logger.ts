/**
 * The daemon's logger: appends one JSON object per line to a file (log-line.ts has the format),
 * drops lines below its level before building them, and rotates the file at a size cap.
 *
 * Rotation: a line that would take the file past `maxBytes` starts one. The file is closed once
 * what was handed to it is written, the numbered files are shifted (log-rotation.ts) with
 * asynchronous renames, and a new file is opened; the lines logged meanwhile, the one that started
 * the rotation first, are held and written to the new file. The event loop never waits on the disk.
 * A file holds at least one line, and lines are cut at `maxLineBytes` (no more than `maxBytes`),
 * so no file exceeds `maxBytes` and the logs take at most `maxBytes * (files + 1)`.
 *
 * The log usually sits on the same disk as the data, so it fills with it. A failed append must not
 * take the daemon down (a stream's unhandled error would), nor lose what says why the node is
 * degraded: while the file cannot be written, lines are held (the first HELD_BYTES of them; the
 * rest are counted), and the next line logged a second or more later opens the file again and
 * writes them first, after a `log.resumed` line saying how many were dropped.
 */
import { appendFileSync, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LogEvent } from './log-events.js';
import { formatLine, MAX_LINE_BYTES } from './log-line.js';
import { rotationPlan } from './log-rotation.js';
import { defaultLogSettings, LEVEL_RANK, type Logger, type LogLevel } from './logger.js';

/** Lines held while the log cannot be written (or is being rotated), at most. */
const HELD_BYTES = 256 * 1024;
/** How long after a failed append the file is opened again, at the soonest. */
const REOPEN_AFTER_MS = 1000;
/** How long after a failed rotation the next is tried, at the soonest (meanwhile the file grows past its cap). */
const ROTATE_RETRY_MS = 60_000;

export interface FileLoggerOptions {
  /** Lines below this level are not written. Default info. */
  level?: LogLevel;
  /** The node's name, in every line (setNode changes it once it is known). */
  node?: string;
  /** A file is rotated before it would grow past this. */
  maxBytes?: number;
  /** How many rotated files are kept. */
  files?: number;
  /** Longest line, newline included (at most maxBytes). */
  maxLineBytes?: number;
}

export class FileLogger implements Logger {
  private readonly minRank: number;
  private readonly maxBytes: number;
  private readonly files: number;
  private readonly maxLineBytes: number;
  private node: string;

  private stream: WriteStream | undefined;
  /** The stream a rotation is closing: its failure still holds its unwritten lines. */
  private draining: WriteStream | undefined;
  /** The rotation under way, if any. */
  private rotation: Promise<void> | undefined;
  private rotateAfter = 0;
  /** Bytes in the current file. */
  private size = 0;
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

  constructor(
    private readonly path: string,
    options: FileLoggerOptions = {},
  ) {
    this.minRank = LEVEL_RANK[options.level ?? defaultLogSettings.level];
    this.node = options.node ?? '';
    this.maxBytes = options.maxBytes ?? defaultLogSettings.maxBytes;
    this.files = options.files ?? defaultLogSettings.files;
    this.maxLineBytes = Math.min(options.maxLineBytes ?? MAX_LINE_BYTES, this.maxBytes);
    this.stream = this.openStream();
  }

  /** The node's name for the lines that follow (known only once the node has loaded its identity). */
  setNode(name: string): void {
    this.node = name;
  }

  log(level: LogLevel, event: LogEvent, msg: string, fields?: Record<string, unknown>): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    this.append(this.line(level, event, msg, fields));
  }

  /**
   * Writes a line at once, synchronously, for a process about to exit (its stream's pending writes
   * die with it). Lines still pending may then follow it, or be lost.
   */
  logNow(level: LogLevel, event: LogEvent, msg: string, fields?: Record<string, unknown>): void {
    const line = this.line(level, event, msg, fields);
    try {
      appendFileSync(this.path, line);
      this.size += Buffer.byteLength(line);
    } catch {
      // Nowhere left to say it: the process's stderr has it too.
    }
  }

  private line(level: LogLevel, event: LogEvent, msg: string, fields?: Record<string, unknown>): string {
    return formatLine({ time: new Date().toISOString(), level, node: this.node, event, msg }, fields, this.maxLineBytes);
  }

  private append(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (!this.stream && !this.rotation && this.failedAt !== undefined && Date.now() - this.failedAt >= REOPEN_AFTER_MS) this.resume();
    if (this.stream && this.size > 0 && this.size + bytes > this.maxBytes && Date.now() >= this.rotateAfter) this.rotate();
    if (this.stream) {
      this.write(this.stream, line);
      this.size += bytes;
    } else if (this.heldBytes + bytes <= HELD_BYTES) {
      this.held.push(line);
      this.heldBytes += bytes;
    } else {
      this.dropped++;
    }
  }

  private openStream(): WriteStream {
    this.size = fileSize(this.path);
    const stream = createWriteStream(this.path, { flags: 'a' });
    stream.on('error', (err) => {
      if (stream !== this.stream && stream !== this.draining) return;
      if (stream === this.stream) this.stream = undefined;
      this.failedAt = Date.now();
      this.failure = err.message;
      this.held = [...this.unwritten.slice(this.written), ...this.held];
      this.heldBytes = this.held.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
      this.unwritten = [];
      this.written = 0;
    });
    return stream;
  }

  private write(stream: WriteStream, text: string): void {
    this.unwritten.push(text);
    stream.write(text, (err) => {
      if (err || (stream !== this.stream && stream !== this.draining)) return;
      if (++this.written === this.unwritten.length) {
        this.unwritten = [];
        this.written = 0;
      }
    });
  }

  /** Closes the file once written, shifts the numbered files, opens a new one; lines are held meanwhile. */
  private rotate(): void {
    const old = this.stream as WriteStream;
    this.stream = undefined;
    this.draining = old;
    this.rotation = (async () => {
      await new Promise<void>((resolve) => {
        old.once('close', resolve);
        old.end();
      });
      this.draining = undefined;
      this.unwritten = [];
      this.written = 0;
      if (this.failedAt !== undefined) {
        // The disk fails: the lines stay held, and the file is opened (and rotated) again a second later at the soonest.
        this.rotation = undefined;
        return;
      }
      const problem = await this.shiftFiles();
      if (problem !== undefined) this.rotateAfter = Date.now() + ROTATE_RETRY_MS;
      this.rotation = undefined;
      this.resume(problem);
    })();
  }

  /** Removes and renames as the plan says; undefined when done, else what went wrong. */
  private async shiftFiles(): Promise<string | undefined> {
    const dir = dirname(this.path);
    try {
      const plan = rotationPlan(await readdir(dir), basename(this.path), this.files);
      for (const name of plan.remove) await rm(join(dir, name), { force: true });
      for (const [from, to] of plan.renames) await rename(join(dir, from), join(dir, to));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * Opens the file (again) and writes what was held, after saying why it was held if something went
   * wrong. The held lines go through `append` one by one, so a long backlog rotates at the cap too.
   */
  private resume(rotateProblem?: string): void {
    this.stream = this.openStream();
    const held = this.held;
    const notes: string[] = [];
    if (this.failedAt !== undefined || this.dropped > 0) {
      notes.push(
        this.line(
          'warn',
          'log.resumed',
          'the log could not be written for a while; the lines held meanwhile follow (those written in part before the failure may repeat)',
          { error: this.failure, held: held.length, dropped: this.dropped },
        ),
      );
    }
    if (rotateProblem !== undefined) {
      notes.push(
        this.line('warn', 'log.rotate_failed', 'the log could not be rotated; it goes on in this file', { error: rotateProblem, retryInMs: ROTATE_RETRY_MS }),
      );
    }
    // A newline ends a line a failure cut short.
    if (this.failedAt !== undefined && this.size > 0) this.append('\n');
    this.held = [];
    this.heldBytes = 0;
    this.dropped = 0;
    this.failedAt = undefined;
    for (const line of [...notes, ...held]) this.append(line);
  }

  async close(): Promise<void> {
    // A rotation may start another (a long backlog): wait for the last.
    while (this.rotation) await this.rotation;
    const stream = this.stream;
    if (!stream) return;
    await new Promise<void>((resolve) => {
      stream.once('error', () => resolve());
      stream.end(resolve);
    });
  }
}

/** The file's size, or 0 when it is not there (or cannot be read: appending will say why). */
function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
