/**
 * Admission: the time and size bounds one listening socket puts on its
 * connections. Every listener has one (the agent's control socket, the name
 * server's TCP and HTTP ports, the peer-link port); each accepted socket gets
 * a Ticket, which starts *pending* and becomes *authenticated* when the
 * listener's handshake succeeds.
 *
 *   pending        must authenticate within `authTimeoutMs`; frames of at
 *                  most `preAuthMaxFrame` bytes; at most `maxPending` at once,
 *                  a new one closes the oldest (a flood of idle connections
 *                  cannot hold the slots real clients need)
 *   authenticated  closed after `idleTimeoutMs` without a byte received, where
 *                  the protocol has heartbeats (0: never)
 *   every one      at most `maxConnections` open, a new one over it refused;
 *                  partial frames held across all connections under
 *                  `maxBufferedBytes` (a frame that would pass it closes its
 *                  connection)
 *
 * Whatever a bound closes is counted (`stats()`) and logged, at most one line
 * per listener every LOG_EVERY_MS: the first trip at once, the rest summed
 * up, so a flood of connections makes a few lines, not one per connection.
 * The connection is closed with an AdmissionError, which the listener's own
 * per-connection logging skips for that reason.
 */
import type { Socket } from 'node:net';
import { ProtocolError } from './errors.js';
import type { FrameGate } from './frame.js';
import type { Logger } from './logger.js';

/** Bounds on connections that have not authenticated yet: how many, how long, how many per peer. */
export interface AdmissionOptions {
  /** A connection not authenticated this long after it was accepted is closed. */
  authTimeoutMs: number;
  /** An authenticated connection that sends nothing this long is closed; 0: never. */
  idleTimeoutMs: number;
  /** Open connections at most; a new one over it is refused. */
  maxConnections: number;
  /** Unauthenticated connections at most; a new one over it closes the oldest. */
  maxPending: number;
  /** Largest frame accepted before authentication. */
  preAuthMaxFrame: number;
  /** Bytes of partial frames held across all connections at most. */
  maxBufferedBytes: number;
}

export const DEFAULT_ADMISSION: AdmissionOptions = {
  authTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  maxConnections: 1024,
  maxPending: 64,
  preAuthMaxFrame: 4096,
  maxBufferedBytes: 64 * 1024 * 1024,
};

/** Why a bound closed a connection. */
export type Trip = 'deadline' | 'idle' | 'evicted' | 'refused' | 'frame' | 'buffered';

/** Connections a port holds and what its bounds closed. */
export interface AdmissionStats {
  open: number;
  pending: number;
  bufferedBytes: number;
  limits: AdmissionOptions;
  /** Connections each bound closed (or refused) since the listener started. */
  closed: Record<Trip, number>;
}

/** A connection closed by one of the bounds (already counted and logged by its Admission). */
export class AdmissionError extends ProtocolError {
  constructor(readonly trip: Trip, message: string) {
    super(message);
  }
}

const LOG_EVERY_MS = 10_000;

/** What a listener holds for one admitted connection; it is also that connection's FrameGate. */
export interface Ticket extends FrameGate {
  /** The peer proved itself: the pre-authentication bounds no longer apply. */
  authenticated(): void;
  /** Pending again with a fresh deadline, last in eviction order (HTTP: each request). */
  renew(): void;
}

/** One connection's state: pending or authenticated, and its share of the buffered bytes. */
interface Conn {
  readonly socket: Socket;
  readonly peer: string;
  pending: boolean;
  reserved: number;
  lastRx: number;
  timer: NodeJS.Timeout | undefined;
}

export class Admission {
  readonly limits: AdmissionOptions;
  private readonly open = new Set<Conn>();
  /** Insertion order is eviction order: the first is the oldest. */
  private readonly pending = new Set<Conn>();
  private buffered = 0;
  private readonly closed: Record<Trip, number> = { deadline: 0, idle: 0, evicted: 0, refused: 0, frame: 0, buffered: 0 };
  private unlogged: Partial<Record<Trip, number>> = {};
  private logTimer: NodeJS.Timeout | undefined;

