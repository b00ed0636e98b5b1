/**
 * RawApp: an app that speaks the control protocol itself, with the project's
 * own framing (FramedConnection) and no client library in between: HELLO,
 * AUTH, CREATE + STARTUP, RESOLVE, CLOSE, RELEASE. It keeps the FAULT events
 * the agent sends, and the agent's doorbell. Used by the ring fuzz app and by
 * the findings spec, which need the ring files of an instance in hand.
 */
import { connect } from 'node:net';
import { Doorbell } from '../../lib/native/index.js';
import { gameProof } from '../../lib/protocol/auth.js';
import { FramedConnection } from '../../lib/protocol/connection.js';
import { ControlMessage, type Created, type Welcome } from '../../lib/protocol/control-messages.js';

const REQUEST_MS = 15_000;

export class RawApp {
  private constructor(
    readonly conn: FramedConnection,
    readonly welcome: Welcome,
    readonly bell: Doorbell,
    /** Local ids the agent dropped (FAULT). */
    readonly faults: Set<number>,
    private readonly state: { lost: boolean },
  ) {}

  /** The agent closed the control connection. */
  get lost(): boolean {
    return this.state.lost;
  }

  /** Connect to the agent at `socketPath` and authenticate as game `g`. */
  static async open(socketPath: string, gameId = 'g', key = 'g-key'): Promise<RawApp> {
    const socket = connect(socketPath);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const faults = new Set<number>();
    const state = { lost: false };
    const conn = new FramedConnection(socket, {
      onMessage: (type, body) => {
        if (type === ControlMessage.FAULT) faults.add((body as { localId: number }).localId);
      },
      onClose: () => void (state.lost = true),
    });
    const { nonce } = await conn.request<{ nonce: Uint8Array }>(ControlMessage.HELLO, { gameId, pid: process.pid }, REQUEST_MS);
    const welcome = await conn.request<Welcome>(ControlMessage.AUTH, { proof: gameProof(key, nonce) }, REQUEST_MS);
    return new RawApp(conn, welcome, Doorbell.open(welcome.agentBell), faults, state);
  }

  /** CREATE and STARTUP an instance; its ring paths and address. */
  async instance(service: string, userData: string): Promise<Created> {
    const created = await this.conn.request<Created>(ControlMessage.CREATE, { service, userData, conflict: 'reject' }, REQUEST_MS);
    await this.conn.request(ControlMessage.STARTUP, { localId: created.localId }, REQUEST_MS);
    return created;
  }

  /** One control round trip: the agent has handled what came before it on this connection. */
  async sync(localId: number): Promise<void> {
    await this.conn.request(ControlMessage.RESOLVE, { node: 0, localId }, REQUEST_MS).catch(() => undefined);
  }

  request<T = unknown>(type: number, body: unknown, ms = REQUEST_MS): Promise<T> {
    return this.conn.request<T>(type, body, ms);
  }

  close(): void {
    this.bell.close();
    this.conn.close();
  }
}
