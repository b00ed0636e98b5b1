/**
 * One agent connection to the name server: decodes NsMessage requests (each
 * body by its decoder in lib/protocol/ns-bodies.ts before anything reads it)
 * and applies them to the lease table and the registry store. Its watches
 * live and die with the connection; its lease does not (the agent may come
 * back within the TTL and resume it).
 *
 * A body no correct agent would send (wrong shape, unknown type, a request
 * before HELLO) is answered with FAILURE ProtocolError and then the
 * connection is closed; the reason is logged when it closes.
 *
 * Nothing but CHALLENGE and then HELLO is served before the agent proved the
 * mesh secret for its agent id (ns-auth.ts); the lease, and so every record
 * the connection writes, is bound to that id. A wrong proof is answered AUTH
 * and the connection closed; each one spends a token of the peer address's
 * bucket, and an address out of tokens gets LIMIT until it earns one back.
 * Wrong game proofs (VERIFY_GAME) spend a token of the (agent, game) bucket:
 * out of tokens, every VERIFY_GAME for that game from that agent is LIMIT,
 * so the name server is no key-guessing oracle. Both limits log one line when
 * they start to refuse.
 *
 * Beyond registry-messages.ts, HELLO accepts an optional `ttlMs` (clamped,
 * see leases.ts) and answers `{leaseId, ttlMs, resumed, uptimeMs}`: clients
 * use the uptime to tell a fresh name server's incomplete snapshots apart.
 */
import type { Socket } from 'node:net';
import { AdmissionError, type Ticket } from '../protocol/admission.js';
import { FramedConnection, isProtocolViolation } from '../protocol/connection.js';
import { object, versions, type Empty } from '../protocol/body-checks.js';
import { AuthError, ClosedError, LimitError, MeshError, ProtocolError, VersionError } from '../protocol/errors.js';
import { agentKey, helloProof, nsNonce, sameProof, welcomeProof } from '../protocol/ns-auth.js';
import {
  challengeRequest, deregisterRequest, heartbeatRequest, nsHelloRequest, nsUnwatchRequest, nsWatchRequest, registerRequest,
  startupRequest, verifyGameRequest, type ChallengeAnswer, type NsHelloAnswer, type NsHelloRequest, type NsOfflineEvent,
  type NsOnlineEvent, type NsWatchAnswer, type NsWatchRequest, type VerifyGameAnswer, type VerifyGameRequest,
} from '../protocol/ns-bodies.js';
import type { RateLimiter } from '../protocol/rate-limit.js';
import type { Logger } from '../protocol/logger.js';
import type { ThrottledLog } from '../protocol/throttled-log.js';
import { agreeVersion, commonCaps, NS_PROTOCOL } from '../protocol/versions.js';
import { NsMessage, reasonFor } from '../protocol/registry-messages.js';
import type { GameAuth } from './games.js';
import type { Lease, LeaseLink, LeaseTable } from './leases.js';
import type { RegistryStore, WatchSink } from './registry-store.js';

/** A watcher that stops reading gets cut off once this much is queued for it. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

export interface SessionContext {
  store: RegistryStore;
  leases: LeaseTable;
  auth: GameAuth;
  /** The mesh secret agents prove. */
  secret: string;
  /** Failed agent authentications, by peer address. */
  authFailures: RateLimiter;
  /** Wrong game proofs, by agent and game. */
  gameGuesses: RateLimiter;
  /** Where lines a stranger can cause go (throttled). */
  refusals: ThrottledLog;
  /** performance.now() when the server started (HELLO reports the uptime). */
  startedAt: number;
  log: Logger;
  /** Called once the connection has closed. */
  closed(session: NsSession): void;
}

export class NsSession implements LeaseLink {
  readonly conn: FramedConnection;
  readonly peer: string;
  private lease: Lease | undefined;
  private readonly watchIds = new Set<number>();
  private condemned = false;
  /** This connection's CHALLENGE nonce and agreed version (until HELLO). */
  private challenge: { nonce: Uint8Array; version: number } | undefined;
  /** The optional features this agent and we both have (its CHALLENGE). */
  private caps: string[] = [];
  /** The remote address, the key of its failed-authentication bucket. */
  private readonly host: string;

  constructor(socket: Socket, private readonly ctx: SessionContext, maxFrame: number, ticket?: Ticket) {
    this.host = socket.remoteAddress ?? '?';
    this.peer = `${this.host}:${socket.remotePort ?? '?'}`;
    this.conn = new FramedConnection(socket, {
      onMessage: (type, body) => this.onMessage(type, body),
      onClose: (reason) => this.onClose(reason),
    }, maxFrame, ticket);
  }

