/**
 * LinkServer: the TCP port peer agents dial to send to us. Each connection
 * starts with the mesh-secret handshake, which names the peer's agent id and
 * incarnation and must have been made for this agent at its advertised
 * address (link-frames.ts); every byte after it is sealed (link-stream.ts),
 * or the port is TLS with client certificates. Its frames then go to that
 * incarnation's InboundSession (which
 * outlives the connection), and after each batch of frames the session's ACK
 * goes back on the same connection. Garbage, oversize or out-of-protocol
 * frames close only that connection, with a logged reason. An Admission
 * bounds the connections: the handshake deadline, how many may be waiting for
 * it, a small frame limit until it is done, the bytes held in partial frames,
 * and, after it, silence (the dialer pings every heartbeat: 2 x deadMs
 * without a frame closes the connection). An address whose handshakes keep
 * failing (10, then 1 per 5 s) has its connections closed at once, and what
 * strangers cause is logged throttled (throttled-log.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Admission, AdmissionError, type AdmissionOptions, type AdmissionStats, type Ticket } from '../../protocol/admission.js';
import { decodeValue, encodeValue } from '../../protocol/cbor.js';
import { ENVELOPE_BYTES } from '../../protocol/envelope.js';
import { ProtocolError } from '../../protocol/errors.js';
import { encodeFrame, type Frame } from '../../protocol/frame.js';
import { linkHello, linkSource, type LinkChallenge, type LinkWelcome } from '../../protocol/link-bodies.js';
import { checkLinkProof, decodeRecordBody, encodeBareFrame, helloState, LinkFrame, linkProof, welcomeState } from '../../protocol/link-frames.js';
import { linkKeys, type HandshakeFacts } from '../../protocol/link-seal.js';
import { FAILED_AUTH_LIMIT, RateLimiter } from '../../protocol/rate-limit.js';
import type { Logger } from '../../protocol/logger.js';
import { ThrottledLog } from '../../protocol/throttled-log.js';
import { createTlsServer, type TlsMaterial } from '../../protocol/tls.js';
import { agreeVersion, commonCaps, LINK_PROTOCOL, versionFields } from '../../protocol/versions.js';
import type { InboundSession, InboundStats } from './inbound-session.js';
import { LinkStream } from './link-stream.js';

export interface LinkServerHost {
  readonly agentId: string;
  readonly epoch: number;
  readonly secret: string;
  /** TLS with client certificates on this port (else plain TCP, sealed after the handshake). */
  readonly tls: TlsMaterial | undefined;
  /** The address peers are told to dial (the handshake must have been made for it). */
  advertised(): string;
  readonly log: Logger;
  /** The session of peer `agentId` incarnation `epoch` (made on first contact). */
  session(agentId: string, epoch: number): InboundSession;
  /** Where the authenticated peer says it listens (a route back for bounces and replies). */
  learnAddress(agentId: string, epoch: number, address: string): void;
  /** Run `fn` as a round of the data path. */
  round(fn: () => void): void;
}

/** Default handshake deadline (the dialer answers CHALLENGE at once). */
const HANDSHAKE_MS = 5000;
/** Frames one peer may leave us holding (waiting destinations, unacknowledged refusals). */
const MAX_HELD = 1 << 16;

interface Conn {
  socket: Socket;
  stream: LinkStream;
  ticket: Ticket;
  session: InboundSession | undefined;
}

export class LinkServer {
  private server!: Server;
  private readonly conns = new Set<Conn>();
  private readonly bySession = new Map<InboundSession, Conn>();
  private readonly ackQueued = new Set<InboundSession>();
  private readonly admission: Admission;
  private readonly handshakeMs: number;
  /** Failed handshakes by address: 10, then 1 per 5 s; out of them, an address's connections are closed at once. */
  private readonly failures: RateLimiter;
  /** Lines strangers can cause, throttled. */
  private readonly refusals: ThrottledLog;
  address = '';

  constructor(private readonly host: LinkServerHost, t: { deadMs: number; admission?: Partial<AdmissionOptions> | undefined }) {
    this.handshakeMs = t.admission?.authTimeoutMs ?? HANDSHAKE_MS;
    this.admission = new Admission('link port', {
      ...t.admission,
      authTimeoutMs: this.handshakeMs,
      idleTimeoutMs: t.deadMs * 2,
    }, host.log);
    this.refusals = new ThrottledLog(host.log);
    this.failures = new RateLimiter(FAILED_AUTH_LIMIT, (addr) => host.log.warn(`link port: too many failed handshakes from ${addr}; refusing it for a while`, { peer: addr }));
  }

