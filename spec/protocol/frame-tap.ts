/**
 * FrameTap: a listener that real peers dial in place of the server of a
 * FramedConnection protocol (connection.ts): an app in place of its agent's
 * control socket, an agent in place of its name server. It forwards every
 * frame both ways to the real server and keeps a decoded copy of each body,
 * so a spec sees exactly what the real ends send. A spec may also have it
 * replace one body on its way (`tamper`, `spoilOnce`), to see what the other
 * end does with it.
 */
import type { Socket } from 'node:net';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { FAILURE, RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/frame.js';
import { Relay, type Endpoint } from './relay.js';

export interface Tapped {
  /** request (client -> server, id != 0), answer (RESULT) or failure (FAILURE) to one, or event (server -> client, id 0) */
  kind: 'request' | 'answer' | 'failure' | 'event';
  /** The message type; for an answer or failure, its request's. */
  type: number;
  /** The connection it went over (numbered from 1). */
  conn: number;
  body: unknown;
}

/** Returns the body to send in place of `t`'s, or undefined to pass it on as it is. */
export type Tamper = (t: Tapped) => unknown;

export class FrameTap {
  readonly seen: Tapped[] = [];
  tamper: Tamper | undefined;
  private relay!: Relay;

  /** Listen at `listen` (a socket path, or a TCP port), forwarding to the server at `server`. */
  static async open(listen: Endpoint, server: Endpoint): Promise<FrameTap> {
    const tap = new FrameTap();
    tap.relay = await Relay.open(listen, server, (client, target, conn) => tap.accept(client, target, conn));
    return tap;
  }

  /** Where clients dial it: the socket path, or `host:port`. */
  get path(): string {
    return this.relay.address;
  }

  of(kind: Tapped['kind'], type: number): Tapped[] {
    return this.seen.filter((t) => t.kind === kind && t.type === type);
  }

  /** Spoil the first body that `match` picks on its way through with `spoil`. */
  spoilOnce(match: (t: Tapped) => boolean, spoil: (body: Record<string, unknown>) => unknown): { done: () => boolean } {
    let done = false;
    this.tamper = (t) => {
      if (done || !match(t)) return undefined;
      done = true;
      return spoil(t.body as Record<string, unknown>);
    };
    return { done: () => done };
  }

  /** Close every connection through the tap (it goes on listening). */
  cut(): void {
    this.relay.cut();
  }

  close(): Promise<void> {
    return this.relay.close();
  }

  private accept(client: Socket, server: Socket, conn: number): void {
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
        const t: Tapped = { ...label(f.type, f.id), body: f.body.length ? decodeValue(f.body) : undefined };
        this.seen.push(t);
        const replaced = this.tamper?.(t);
        to.write(replaced === undefined ? encodeFrame(f.type, f.id, f.body) : encodeFrame(f.type, f.id, encodeValue(replaced)));
      }
    });
  }
}