  /** Send an event; false when it could not be queued (the connection is gone). */
  send(type: number, body: unknown): boolean {
    if (this.conn.closed) return false;
    if (this.conn.socket.writableLength > MAX_QUEUED_BYTES) {
      this.conn.close(new ProtocolError(`peer is not reading (${this.conn.socket.writableLength} bytes queued)`));
      return false;
    }
    this.conn.send(type, body); // false here only means "buffer above the high-water mark": still queued
    return true;
  }

  close(reason: Error): void {
    this.conn.close(reason);
  }

  private onMessage(type: number, body: unknown): unknown {
    if (this.condemned) throw new ProtocolError('connection is closing after a protocol violation');
    try {
      return this.handle(type, body);
    } catch (err) {
      if (err instanceof ProtocolError || err instanceof AuthError || err instanceof VersionError || (err instanceof LimitError && !this.lease)) {
        // Let the FAILURE answer go out first, then drop the connection;
        // nothing else from this peer is applied meanwhile.
        this.condemned = true;
        setImmediate(() => this.conn.close(err));
      } else if (!(err instanceof MeshError)) {
        this.ctx.log.error(`ns: ${this.peer}: internal error on message type ${type}: ${(err as Error)?.stack ?? String(err)}`, { peer: this.peer });
      }
      throw err;
    }
  }

  private handle(type: number, body: unknown): unknown {
    switch (type) {
      case NsMessage.CHALLENGE: return this.challengeOf(body);
      case NsMessage.HELLO: return this.hello(body);
      case NsMessage.HEARTBEAT: {
        const { leaseId } = heartbeatRequest(body);
        if (!this.lease) throw new ProtocolError('HELLO first: this connection holds no lease');
        if (leaseId !== this.lease.id) throw new ProtocolError('HEARTBEAT names a lease this connection does not hold');
        this.ctx.leases.heartbeat(leaseId);
        return {} satisfies Empty;
      }
      case NsMessage.REGISTER: {
        const { instance, conflict } = registerRequest(body);
        const lease = this.requireLease();
        if (instance.agentId !== lease.agentId || instance.address !== lease.address) {
          throw new ProtocolError(`instance of agent '${instance.agentId}' at '${instance.address}' is not this agent ('${lease.agentId}' at '${lease.address}')`);
        }
        this.ctx.store.register(instance, conflict, lease.id);
        return {} satisfies Empty;
      }
      case NsMessage.STARTUP: {
        const { key } = startupRequest(body);
        this.ctx.store.startup(key, this.requireLease().id);
        return {} satisfies Empty;
      }
      case NsMessage.DEREGISTER: {
        const { key, reason } = deregisterRequest(body);
        this.ctx.store.deregister(key, reason, this.requireLease().id);
        return {} satisfies Empty;
      }
      case NsMessage.WATCH: {
        this.requireLease();
        return this.watch(nsWatchRequest(body));
      }
      case NsMessage.UNWATCH: {
        const { watchId } = nsUnwatchRequest(body);
        if (this.watchIds.delete(watchId)) this.ctx.store.unwatch(watchId);
        return {} satisfies Empty;
      }
      case NsMessage.VERIFY_GAME: {
        const lease = this.requireLease();
        return this.verifyGame(lease, verifyGameRequest(body));
      }
      default:
        throw new ProtocolError(`unexpected message type ${type}`);
    }
  }

  private challengeOf(body: unknown): ChallengeAnswer {
    const request = challengeRequest(body);
    const version = agreeVersion('name server', NS_PROTOCOL, request);
    if (this.lease || this.challenge) throw new ProtocolError('CHALLENGE is the first request of a connection, and only once');
    if (!this.ctx.authFailures.allowed(this.host)) {
      throw new LimitError(`too many failed agent authentications from ${this.host}; retry in ${this.ctx.authFailures.waitSeconds(this.host)} s`);
    }
    this.challenge = { nonce: nsNonce(), version };
    this.caps = commonCaps(NS_PROTOCOL, request.caps);
    return { v: version, caps: this.caps, nonce: this.challenge.nonce };
  }

  private hello(body: unknown): NsHelloAnswer {
    if (!this.challenge) {
      // an agent before version 2 sends HELLO first: VERSION says why
      agreeVersion('name server', NS_PROTOCOL, versions(object(body, 'the HELLO body')));
      throw new ProtocolError('CHALLENGE first: this connection has no nonce to prove');
    }
    const { nonce, version } = this.challenge;
    this.challenge = undefined; // one proof per nonce
    const { agentId, address, leaseId, ttlMs, nonce: agentNonce, proof } = this.helloRequest(body);
    const key = agentKey(this.ctx.secret, agentId);
    if (!sameProof(helloProof(key, nonce, agentNonce, { agentId, address, leaseId }), proof)) this.authFailed(agentId);
    if (this.lease?.link === this) this.lease.link = undefined;
    const { lease, resumed } = this.ctx.leases.hello(agentId, address, leaseId, ttlMs);
    this.bind(lease);
    this.conn.authenticated();
    this.ctx.log.info(`ns: ${this.peer}: agent '${agentId}' ${resumed ? 'resumed its lease' : 'took a new lease'} (ttl ${lease.ttlMs} ms)`, { peer: this.peer, agentId, resumed });
    // Kicks that happened while the agent was away go out right after the answer.
    const held = lease.pending.splice(0);
    if (held.length) setImmediate(() => held.forEach((e) => this.send(e.type, e.body)));
    return {
      leaseId: lease.id, ttlMs: lease.ttlMs, resumed, uptimeMs: Math.round(performance.now() - this.ctx.startedAt), v: version,
      proof: welcomeProof(key, agentNonce, nonce, agentId, lease.id),
    };
  }