  listen(host: string, port: number): Promise<string> {
    const tls = this.host.tls;
    this.server = tls
      ? createTlsServer(tls, this.handshakeMs, (s) => this.accept(s), (err, from) => this.refusals.say('refused TLS handshakes', `link from ${from}: TLS handshake failed: ${err.message}`, { peer: from }))
      : createServer((s) => this.accept(s));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address();
        const p = typeof a === 'object' && a ? a.port : port;
        this.address = `${host.includes(':') ? `[${host}]` : host}:${p}`;
        resolve(this.address);
      });
    });
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const from = socket.remoteAddress ?? '?';
    if (!this.failures.allowed(from)) {
      socket.destroy();
      return;
    }
    const ticket = this.admission.admit(socket, remote);
    if (!ticket) return;
    const stream = new LinkStream(socket, ticket);
    const conn: Conn = { socket, stream, ticket, session: undefined };
    this.conns.add(conn);
    const nonce = randomBytes(32);
    const close = (reason: Error): void => {
      if (socket.destroyed) return;
      const line = `link from ${conn.session?.peer ?? remote}: closed: ${reason.message}`;
      if (conn.session) this.host.log.warn(line, { peer: conn.session.peer });
      else this.refusals.sayFor('refused link handshakes', reason.message, line, { peer: remote }); // a stranger's: throttled
      socket.destroy();
    };

    socket.on('data', (chunk) => {
      try {
        this.host.round(() => stream.read(chunk, (f) => {
          if (!socket.destroyed) this.onFrame(conn, f, nonce);
        }));
      } catch (err) {
        return close(err as Error);
      }
      this.sendAck(conn);
    });
    socket.on('error', (err) => {
      if (!(err instanceof AdmissionError)) close(err); // the admission logged it, rate-limited
    });
    socket.on('close', () => {
      this.conns.delete(conn);
      if (conn.session && this.bySession.get(conn.session) === conn) {
        this.bySession.delete(conn.session);
        conn.session.stats.connected = false;
      }
    });
    const challenge = { ...versionFields(LINK_PROTOCOL), agentId: this.host.agentId, epoch: this.host.epoch, nonce } satisfies LinkChallenge;
    stream.write([encodeFrame(LinkFrame.CHALLENGE, 0, encodeValue(challenge))]);
  }

  private onFrame(conn: Conn, f: Frame, nonce: Uint8Array): void {
    const session = conn.session;
    if (!session) {
      if (f.type !== LinkFrame.HELLO) throw new ProtocolError(`frame type ${f.type} before HELLO`);
      return this.hello(conn, f.body, nonce);
    }
    switch (f.type) {
      case LinkFrame.DATA: {
        const r = decodeRecordBody(f.body, ENVELOPE_BYTES);
        if (!r) throw new ProtocolError('short DATA frame');
        // the body views a buffer nobody reuses (FrameDecoder), so the sink may keep it
        session.receive(f.id, r.recordType, r.record);
        return;
      }
      case LinkFrame.SOURCE: {
        const { local, game } = linkSource(decodeValue(f.body));
        session.announce(local, game);
        return;
      }
      case LinkFrame.PING:
        conn.stream.write([encodeBareFrame(LinkFrame.PONG, f.id)]);
        return;
      case LinkFrame.PONG:
        return;
      default:
        throw new ProtocolError(`unexpected link frame type ${f.type}`);
    }
  }

  private hello(conn: Conn, body: Uint8Array, nonce: Uint8Array): void {
    const h = linkHello(decodeValue(body));
    const version = agreeVersion('link', LINK_PROTOCOL, h);
    const facts: HandshakeFacts = {
      dialer: h.agentId, acceptor: this.host.agentId, dialerEpoch: h.epoch, acceptorEpoch: this.host.epoch,
      dialerAddress: h.address, acceptorAddress: this.host.advertised(), acceptorNonce: nonce, dialerNonce: h.nonce,
    };
    if (!checkLinkProof(this.host.secret, 'd', facts, helloState(h.next), h.proof)) {
      this.failures.take(conn.socket.remoteAddress ?? '?');
      throw new ProtocolError(`refused: wrong mesh secret, or not dialled at ${facts.acceptorAddress} (claims to be '${h.agentId}')`);
    }
    conn.ticket.authenticated();
    const session = this.host.session(h.agentId, h.epoch);
    if (facts.dialerAddress) this.host.learnAddress(h.agentId, h.epoch, facts.dialerAddress);
    const old = this.bySession.get(session);
    if (old && old !== conn) old.socket.destroy(); // the peer redialled; the old connection is dead to it
    this.bySession.set(session, conn);
    conn.session = session;
    session.stats.connected = true;
    const { top, pending } = session.connected(h.next);
    const welcome = {
      v: version, caps: commonCaps(LINK_PROTOCOL, h.caps), proof: linkProof(this.host.secret, 'a', facts, welcomeState(top, pending)), top, pending,
    } satisfies LinkWelcome;
    conn.stream.write([encodeFrame(LinkFrame.WELCOME, 0, encodeValue(welcome))]);
    const keys = this.host.tls ? null : linkKeys(this.host.secret, facts);
    conn.stream.begin(keys && { read: keys.forward, write: keys.backward });
  }

  private sendAck(conn: Conn): void {
    const session = conn.session;
    if (!session || conn.socket.destroyed) return;
    if (session.held > MAX_HELD) {
      conn.socket.destroy(new ProtocolError(`peer left ${session.held} frames held: it overran its window`));
      return;
    }
    const ack = session.takeAck();
    if (ack) conn.stream.write([ack]);
  }

  /** A session's outcome changed outside a frame (a waiting record was delivered): ACK soon. */
  ackSoon(session: InboundSession): void {
    if (this.ackQueued.has(session)) return;
    this.ackQueued.add(session);
    setImmediate(() => {
      this.ackQueued.delete(session);
      const conn = this.bySession.get(session);
      if (conn) this.sendAck(conn);
    });
  }

  /** Connection counts and what the bounds closed. */
  admissionStats(): AdmissionStats {
    return this.admission.stats();
  }

  /** Test hook: drop every inbound connection. */
  cutAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  stats(sessions: Iterable<InboundSession>): InboundStats[] {
    return [...sessions].map((s) => ({ ...s.stats }));
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.admission.close();
    this.refusals.close();
    for (const c of this.conns) c.socket.destroy();
    await closed;
  }
}
