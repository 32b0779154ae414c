/**
 * Splits a byte stream into newline-terminated lines, enforcing a byte limit per line itself
 * (the `ndjson`/split2 limit misses an over-long line that arrives in one chunk, and counts
 * UTF-16 units, not bytes). Memory held is bounded by `maxLineBytes` plus one chunk.
 * A trailing `\r` is dropped; empty lines are skipped unless `emitEmptyLines` is set.
 */
const NEWLINE = 0x0a;
const CR = 0x0d;

export interface LineFramerOptions {
  /**
   * Skip an over-long line (after reporting it) and go on with the next one, instead of ignoring
   * all further input. For input where each line stands alone (a batch file), not for a socket.
   */
  skipOverlongLines?: boolean;
  /** Emit empty lines too, so that the caller can number lines as they appear in the input. */
  emitEmptyLines?: boolean;
}

export class LineFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overflowed = false;
  /** Inside an over-long line being skipped: input is dropped up to its newline. */
  private skipping = false;
  /**
   * A line's handler asked to hold what follows it (the connection may switch to binary frames
   * after that line's reply): input is kept unread, up to the line limit, until `resume` reads it
   * as lines or `takeHeld` hands it over.
   */
  private held = false;
  private endedWhileHeld = false;

  /**
   * @param onLine called with each complete line (newline excluded); returning false holds the
   *   input that follows the line, unread (see `held`)
   * @param onOverflow called once when a line exceeds the limit; the framer then ignores input
   *   (or, with `skipOverlongLines`, the rest of that line only)
   */
  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => unknown,
    private readonly onOverflow: (bytesSeen: number) => void,
    private readonly options: LineFramerOptions = {},
  ) {}

  /** Bytes of an unfinished line held, waiting for the rest of it. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): void {
    if (this.overflowed) return;
    if (this.held) {
      this.keep(chunk);
      return;
    }
    let start = 0;
    if (this.skipping) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl < 0) return;
      this.skipping = false;
      start = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const partBytes = nl - start;
      if (this.pendingBytes + partBytes > this.maxLineBytes) {
        this.overflow(this.pendingBytes + partBytes);
        if (this.overflowed) return;
        start = nl + 1; // the whole over-long line is behind us: go on with the next
        continue;
      }
      let line: Buffer;
      if (this.pendingBytes === 0) line = chunk.subarray(start, nl);
      else {
        this.pending.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.pending, this.pendingBytes + partBytes);
        this.pending = [];
        this.pendingBytes = 0;
      }
      start = nl + 1;
      if (this.emit(line) === false) {
        this.held = true;
        if (start < chunk.length) this.keep(chunk.subarray(start));
        return;
      }
      if (this.overflowed) return;
    }
    const rest = chunk.length - start;
    if (rest === 0) return;
    if (this.pendingBytes + rest > this.maxLineBytes) {
      this.overflow(this.pendingBytes + rest);
      if (!this.overflowed) this.skipping = true;
      return;
    }
    this.pending.push(chunk.subarray(start));
    this.pendingBytes += rest;
  }

  /** Input held after a line, kept while it fits the line limit. */
  private keep(bytes: Buffer): void {
    if (this.pendingBytes + bytes.length > this.maxLineBytes) {
      this.held = false;
      this.overflow(this.pendingBytes + bytes.length);
      this.overflowed = true;
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /** Reads the held input as lines again. */
  resume(): void {
    if (!this.held) return;
    this.held = false;
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.push(rest);
    if (this.endedWhileHeld) this.end();
  }

  /** Hands over the held input and reads no more: the stream goes on in another framing. */
  takeHeld(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.held = false;
    this.overflowed = true;
    return rest;
  }

  /** Input ended: a last line without newline still counts. */
  end(): void {
    if (this.held) {
      this.endedWhileHeld = true;
      return;
    }
    this.skipping = false;
    if (this.overflowed || this.pendingBytes === 0) return;
    const line = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.emit(line);
  }

  private emit(line: Buffer): unknown {
    const trimmed = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
    if (trimmed.length > 0 || this.options.emitEmptyLines) return this.onLine(trimmed);
    return undefined;
  }

  private overflow(bytes: number): void {
    this.overflowed = !this.options.skipOverlongLines;
    this.pending = [];
    this.pendingBytes = 0;
    this.onOverflow(bytes);
  }
}
