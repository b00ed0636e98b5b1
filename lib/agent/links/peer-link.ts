/**
 * PeerLink: this agent's connection to one peer agent, for traffic from here
 * to there (the peer dials us for the other direction). It dials on first
 * use, proves the mesh secret, checks the peer is the agent the registry put
 * at that address, then writes queued records in one batch per event-loop
 * turn. Heartbeats on the link detect a dead peer; a lost connection is
 * redialled with capped exponential back-off, and everything the peer had not
 * acknowledged is sent again. Past its down budget the link gives up: queued
 * and new messages bounce (LINK_DOWN) until a dial succeeds again.
 */
import { createConnection, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeValue, encodeValue } from '../../protocol/cbor.js';
import { encodeFrame, FrameDecoder } from '../../protocol/frame.js';
import { checkLinkProof, decodeRecordBody, encodeBareFrame, LINK_MAX_FRAME, LinkFrame, linkProof } from '../../protocol/link-frames.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { LocalInstance } from '../local-instance.js';
import { OutboundQueue, type Outbound } from './outbound-queue.js';

export interface LinkTimings {
  /** Ping interval on a connected link. */
  heartbeatMs: number;
  /** Silence after which the peer is taken for dead (promise: within 3 s). */
  deadMs: number;
  /** How long a link may be down before its messages bounce. */
  budgetMs: number;
  /** A connected link with nothing to send closes after this long. */
  idleMs: number;
  /** Unacknowledged bytes per link before senders are paused. */
  windowBytes: number;
}

export const DEFAULT_TIMINGS: LinkTimings = { heartbeatMs: 500, deadMs: 2000, budgetMs: 5000, idleMs: 30_000, windowBytes: 4 * 1024 * 1024 };

const BACKOFF_MIN = 100;
const BACKOFF_MAX = 2000;

/** What a link needs from its agent (and nothing more). */
export interface PeerLinkHost {
  readonly agentId: string;
  readonly secret: string;
  readonly session: string;
  /** Where this agent listens ('' if it does not): sent in HELLO. */
  readonly address: string;
  log(msg: string): void;
  /** Space freed in the window: paused senders may go on. */
  released(link: PeerLink): void;
  /** A record the peer refused, or that the link gave up on; `record` holds (src local, dest local, flags with reason, corr). */
  bounced(link: PeerLink, recordType: number, record: Uint8Array, reason: number | 'link_down'): void;
}

export type LinkState = 'idle' | 'connecting' | 'up' | 'down' | 'failed';

export interface LinkStats {
  peer: string;
  address: string;
  state: LinkState;
  msgsOut: number;
  bytesOut: number;
  resends: number;
  bounces: number;
  queued: number;
  connects: number;
  rttUs: number;
}

const now = (): number => performance.now();

export class PeerLink {
  state: LinkState = 'idle';
  readonly waiters = new Set<LocalInstance>();
  readonly queue: OutboundQueue;
  private socket: Socket | undefined;
  private decoder = new FrameDecoder(LINK_MAX_FRAME);
  private nonce = new Uint8Array(0);
  private writeScheduled = false;
  private attempt = 0;
  private downSince = 0;
  private lastRx = 0;
  private lastUse = 0;
  private retry: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private holdUntil = 0;
  private pingSent = new Map<number, number>();
  private pingId = 0;
  private closed = false;
  private handshaking = false;
  readonly stats: LinkStats;

  constructor(readonly peer: string, public address: string, private readonly host: PeerLinkHost, private readonly t: LinkTimings) {
    this.queue = new OutboundQueue(t.windowBytes);
    this.stats = { peer, address, state: 'idle', msgsOut: 0, bytesOut: 0, resends: 0, bounces: 0, queued: 0, connects: 0, rttUs: 0 };
  }