  constructor(readonly name: string, options: Partial<AdmissionOptions>, private readonly log: Logger) {
    this.limits = { ...DEFAULT_ADMISSION, ...definedOnly(options) };
    for (const [k, v] of Object.entries(this.limits)) {
      const min = k === 'idleTimeoutMs' ? 0 : 1;
      if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name}: ${k} must be an integer >= ${min} (got ${v})`);
    }
  }

  /** A new connection: its ticket, or undefined when it was refused (the socket is destroyed). */
  admit(socket: Socket, peer = `${socket.remoteAddress ?? 'local'}:${socket.remotePort ?? '-'}`): Ticket | undefined {
    if (this.pending.size >= this.limits.maxPending) this.evictOldest();
    if (this.open.size >= this.limits.maxConnections) {
      if (this.pending.size === 0) {
        this.note('refused', peer);
        socket.destroy();
        return undefined;
      }
      this.evictOldest();
    }
    const t: Conn = { socket, peer, pending: true, reserved: 0, lastRx: performance.now(), timer: undefined };
    this.open.add(t);
    this.pending.add(t);
    t.timer = this.deadline(t);
    if (this.limits.idleTimeoutMs > 0) socket.on('data', () => (t.lastRx = performance.now()));
    socket.once('close', () => this.forget(t));
    return {
      authenticated: () => this.authenticate(t),
      renew: () => this.renew(t),
      reserve: (len) => this.reserve(t, len),
      release: (len) => this.release(t, len),
    };
  }

  stats(): AdmissionStats {
    return { open: this.open.size, pending: this.pending.size, bufferedBytes: this.buffered, limits: { ...this.limits }, closed: { ...this.closed } };
  }

  /** Stop every timer (the listener is closing; its sockets are destroyed by it). */
  close(): void {
    for (const t of this.open) clearTimeout(t.timer);
    clearTimeout(this.logTimer);
    this.logTimer = undefined;
  }

  private authenticate(t: Conn): void {
    if (!t.pending || !this.open.has(t)) return;
    t.pending = false;
    this.pending.delete(t);
    clearTimeout(t.timer);
    t.timer = undefined;
    if (this.limits.idleTimeoutMs > 0) {
      t.lastRx = performance.now();
      this.watchIdle(t, this.limits.idleTimeoutMs);
    }
  }

  private renew(t: Conn): void {
    if (!this.open.has(t)) return;
    clearTimeout(t.timer);
    this.pending.delete(t);
    t.pending = true;
    this.pending.add(t);
    t.timer = this.deadline(t);
  }

  private reserve(t: Conn, len: number): void {
    if (t.pending && len > this.limits.preAuthMaxFrame) {
      throw this.drop(t, 'frame', `frame of ${len} bytes before authentication (limit ${this.limits.preAuthMaxFrame})`);
    }
    if (this.buffered + len > this.limits.maxBufferedBytes) {
      throw this.drop(t, 'buffered', `frame of ${len} bytes: partial frames would pass ${this.limits.maxBufferedBytes} bytes`);
    }
    this.buffered += len;
    t.reserved += len;
  }

  private release(t: Conn, len: number): void {
    const n = Math.min(len, t.reserved);
    t.reserved -= n;
    this.buffered -= n;
  }

  private deadline(t: Conn): NodeJS.Timeout {
    const timer = setTimeout(() => this.drop(t, 'deadline', `not authenticated within ${this.limits.authTimeoutMs} ms`), this.limits.authTimeoutMs);
    timer.unref();
    return timer;
  }

  /** Re-armed lazily: one timer per connection, no work per byte beyond a timestamp. */
  private watchIdle(t: Conn, ms: number): void {
    t.timer = setTimeout(() => {
      const quiet = performance.now() - t.lastRx;
      if (quiet >= this.limits.idleTimeoutMs) this.drop(t, 'idle', `nothing received for ${Math.round(quiet)} ms`);
      else this.watchIdle(t, this.limits.idleTimeoutMs - quiet);
    }, ms);
    t.timer.unref();
  }

  private evictOldest(): void {
    const oldest = this.pending.values().next().value;
    if (oldest) this.drop(oldest, 'evicted', `the oldest of ${this.limits.maxPending} unauthenticated connections, closed for a new one`);
  }

  /** Close `t` for `trip`: counted, logged (rate-limited) and forgotten at once. */
  private drop(t: Conn, trip: Trip, detail: string): AdmissionError {
    const err = new AdmissionError(trip, `${this.name}: ${detail}`);
    this.note(trip, t.peer, detail);
    this.forget(t);
    if (t.socket.listenerCount('error') === 0) t.socket.on('error', () => {});
    t.socket.destroy(err);
    return err;
  }

  private forget(t: Conn): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    this.buffered -= t.reserved;
    t.reserved = 0;
    this.pending.delete(t);
    this.open.delete(t);
  }

  private note(trip: Trip, peer: string, detail = `over ${this.limits.maxConnections} connections, refused`): void {
    this.closed[trip]++;
    if (this.logTimer) {
      this.unlogged[trip] = (this.unlogged[trip] ?? 0) + 1;
      return;
    }
    this.log.warn(`${this.name}: closed ${peer}: ${detail} (further closes are summed up every ${LOG_EVERY_MS / 1000} s)`, { port: this.name, peer, bound: trip });
    this.armLog();
  }

  private armLog(): void {
    this.logTimer = setTimeout(() => {
      const closed = this.unlogged;
      const parts = Object.entries(closed).map(([trip, n]) => `${n} ${trip}`);
      this.unlogged = {};
      if (parts.length === 0) {
        this.logTimer = undefined;
        return;
      }
      this.log.warn(`${this.name}: in the last ${LOG_EVERY_MS / 1000} s also closed: ${parts.join(', ')} (${this.describe()})`, { port: this.name, closed });
      this.armLog();
    }, LOG_EVERY_MS);
    this.logTimer.unref();
  }

  private describe(): string {
    const l = this.limits;
    return `auth ${l.authTimeoutMs} ms, idle ${l.idleTimeoutMs || 'never'}${l.idleTimeoutMs ? ' ms' : ''}, ` +
      `${l.maxPending} pending of ${l.maxConnections}, pre-auth frame ${l.preAuthMaxFrame} B, buffered ${l.maxBufferedBytes} B`;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
