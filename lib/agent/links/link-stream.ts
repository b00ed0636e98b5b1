/**
 * LinkStream: the frames of one link connection, in and out. During the
 * handshake frames are plain and handed out one at a time, because the
 * handshake frame that ends it changes how the next byte is read; after it
 * (begin) every chunk is sealed both ways under the handshake's keys
 * (lib/protocol/link-seal.ts), or stays plain when the connection runs inside
 * TLS, which authenticates and encrypts it already.
 */
import type { Socket } from 'node:net';
import type { FrameGate } from '../../protocol/frame.js';
import { FrameDecoder, type Frame } from '../../protocol/frame.js';
import { Opener, Sealer } from '../../protocol/link-seal.js';
import { LINK_MAX_FRAME } from '../../protocol/link-frames.js';

/** Parts written with one cork up to this many; more are joined first (one copy, one write). */
const CORK_PARTS = 4;
/** A few parts smaller than this in all are joined too: a copy of them costs less than a write each. */
const JOIN_BELOW = 16 * 1024;

const total = (parts: readonly Uint8Array[]): number => {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
};

export class LinkStream {
  private readonly decoder: FrameDecoder;
  private opener: Opener | undefined;
  private sealer: Sealer | undefined;
  private handshaking = true;

  constructor(readonly socket: Socket, private readonly gate?: FrameGate) {
    this.decoder = new FrameDecoder(LINK_MAX_FRAME, gate);
  }

  /** The handshake is over: seal from the next byte on with these keys, or (null: inside TLS) stay plain. */
  begin(keys: { read: Buffer; write: Buffer } | null): void {
    this.handshaking = false;
    if (!keys) return;
    this.opener = new Opener(keys.read, this.gate);
    this.sealer = new Sealer(keys.write);
  }

  /** Feed a chunk read from the socket; `each` gets its frames in order (it may call begin()). Throws on bad input. */
  read(chunk: Uint8Array, each: (f: Frame) => void): void {
    let data = chunk;
    while (this.handshaking && data.length > 0) {
      const one = this.decoder.push(data, 1);
      data = this.decoder.rest;
      if (one.length === 0) return;
      each(one[0]!);
      if (this.socket.destroyed) return;
    }
    if (data.length === 0) return;
    if (this.opener) {
      for (const payload of this.opener.push(data)) for (const f of this.decoder.push(payload)) each(f);
    } else {
      for (const f of this.decoder.push(data)) each(f);
    }
  }

  /** Write whole frames (sealed after the handshake unless inside TLS). */
  write(parts: readonly Uint8Array[]): void {
    const out = this.sealer ? this.sealer.seal(parts) : parts;
    if (out.length === 1) {
      this.socket.write(out[0]!);
    } else if (out.length <= CORK_PARTS && total(out) > JOIN_BELOW) {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    } else if (out.length > 1) {
      this.socket.write(Buffer.concat(out));
    }
  }
}