  /** Queue a record for the peer. 'full': pause the sender; 'down': bounce it (link past its budget). */
  send(recordType: number, body: Uint8Array, srcLocal: number): 'queued' | 'full' | 'down' {
    if (this.closed) return 'down';
    this.lastUse = now();
    if (this.state === 'failed') {
      this.kick();
      return 'down';
    }
    if (this.queue.full) return 'full';
    const item = this.queue.push(recordType, body);
    item.frame.writeUInt32LE(srcLocal >>> 0, 14);
    this.stats.msgsOut++;
    this.stats.bytesOut += body.length;
    if (this.state === 'idle') this.dial();
    else if (this.state === 'up') this.scheduleWrite();
    return 'queued';
  }

  private kick(): void {
    if (!this.retry && this.state !== 'connecting') this.scheduleRedial();
  }

  private scheduleWrite(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    setImmediate(() => {
      this.writeScheduled = false;
      if (this.state !== 'up' || !this.socket) return;
      const frames = this.queue.takeUnsent();
      if (frames.length === 1) this.socket.write(frames[0]!);
      else if (frames.length > 1) this.socket.write(Buffer.concat(frames));
    });
  }

  private dial(): void {
    if (this.closed) return;
    if (this.state !== 'failed') this.state = 'connecting';
    this.handshaking = true;
    this.retry = undefined;
    const [host, port] = splitAddress(this.address);
    const socket = createConnection({ host, port });
    this.socket = socket;
    this.decoder = new FrameDecoder(LINK_MAX_FRAME);
    socket.setNoDelay(true);
    this.lastRx = now();
    socket.on('data', (chunk) => {
      if (this.socket !== socket) return;
      try {
        for (const f of this.decoder.push(chunk)) this.onFrame(f.type, f.id, f.body);
      } catch (err) {
        this.drop(socket, err as Error);
      }
    });
    socket.on('error', (err) => this.drop(socket, err));
    socket.on('close', () => this.drop(socket, undefined));
    this.startTimer();
  }

  private onFrame(type: number, id: number, body: Uint8Array): void {
    this.lastRx = now();
    switch (type) {
      case LinkFrame.CHALLENGE: {
        const c = decodeValue(body) as { agentId?: unknown; nonce?: unknown };
        if (!this.handshaking || !(c?.nonce instanceof Uint8Array)) throw new ProtocolError('unexpected CHALLENGE');
        if (c.agentId !== this.peer) throw new ProtocolError(`${this.address} is agent '${String(c.agentId)}', not '${this.peer}' as the registry says`);
        this.nonce = randomBytes(32);
        const hello = { agentId: this.host.agentId, address: this.host.address, session: this.host.session, nonce: this.nonce, proof: linkProof(this.host.secret, 'd', c.nonce, this.host.agentId, this.peer) };
        this.socket!.write(encodeFrame(LinkFrame.HELLO, 0, encodeValue(hello)));
        return;
      }
      case LinkFrame.WELCOME: {
        const w = decodeValue(body) as { proof?: unknown; acked?: unknown };
        if (!this.handshaking || !checkLinkProof(this.host.secret, 'a', this.nonce, this.peer, this.host.agentId, w?.proof)) {
          throw new ProtocolError('peer failed the mesh-secret proof');
        }
        this.up(typeof w.acked === 'number' ? w.acked : 0);
        return;
      }
      case LinkFrame.ACK:
        if (this.queue.ack(id) > 0) this.host.released(this);
        return;
      case LinkFrame.BOUNCE: {
        const r = decodeRecordBody(body);
        if (!r) throw new ProtocolError('short BOUNCE frame');
        this.stats.bounces++;
        this.host.bounced(this, r.recordType, r.record, (r.record[10]! as number));
        return;
      }
      case LinkFrame.PING:
        this.socket?.write(encodeBareFrame(LinkFrame.PONG, id));
        return;
      case LinkFrame.PONG: {
        const sent = this.pingSent.get(id);
        if (sent !== undefined) {
          this.stats.rttUs = Math.round((now() - sent) * 1000);
          this.pingSent.delete(id);
        }
        return;
      }
      default:
        throw new ProtocolError(`unexpected link frame type ${type}`);
    }
  }

