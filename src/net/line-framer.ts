/**
 * Splits a byte stream into newline-terminated lines, enforcing a byte limit per line itself
 * (the `ndjson`/split2 limit misses an over-long line that arrives in one chunk, and counts
 * UTF-16 units, not bytes). Memory held is bounded by `maxLineBytes` plus one chunk.
 * A trailing `\r` is dropped; empty lines are skipped.
 */
const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overflowed = false;

  /**
   * @param onLine called with each complete line (newline excluded)
   * @param onOverflow called once when a line exceeds the limit; the framer then ignores input
   */
  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverflow: (bytesSeen: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.overflowed) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const partBytes = nl - start;
      if (this.pendingBytes + partBytes > this.maxLineBytes) {
        this.overflow(this.pendingBytes + partBytes);
        return;
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
      this.emit(line);
      if (this.overflowed) return;
    }
    const rest = chunk.length - start;
    if (rest === 0) return;
    if (this.pendingBytes + rest > this.maxLineBytes) {
      this.overflow(this.pendingBytes + rest);
      return;
    }
    this.pending.push(chunk.subarray(start));
    this.pendingBytes += rest;
  }

  /** Input ended: a last line without newline still counts. */
  end(): void {
    if (this.overflowed || this.pendingBytes === 0) return;
    const line = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.emit(line);
  }

  private emit(line: Buffer): void {
    const trimmed = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
    if (trimmed.length > 0) this.onLine(trimmed);
  }

  private overflow(bytes: number): void {
    this.overflowed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.onOverflow(bytes);
  }
}
