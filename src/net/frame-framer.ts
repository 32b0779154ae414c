/**
 * Splits a byte stream into length-prefixed frames (net/peer-frames.ts), the counterpart of
 * LineFramer for peer links. The header gives a frame's size up front: a frame over the limit is
 * refused from its first four bytes, before any of it is held; memory held is bounded by the
 * limit plus one chunk.
 */
import { FRAME_HEADER_BYTES } from './peer-frames.js';

export class FrameFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of the frame being gathered, once its length is known (0: not known yet). */
  private expected = 0;
  private stopped = false;

  /**
   * @param onFrame called with each complete frame, header included
   * @param onOverflow called once when a frame's length exceeds the limit; input is then ignored
   * @param onMalformed called once when a header is malformed (shorter than a header); input is then ignored
   */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly onOverflow: (bytes: number) => void,
    private readonly onMalformed: (why: string) => void,
  ) {}

  /** Bytes of an unfinished frame held, waiting for the rest of it. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): void {
    let data = chunk;
    while (!this.stopped && data.length > 0) {
      if (this.pendingBytes === 0) {
        // Whole frames inside the chunk go out as views of it, without a copy.
        if (data.length < 4) break;
        const bytes = this.frameBytes(data);
        if (bytes === undefined) return;
        if (data.length < bytes) {
          this.expected = bytes;
          break;
        }
        this.onFrame(data.subarray(0, bytes));
        data = data.subarray(bytes);
        continue;
      }
      if (this.expected === 0) {
        const need = 4 - this.pendingBytes;
        if (data.length < need) break;
        const head = Buffer.concat([...this.pending, data.subarray(0, need)]);
        const bytes = this.frameBytes(head);
        if (bytes === undefined) return;
        this.expected = bytes;
      }
      const take = Math.min(data.length, this.expected - this.pendingBytes);
      this.pending.push(data.subarray(0, take));
      this.pendingBytes += take;
      data = data.subarray(take);
      if (this.pendingBytes === this.expected) {
        const frame = Buffer.concat(this.pending, this.pendingBytes);
        this.pending = [];
        this.pendingBytes = 0;
        this.expected = 0;
        this.onFrame(frame);
      }
    }
    if (this.stopped || data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  /** The frame's whole size from its length field, or undefined (after reporting) when over the limit or malformed. */
  private frameBytes(head: Buffer): number | undefined {
    const bytes = head.readUInt32BE(0) + 4;
    if (bytes < FRAME_HEADER_BYTES) {
      this.stop();
      this.onMalformed(`a frame's length must cover its header (${FRAME_HEADER_BYTES - 4} bytes), not ${bytes - 4}`);
      return undefined;
    }
    if (bytes > this.maxFrameBytes) {
      this.stop();
      this.onOverflow(bytes);
      return undefined;
    }
    return bytes;
  }

  private stop(): void {
    this.stopped = true;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
