/**
 * Relay: a listener (a Unix socket path, or a TCP port on 127.0.0.1) that
 * forwards each connection to a target, for the taps of the protocol specs
 * (frame-tap.ts, link-tap.ts) to read what goes by. The tap gets both sockets
 * of each connection and does the forwarding itself; when either side
 * closes, so does the other.
 */
import { rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A Unix socket path, or a TCP port (0 when listening: any free one). */
export type Endpoint = string | { host: string; port: number };

/** The two sockets of one relayed connection, numbered from 1. */
export type Pair = (client: Socket, target: Socket, conn: number) => void;

export class Relay {
  private readonly sockets = new Set<Socket>();
  private conns = 0;

  private constructor(private readonly listening: Endpoint, private readonly server: Server) {}

  static async open(listen: Endpoint, target: Endpoint, pair: Pair): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(listen, server);
    server.on('connection', (client) => relay.accept(client, target, pair));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (typeof listen === 'string') server.listen(listen, resolve);
      else server.listen(listen.port, listen.host, resolve);
    });
    return relay;
  }

  /** Where it listens: the path, or `host:port`. */
  get address(): string {
    if (typeof this.listening === 'string') return this.listening;
    return `${this.listening.host}:${(this.server.address() as AddressInfo).port}`;
  }

  /** Close every relayed connection (the listener stays). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => {
      if (typeof this.listening === 'string') rmSync(this.listening, { force: true });
      resolve();
    }));
  }

  private accept(client: Socket, target: Endpoint, pair: Pair): void {
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
    pair(client, server, ++this.conns);
  }
}