  /** HELLO's body; a proof of the wrong shape is a wrong proof (AuthError), counted like one. */
  private helloRequest(body: unknown): NsHelloRequest {
    try {
      return nsHelloRequest(body);
    } catch (err) {
      // the decoder checks the proof last: the agent id it claims is well-formed
      if (err instanceof AuthError) this.authFailed((body as { agentId: string }).agentId);
      throw err;
    }
  }

  /** A wrong proof: the peer address spends a token of its bucket, and the connection is closed (onMessage). */
  private authFailed(claimed: string): never {
    this.ctx.authFailures.take(this.host);
    this.ctx.refusals.say('failed agent authentications', `ns: ${this.peer}: agent authentication failed (claims to be '${claimed.slice(0, 64)}')`, { peer: this.peer });
    throw new AuthError('agent authentication failed: wrong mesh secret');
  }

  private verifyGame(lease: Lease, { gameId: game, nonce, proof }: VerifyGameRequest): VerifyGameAnswer {
    const bucket = `${lease.agentId}\0${game}`;
    if (!this.ctx.gameGuesses.allowed(bucket)) {
      throw new LimitError(`too many wrong keys for game '${game}' from agent '${lease.agentId}'; retry in ${this.ctx.gameGuesses.waitSeconds(bucket)} s`);
    }
    const verdict = this.ctx.auth.verify(game, nonce, proof);
    if (!verdict.ok) this.ctx.gameGuesses.take(bucket);
    return verdict;
  }

  private watch({ gameId, pattern }: NsWatchRequest): NsWatchAnswer {
    let watchId = 0;
    const sink: WatchSink = (event) => {
      if (event.kind === 'online') this.send(NsMessage.ONLINE, { watchId, instance: event.instance } satisfies NsOnlineEvent);
      else this.send(NsMessage.OFFLINE, { watchId, instance: event.instance, reason: reasonFor(event.reason, this.caps) } satisfies NsOfflineEvent);
    };
    const res = this.ctx.store.watch(gameId, pattern, sink);
    watchId = res.watchId;
    this.watchIds.add(watchId);
    return res;
  }

  private bind(lease: Lease): void {
    this.lease = lease;
    lease.link = this;
  }

  private requireLease(): Lease {
    if (!this.lease) throw new ProtocolError('HELLO first: this connection holds no lease');
    const live = this.ctx.leases.get(this.lease.id);
    // The lease expired under a live connection: the server closes such
    // connections on expiry, so this is only a race with that close.
    if (!live) throw new ProtocolError('this connection\'s lease has expired');
    return live;
  }

  private onClose(reason: Error | undefined): void {
    for (const id of this.watchIds) this.ctx.store.unwatch(id);
    this.watchIds.clear();
    if (this.lease?.link === this) this.lease.link = undefined;
    const who = this.lease ? ` (agent '${this.lease.agentId}')` : '';
    const code = (reason as NodeJS.ErrnoException | undefined)?.code;
    let line: string | undefined;
    let faulty = false;
    if (reason instanceof AdmissionError) {
      // closed by a connection bound: its Admission logged it (rate-limited)
    } else if (reason && (code === 'EPIPE' || code === 'ECONNRESET')) {
      line = `ns: ${this.peer}${who}: connection reset by the peer`;
    } else if (reason) {
      const kind = isProtocolViolation(reason) ? 'protocol violation' : 'error';
      faulty = !(reason instanceof ClosedError); // our own shutdown is no fault
      line = `ns: ${this.peer}${who}: connection closed (${kind}): ${reason.message}`;
    } else {
      line = `ns: ${this.peer}${who}: connection closed by the peer`;
    }
    // An agent's closes are worth a line each; a stranger's are throttled, per reason
    if (line && this.lease) this.ctx.log[faulty ? 'warn' : 'info'](line, { peer: this.peer, agentId: this.lease.agentId });
    else if (line) this.ctx.refusals.sayFor('unauthenticated closes', reason?.message ?? 'by the peer', line, { peer: this.peer });
    this.ctx.closed(this);
  }
}
