/**
 * ControlTap: a Unix socket that real apps dial in place of their agent's
 * control socket. It forwards every frame both ways to the real agent and
 * keeps a decoded copy of each body, so a spec sees exactly what the real
 * client and the real agent send. A spec may also have it replace one body
 * on its way (`tamper`), to see what the other end does with it.
 */
import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { FAILURE, RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/frame.js';

export interface Tapped {
  /** request (app -> agent, id != 0), answer (RESULT) or failure (FAILURE) to one, or event (agent -> app, id 0) */
  kind: 'request' | 'answer' | 'failure' | 'event';
  /** The message type; for an answer or failure, its request's. */
  type: number;
  /** The connection it went over (numbered from 1). */
  conn: number;
  body: unknown;
}

/** Returns the body to send in place of `t`'s, or undefined to pass it on as it is. */
export type Tamper = (t: Tapped) => unknown;

export class ControlTap {
  readonly seen: Tapped[] = [];
  tamper: Tamper | undefined;
  private readonly sockets = new Set<Socket>();
  private conns = 0;

  private constructor(readonly path: string, private readonly server: Server) {}

  /** Listen at `path`, forwarding to the agent's control socket `agent`. */
  static async open(path: string, agent: string): Promise<ControlTap> {
    const server = createServer();
    const tap = new ControlTap(path, server);
    server.on('connection', (app) => tap.accept(app, agent));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
    return tap;
  }

  of(kind: Tapped['kind'], type: number): Tapped[] {
    return this.seen.filter((t) => t.kind === kind && t.type === type);
  }

  private accept(app: Socket, agentPath: string): void {
    const conn = ++this.conns;
    const agent = createConnection(agentPath);
    const requests = new Map<number, number>();
    for (const s of [app, agent]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => {
        this.sockets.delete(s);
        app.destroy();
        agent.destroy();
      });
    }
    this.pipe(app, agent, (type, id) => {
      if (id !== 0) requests.set(id, type);
      return { kind: id === 0 ? 'event' : 'request', type, conn };
    });
    this.pipe(agent, app, (type, id) => {
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

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => {
      rmSync(this.path, { force: true });
      resolve();
    }));
  }
}
