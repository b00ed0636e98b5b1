/**
 * FakePeer: one connection to an agent's peer-link port that does the real
 * handshake (CHALLENGE, HELLO with the mesh secret's proof, WELCOME), seals
 * what follows as a real peer does, and sends whatever records it is told to, built with link-frames.ts and
 * envelope.ts. For the findings spec's exact reproductions.
 */
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { ENVELOPE_BYTES, writeEnvelope } from '../../lib/protocol/envelope.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { encodeRecordFrame, LINK_VERSION, LinkFrame } from '../../lib/protocol/link-frames.js';
import { factsOf, helloFrame, type Challenge } from '../helpers/link-handshake.js';
import { FuzzConn } from './wire.js';

export class FakePeer {
  private seq = 0;
  private constructor(readonly conn: FuzzConn, readonly agentEpoch: number) {}

  /** Handshake as `agentId` (incarnation 1) listening at `address` (where the agent would dial back),
   * saying it speaks link protocol `version` (default: this build's). */
  static async connect(port: number, secret: string, agentId: string, address = '127.0.0.1:1', version: { v: number; vmin: number; caps?: string[] } = { v: LINK_VERSION, vmin: LINK_VERSION }): Promise<FakePeer> {
    const conn = await FuzzConn.open({ host: '127.0.0.1', port });
    await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.CHALLENGE), 5000);
    const ch = decodeValue<Challenge>(conn.frames.find((f) => f.type === LinkFrame.CHALLENGE)!.body);
    const hello = helloFrame(secret, factsOf(ch, { agentId, epoch: 1, address, next: 1 }, `127.0.0.1:${port}`), 1, version);
    conn.sealAfter(LinkFrame.WELCOME, hello.keys);
    conn.write(hello.frame);
    if ((await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.WELCOME), 5000)) !== 'done') throw new Error('no WELCOME');
    return new FakePeer(conn, ch.epoch);
  }

  /** SOURCE: our instance `local` is of `game`. */
  announce(local: number, game: string): void {
    this.conn.write(encodeFrame(LinkFrame.SOURCE, 0, encodeValue({ local, game })));
  }

  /** One DATA frame: a record of `type` from our `src` to the agent's instance `dest`, with `payload`
   * (`aux`: a fragment's whole message length). */
  send(type: number, src: number, dest: number, payload: Uint8Array, flags = 0, corr = 0, aux = 0): number {
    const body = Buffer.alloc(ENVELOPE_BYTES + payload.length);
    writeEnvelope(body, src, dest, flags, corr, this.agentEpoch, aux);
    body.set(payload, ENVELOPE_BYTES);
    this.conn.write(encodeRecordFrame(++this.seq, type, body));
    return this.seq;
  }

  /** The highest sequence number the agent acknowledged so far (0: none). */
  get acked(): number {
    return Math.max(0, ...this.conn.frames.filter((f) => f.type === LinkFrame.ACK).map((f) => f.id));
  }

  close(): void {
    this.conn.destroy();
  }
}
