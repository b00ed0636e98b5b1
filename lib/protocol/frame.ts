/**
 * Length-prefixed frames for every socket protocol (control socket, name
 * server, agent links):
 *
 *   u32 BE length (of what follows) | u16 BE type | u32 BE id | body
 *
 * The body is CBOR (or raw bytes, by type). FrameDecoder is pure: bytes in,
 * frames out, no I/O, so it can be fuzzed. It checks the length against the
 * maximum before allocating anything.
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

export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(readonly maxFrame = DEFAULT_MAX_FRAME) {}

  /** Feed bytes; returns the frames completed. Throws FrameTooLargeError or
   * ProtocolError on a frame that cannot be valid (the connection must close). */
  push(chunk: Uint8Array): Frame[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let off = 0;
    const buf = this.pending;
    while (buf.length - off >= FRAME_PREFIX) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxFrame) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
      if (len < FRAME_HEADER) throw new ProtocolError(`frame of ${len} bytes is shorter than its ${FRAME_HEADER}-byte header`);
      if (buf.length - off < FRAME_PREFIX + len) break;
      const start = off + FRAME_PREFIX;
      frames.push({
        type: buf.readUInt16BE(start),
        id: buf.readUInt32BE(start + 2),
        body: buf.subarray(start + FRAME_HEADER, start + len),
      });
      off = start + len;
    }
    // keep only the unparsed tail; copy it so a large consumed chunk can be freed
    this.pending = off === buf.length ? Buffer.alloc(0) : off === 0 ? buf : Buffer.from(buf.subarray(off));
    return frames;
  }

  /** Bytes received that do not yet form a frame. */
  get buffered(): number {
    return this.pending.length;
  }
}
