/**
 * LinkTap: a Tap (tap.ts) on the link port of an agent that advertises the
 * tap's address (--advertise), so peers dial it and their handshakes are made
 * for it: a port forward, which the link protocol allows. It notes the CBOR
 * bodies (CHALLENGE, HELLO, WELCOME, SOURCE) and the ACK lists of what goes
 * by. Handshake frames are plain and may be replaced on their way (`tamper`);
 * after them each direction is sealed (link-seal.ts): the tap reads the
 * frames inside the chunks (their payload is not encrypted) and passes the
 * bytes on untouched, since a relay cannot change them without the other
 * side closing the connection.
 */
import type { Socket } from 'node:net';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { encodeFrame, FrameDecoder, type Frame } from '../../lib/protocol/frame.js';
import { decodeAck, LINK_MAX_FRAME, LinkFrame } from '../../lib/protocol/link-frames.js';
import { SEAL_HEADER } from '../../lib/protocol/link-seal.js';
import { Tap } from './tap.js';

export interface LinkTapped {
  /** Who sent it: the agent that dialled, or the one that accepted. */
  kind: 'dialer' | 'acceptor';
  /** The LinkFrame type (DATA and PING/PONG frames are not noted). */
  type: number;
  conn: number;
  /** The decoded CBOR body; for an ACK, its lists (decodeAck). */
  body: unknown;
}

const CBOR_FRAMES: ReadonlySet<number> = new Set([LinkFrame.CHALLENGE, LinkFrame.HELLO, LinkFrame.WELCOME, LinkFrame.SOURCE]);

export class LinkTap extends Tap<LinkTapped> {
  protected accept(dialer: Socket, acceptor: Socket, conn: number): void {
    this.pipe(dialer, acceptor, { kind: 'dialer', conn }, LinkFrame.HELLO);
    this.pipe(acceptor, dialer, { kind: 'acceptor', conn }, LinkFrame.WELCOME);
  }

  /** One direction: plain frames up to and with `last`, then sealed chunks. */
  private pipe(from: Socket, to: Socket, who: Omit<LinkTapped, 'type' | 'body'>, last: number): void {
    const decoder = new FrameDecoder(LINK_MAX_FRAME);
    let sealed = false;
    let held = Buffer.alloc(0);
    const note = (f: Frame): unknown => {
      if (f.type === LinkFrame.ACK) return this.note({ ...who, type: f.type, body: decodeAck(f.body) });
      if (CBOR_FRAMES.has(f.type)) return this.note({ ...who, type: f.type, body: decodeValue(f.body) });
      return undefined;
    };
    from.on('data', (chunk: Buffer) => {
      let data: Uint8Array = chunk;
      while (!sealed && data.length > 0) {
        const one = decoder.push(data, 1);
        data = decoder.rest;
        const f = one[0];
        if (!f) return;
        const replaced = note(f);
        to.write(replaced === undefined ? encodeFrame(f.type, f.id, f.body) : encodeFrame(f.type, f.id, encodeValue(replaced)));
        sealed = f.type === last;
      }
      if (data.length === 0) return;
      to.write(data);
      held = Buffer.concat([held, data]);
      while (held.length >= SEAL_HEADER) {
        const end = SEAL_HEADER + held.readUInt32BE(0);
        if (held.length < end) break;
        for (const f of decoder.push(held.subarray(SEAL_HEADER, end))) note(f);
        held = held.subarray(end);
      }
    });
  }
}
