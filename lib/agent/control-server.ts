/**
 * ControlServer: the agent's Unix control socket. It accepts app connections,
 * frames them (control frames are small, which bounds what a client can make
 * the agent allocate) and hands each to a ClientSession; a connection's end
 * tears its session down. The agent sees sessions only through `SessionHost`.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { FramedConnection, isProtocolViolation } from '../protocol/connection.js';
import { ClientSession, type SessionHost } from './client-session.js';

/** Control frames are small; this bounds what a client can make us allocate. */
const CONTROL_MAX_FRAME = 1024 * 1024;

export class ControlServer {
  private readonly sessions = new Map<number, ClientSession>();
  private readonly server: Server;
  private nextClientId = 1;
  private closing = false;

  constructor(readonly socketPath: string, private readonly host: SessionHost) {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
  }

  session(clientId: number): ClientSession | undefined {
    return this.sessions.get(clientId);
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const clientId = this.nextClientId++;
    let session: ClientSession | undefined = undefined;
    const conn = new FramedConnection(socket, {
      onMessage: (type, body) => session!.onMessage(type, body),
      onClose: (reason) => {
        if (reason && isProtocolViolation(reason)) this.host.log(`client ${clientId}: closed: ${reason.message}`);
        this.sessions.delete(clientId);
        void session!.teardown();
      },
    }, CONTROL_MAX_FRAME);
    session = new ClientSession(clientId, conn, this.host);
    this.sessions.set(clientId, session);
  }

  /** Accept no more; resolves once the listening socket is closed. */
  stopAccepting(): Promise<void> {
    this.closing = true;
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Disconnect every app and wait until each session is torn down. */
  async disconnectAll(): Promise<void> {
    const sessions = [...this.sessions.values()];
    for (const s of sessions) s.disconnect();
    await Promise.allSettled(sessions.map((s) => s.teardown()));
    this.sessions.clear();
    rmSync(this.socketPath, { force: true });
  }
}
