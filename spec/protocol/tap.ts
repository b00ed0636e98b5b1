/**
 * Tap: a listener (a Unix socket path, or a TCP port on 127.0.0.1) that real
 * peers dial in place of a server, and that forwards each connection to that
 * server, keeping a decoded copy of each body that goes by, so a spec sees
 * exactly what the real ends send. A spec may have it replace a body on its
 * way (`tamper`, `spoilOnce`), to see what the other end does with it. How
 * the bytes are framed is the subclass's: frame-tap.ts (control socket, name
 * server), link-tap.ts (agent links).
 */
import { rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A Unix socket path, or a TCP port (0 when listening: any free one). */
export type Endpoint = string | { host: string; port: number };

/** A body that went by: its kind (who sent it, or what it is) and message type. */
export interface Noted {
  kind: string;
  type: number;
  /** The connection it went over (numbered from 1). */
  conn: number;
  body: unknown;
}

export abstract class Tap<T extends Noted> {
  readonly seen: T[] = [];
  /** Returns the body to send in place of `t`'s, or undefined to pass it on as it is. */
  tamper: ((t: T) => unknown) | undefined;
  private server: Server | undefined;
  private listening: Endpoint = '';
  private readonly sockets = new Set<Socket>();
  private conns = 0;

  /** Listen at `listen` (a socket path, or a TCP port), forwarding each connection to the server at `target`. */
  static async open<C>(this: new () => C, listen: Endpoint, target: Endpoint): Promise<C> {
    const tap = new this();
    await (tap as Tap<Noted>).listen(listen, target);
    return tap;
  }

  /** Where peers dial it: the socket path, or `host:port`. */
  get path(): string {
    if (typeof this.listening === 'string') return this.listening;
    return `${this.listening.host}:${(this.server!.address() as AddressInfo).port}`;
  }

  of(kind: T['kind'], type: number): T[] {
    return this.seen.filter((t) => t.kind === kind && t.type === type);
  }

  /** Spoil the first body that `match` picks on its way through with `spoil`. */
  spoilOnce(match: (t: T) => boolean, spoil: (body: Record<string, unknown>) => unknown): { done: () => boolean } {
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
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => {
        if (typeof this.listening === 'string') rmSync(this.listening, { force: true });
        resolve();
      });
    });
  }

  private async listen(listen: Endpoint, target: Endpoint): Promise<void> {
    const server = createServer();
    this.server = server;
    this.listening = listen;
    server.on('connection', (client) => this.relay(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (typeof listen === 'string') server.listen(listen, resolve);
      else server.listen(listen.port, listen.host, resolve);
    });
  }

  /** Note `t`; the body to send in its place, or undefined. */
  protected note(t: T): unknown {
    this.seen.push(t);
    return this.tamper?.(t);
  }

  /** Forward what `client` and `server` (connection `conn`) send each other, noting the bodies. */
  protected abstract accept(client: Socket, server: Socket, conn: number): void;

  private relay(client: Socket, target: Endpoint): void {
    const server = createConnection(typeof target === 'string' ? { path: target } : target);
    for (const s of [client, server]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => {
        this.sockets.delete(s);
        client.destroy();
        server.destroy();
      });
    }
    this.accept(client, server, ++this.conns);
  }
}
