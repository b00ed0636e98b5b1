/**
 * FrameTap: a Tap (tap.ts) for a FramedConnection protocol (connection.ts):
 * an app dials it in place of its agent's control socket, an agent in place
 * of its name server. Every frame is forwarded whole, its body noted.
 */
import type { Socket } from 'node:net';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { FAILURE, RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/frame.js';
import { Tap } from './tap.js';

export interface Tapped {
  /** request (client -> server, id != 0), answer (RESULT) or failure (FAILURE) to one, or event (server -> client, id 0) */
  kind: 'request' | 'answer' | 'failure' | 'event';
  /** The message type; for an answer or failure, its request's. */
  type: number;
  conn: number;
  body: unknown;
}

export class FrameTap extends Tap<Tapped> {
  protected accept(client: Socket, server: Socket, conn: number): void {
    const requests = new Map<number, number>();
    this.pipe(client, server, (type, id) => {
      if (id !== 0) requests.set(id, type);
      return { kind: id === 0 ? 'event' : 'request', type, conn };
    });
    this.pipe(server, client, (type, id) => {
      if (type !== RESULT && type !== FAILURE) return { kind: 'event', type, conn };
      return { kind: type === RESULT ? 'answer' : 'failure', type: requests.get(id) ?? -1, conn };
    });
  }

  /** Frames from `from` to `to`, each noted (and perhaps replaced) on the way. */
  private pipe(from: Socket, to: Socket, label: (type: number, id: number) => Omit<Tapped, 'body'>): void {
    const decoder = new FrameDecoder();
    from.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        const replaced = this.note({ ...label(f.type, f.id), body: f.body.length ? decodeValue(f.body) : undefined });
        to.write(replaced === undefined ? encodeFrame(f.type, f.id, f.body) : encodeFrame(f.type, f.id, encodeValue(replaced)));
      }
    });
  }
}
