/**
 * Length-prefixed frames for every socket protocol (control socket, name
 * server, agent links):
 *
 *   u32 BE length (of what follows) | u16 BE type | u32 BE id | body
 *
 * The body is CBOR (or raw bytes, by type). FrameDecoder is pure: bytes in,
 * frames out, no I/O, so it can be fuzzed. It checks the length against the
 * maximum before allocating anything, then allocates each frame once and
 * copies the bytes in as they arrive: linear in the bytes received however
 * they are split, and each frame's buffer is its own (a consumer may keep it).
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

  /** Feed bytes; returns the frames completed. Throws FrameTooLargeError or
   * ProtocolError on a frame that cannot be valid (the connection must close). */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (!this.frame) {
        const take = Math.min(FRAME_PREFIX - this.prefixLen, chunk.length - off);
        this.prefix.set(chunk.subarray(off, off + take), this.prefixLen);
        this.prefixLen += take;
        off += take;
        if (this.prefixLen < FRAME_PREFIX) break;
        const len = this.prefix.readUInt32BE(0);
        if (len > this.maxFrame) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
        if (len < FRAME_HEADER) throw new ProtocolError(`frame of ${len} bytes is shorter than its ${FRAME_HEADER}-byte header`);
        this.gate?.reserve(len);
        this.frame = Buffer.allocUnsafe(len);
        this.filled = 0;
        this.prefixLen = 0;
      }
      const frame = this.frame;
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

  /** Bytes received that do not yet form a frame. */
  get buffered(): number {
    return this.prefixLen + (this.frame ? this.filled : 0);
  }
}
