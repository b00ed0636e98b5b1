/**
 * ControlServer: the agent's Unix control socket. It accepts app connections,
 * frames them (control frames are small, which bounds what a client can make
 * the agent allocate) and hands each to a ClientSession; a connection's end
 * tears its session down. The agent sees sessions only through `SessionHost`.
 * An Admission bounds connections that have not authenticated (deadline,
 * count, frame size); an authenticated app is never cut for being idle: the
 * control protocol has no heartbeat and apps may sit idle for hours.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { Admission, AdmissionError, type AdmissionOptions, type AdmissionStats } from '../protocol/admission.js';
import { FramedConnection, isProtocolViolation } from '../protocol/connection.js';
import { peerCred, type PeerCred } from '../native/index.js';
import { ClientSession, type SessionHost } from './client-session.js';

/** Control frames are small; this bounds what a client can make us allocate. */
const CONTROL_MAX_FRAME = 1024 * 1024;

export class ControlServer {
  private readonly sessions = new Map<number, ClientSession>();
  private readonly server: Server;
  private readonly admission: Admission;
  private nextClientId = 1;
  private closing = false;

  constructor(readonly socketPath: string, private readonly host: SessionHost, admission: Partial<AdmissionOptions> = {}) {
    this.server = createServer((socket) => this.accept(socket));
    this.admission = new Admission('control socket', { ...admission, idleTimeoutMs: 0 }, host.log);
  }

  /** @param mode of the socket file: 0600 for the agent's own user, 0666 when it serves several */
  async listen(mode = 0o600): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, mode);
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
    const ticket = this.admission.admit(socket, `client ${clientId}`);
    if (!ticket) return;
    let session: ClientSession | undefined = undefined;
    const conn = new FramedConnection(socket, {
      onMessage: (type, body) => session!.onMessage(type, body),
      onClose: (reason) => {
        if (reason && isProtocolViolation(reason) && !(reason instanceof AdmissionError)) this.host.log.warn(`client ${clientId}: closed: ${reason.message}`, { client: clientId });
        this.sessions.delete(clientId);
        void session!.teardown();
      },
    }, CONTROL_MAX_FRAME, ticket);
    session = new ClientSession(clientId, conn, this.host, peerOf(socket));
    this.sessions.set(clientId, session);
  }

  /** Listening, and not stopping. */
  get listening(): boolean {
    return this.server.listening && !this.closing;
  }

  /** App connections open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Connection counts and what the bounds closed. */
  admissionStats(): AdmissionStats {
    return this.admission.stats();
  }

  /** Accept no more; resolves once the listening socket is closed. */
  stopAccepting(): Promise<void> {
    this.closing = true;
    this.admission.close();
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

/** The app's user, from the kernel (a Unix socket's SO_PEERCRED); nobody if it cannot be read. */
function peerOf(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  try {
    if (typeof fd === 'number' && fd >= 0) return peerCred(fd);
  } catch { /* fall through */ }
  return { pid: 0, uid: -1, gid: -1 };
}
