/**
 * Length-prefixed frames for every socket protocol (control socket, name
 * server, agent links):
 *
 *   u32 BE length (of what follows) | u16 BE type | u32 BE id | body
 *
 * The body is CBOR (or raw bytes, by type). FrameDecoder is pure: bytes in,
 * frames out, no I/O, so it can be fuzzed. A frame that lies whole in one
 * chunk is handed out as a view of that chunk (no copy: the common case on a
 * busy link); one split across chunks is checked against the maximum before
 * anything is allocated, then allocated once and filled as its bytes arrive.
 * Linear in the bytes received however they are split. A body is valid as
 * long as the chunk or frame buffer it views, which the decoder never reuses
 * (a socket hands over a new buffer per read), so a consumer may keep it.
 * An optional FrameGate (admission.ts) sees each frame's length before the
 * allocation and may refuse it: a smaller limit before authentication, and a
 * budget of bytes held in partial frames across connections.
 */
import { FrameTooLargeError, ProtocolError } from './errors.js';

export const FRAME_PREFIX = 4;
export const FRAME_HEADER = 6;
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

export interface Frame {
  type: number;
  id: number;
  body: Uint8Array;
}

export function encodeFrame(type: number, id: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_PREFIX + FRAME_HEADER + body.length);
  out.writeUInt32BE(FRAME_HEADER + body.length, 0);
  out.writeUInt16BE(type, 4);
  out.writeUInt32BE(id >>> 0, 6);
  out.set(body, FRAME_PREFIX + FRAME_HEADER);
  return out;
}

const EMPTY = new Uint8Array(0);

const u32be = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** Asked before a frame is allocated (and told when it is complete); `reserve` throws to refuse it. */
export interface FrameGate {
  reserve(len: number): void;
  release(len: number): void;
}

export class FrameDecoder {
  private readonly prefix = Buffer.alloc(FRAME_PREFIX);
  private prefixLen = 0;
  private frame: Buffer | null = null;
  private filled = 0;
  /** Bytes copied so far (each byte received is copied once: the decoder is linear). */
  copied = 0;

  constructor(readonly maxFrame = DEFAULT_MAX_FRAME, private readonly gate?: FrameGate) {}

  /** What the last push left unread because it stopped at `max` frames. */
  rest: Uint8Array = EMPTY;

  /** Feed bytes; returns the frames completed (at most `max`: the bytes after
   * them are left in `rest`, for a protocol that changes framing there).
   * Throws FrameTooLargeError or ProtocolError on a frame that cannot be
   * valid (the connection must close). */
  push(chunk: Uint8Array, max = Infinity): Frame[] {
    const frames: Frame[] = [];
    let off = 0;
    this.rest = EMPTY;
    while (off < chunk.length) {
      if (frames.length >= max) {
        this.rest = chunk.subarray(off);
        break;
      }
      if (!this.frame) {
        if (this.prefixLen === 0 && chunk.length - off >= FRAME_PREFIX) {
          const len = this.checkLength(u32be(chunk, off));
          const start = off + FRAME_PREFIX;
          if (chunk.length - start >= len) {
            // whole in this chunk: a view
            this.gate?.release(len);
            frames.push({ type: (chunk[start]! << 8) | chunk[start + 1]!, id: u32be(chunk, start + 2), body: chunk.subarray(start + FRAME_HEADER, start + len) });
            off = start + len;
            continue;
          }
          this.startFrame(len);
          off = start;
        } else {
          const take = Math.min(FRAME_PREFIX - this.prefixLen, chunk.length - off);
          this.prefix.set(chunk.subarray(off, off + take), this.prefixLen);
          this.prefixLen += take;
          off += take;
          if (this.prefixLen < FRAME_PREFIX) break;
          this.prefixLen = 0;
          this.startFrame(this.checkLength(this.prefix.readUInt32BE(0)));
        }
      }
      const frame = this.frame!;
      const take = Math.min(frame.length - this.filled, chunk.length - off);
      frame.set(chunk.subarray(off, off + take), this.filled);
      this.copied += take;
      this.filled += take;
      off += take;
      if (this.filled === frame.length) {
        this.gate?.release(frame.length);
        frames.push({ type: frame.readUInt16BE(0), id: frame.readUInt32BE(2), body: frame.subarray(FRAME_HEADER) });
        this.frame = null;
      }
    }
    return frames;
  }

  /** A frame's length, checked before anything is allocated for it (and reserved with the gate). */
  private checkLength(len: number): number {
    if (len > this.maxFrame) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
    if (len < FRAME_HEADER) throw new ProtocolError(`frame of ${len} bytes is shorter than its ${FRAME_HEADER}-byte header`);
    this.gate?.reserve(len);
    return len;
  }

  private startFrame(len: number): void {
    this.frame = Buffer.allocUnsafe(len);
    this.filled = 0;
  }

  /** Bytes received that do not yet form a frame. */
  get buffered(): number {
    return this.prefixLen + (this.frame ? this.filled : 0);
  }
}