  private up(acked: number): void {
    this.state = 'up';
    this.handshaking = false;
    this.attempt = 0;
    this.downSince = 0;
    this.stats.connects++;
    this.queue.ack(acked);
    const resend = this.queue.length;
    if (this.stats.connects > 1) this.stats.resends += resend;
    this.queue.rewind();
    this.host.released(this);
    this.scheduleWrite();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), Math.min(this.t.heartbeatMs, 250));
    this.timer.unref();
  }

  private tick(): void {
    const t = now();
    if (this.socket && (this.state === 'up' || this.handshaking) && t - this.lastRx > this.t.deadMs) {
      this.drop(this.socket, new Error(`no answer from ${this.peer} for ${Math.round(t - this.lastRx)} ms`));
    }
    if (this.state === 'up' && this.socket) {
      if (this.queue.length === 0 && t - this.lastUse > this.t.idleMs) {
        this.host.log(`link to ${this.peer}: idle, closing`);
        const s = this.socket;
        this.socket = undefined;
        this.state = 'idle';
        s.destroy();
        this.stopTimer();
        return;
      }
      const id = ++this.pingId;
      this.pingSent.clear();
      this.pingSent.set(id, t);
      this.socket.write(encodeBareFrame(LinkFrame.PING, id));
    }
    if ((this.state === 'down' || this.state === 'connecting') && this.downSince && t - this.downSince > this.t.budgetMs) this.giveUp();
    if (this.state === 'failed' && t - this.lastUse > this.t.idleMs) {
      if (this.retry) clearTimeout(this.retry);
      this.retry = undefined;
      this.stopTimer();
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private drop(socket: Socket | undefined, reason: Error | undefined): void {
    if (!socket || this.socket !== socket) return;
    this.socket = undefined;
    this.handshaking = false;
    socket.destroy();
    if (this.closed) return;
    if (reason) this.host.log(`link to ${this.peer} (${this.address}): ${reason.message}`);
    if (!this.downSince) this.downSince = now();
    if (this.state !== 'failed') this.state = 'down';
    this.scheduleRedial();
  }

  private scheduleRedial(): void {
    if (this.closed || this.retry) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt++);
    const delay = Math.max(base * (0.75 + Math.random() * 0.5), this.holdUntil - now());
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed && (this.state === 'down' || this.state === 'failed')) this.dial();
    }, delay);
    this.retry.unref();
    this.startTimer();
  }

  /** Down past the budget: every queued message bounces once; new ones bounce until a dial succeeds. */
  private giveUp(): void {
    this.state = 'failed';
    const dead = this.queue.takeAll();
    if (dead.length) this.host.log(`link to ${this.peer}: down for ${this.t.budgetMs} ms, bouncing ${dead.length} messages`);
    this.bounceAll(dead);
  }

  private bounceAll(items: Outbound[]): void {
    for (const o of items) {
      const { recordType, body } = OutboundQueue.recordOf(o);
      this.stats.bounces++;
      this.host.bounced(this, recordType, Buffer.from(body), 'link_down');
    }
    this.host.released(this);
  }

  /** Test hook: cut the connection and stay away for `ms`. */
  cut(ms: number): void {
    this.holdUntil = now() + ms;
    this.drop(this.socket, new Error(`cut for ${ms} ms (test hook)`));
  }

  /** The peer is gone for good (closing agent): bounce what is queued. */
  close(bounce: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopTimer();
    this.socket?.destroy();
    this.socket = undefined;
    this.state = 'failed';
    if (bounce) this.bounceAll(this.queue.takeAll());
  }

  snapshot(): LinkStats {
    return { ...this.stats, address: this.address, state: this.state, queued: this.queue.length };
  }
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`link address '${address}' is not host:port`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}
