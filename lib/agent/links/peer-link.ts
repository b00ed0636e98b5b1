/**
 * PeerLink: this agent's connection to one incarnation of a peer agent, for
 * traffic from here to there (the peer dials us for the other direction). It
 * is the RecordSink for every remote destination on that peer.
 *
 * It dials on first use, proves the mesh secret, checks the peer is the agent
 * and incarnation it meant to reach at the address it dialled (link-frames.ts),
 * then writes queued records in one sealed batch per event-loop turn
 * (link-stream.ts). Each record settles by what the peer says: done,
 * pending (held there for a full destination), refused (a BOUNCE comes back
 * on the peer's own link; see LinkTable.refused), or in doubt.
 *
 * Failures: a dropped connection is redialled with capped, jittered back-off
 * and what the peer did not take is written again. Down past its budget the
 * link gives up: records never written bounce LINK_DOWN, records written but
 * unacknowledged are IN_DOUBT (they may have been delivered); new records
 * bounce until a dial succeeds. If the peer turns out to be a new incarnation
 * (it restarted), this link is retired: unsent records bounce OFFLINE (their
 * destinations are gone), written ones are IN_DOUBT.
 */
import { createConnection, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeValue, encodeValue } from '../../protocol/cbor.js';
import { Frag, fragOf, kindOf } from '../../native/index.js';
import { BounceReason, envAux, envLocal, RecordKind, setEnvAddress, setEnvEpoch, WHOLE_MESSAGE_MAX } from '../../protocol/envelope.js';
import { ProtocolError } from '../../protocol/errors.js';
import { agreeVersion, LINK_PROTOCOL, versionFields } from '../../protocol/versions.js';
import { encodeFrame } from '../../protocol/frame.js';
import { linkChallenge, linkWelcome, type LinkHello, type LinkSource } from '../../protocol/link-bodies.js';
import { checkLinkProof, DATA_OVERHEAD, decodeAck, encodeBareFrame, LinkFrame, linkProof, helloState, welcomeState } from '../../protocol/link-frames.js';
import { linkKeys, type HandshakeFacts } from '../../protocol/link-seal.js';
import { connectTls } from '../../protocol/tls.js';
import { LinkStream } from './link-stream.js';
import { Offer, type Origin, type OfferResult, type RecordSink, type Ticket, type Waiter } from '../record-sink.js';
import { Settlement } from './link-settlement.js';
import { OutboundQueue } from './outbound-queue.js';
import type { LinkState, LinkStats, LinkTimings, PeerIdentity, PeerLinkHost } from './link-contract.js';
import { Backoff } from '../../protocol/backoff.js';

const BACKOFF_MIN = 100;
const BACKOFF_MAX = 2000;

const now = (): number => performance.now();

const NONE_HELD: ReadonlySet<number> = new Set();

export class PeerLink implements RecordSink {
  state: LinkState = 'idle';
  readonly queue: OutboundQueue;
  readonly stats: LinkStats;
  private readonly waiters = new Set<Waiter>();
  private socket: Socket | undefined;
  private stream: LinkStream | undefined;
  /** The handshake under way: what both proofs and the keys are made of. */
  private facts: HandshakeFacts | undefined;
  private announced = new Set<number>();
  private writeScheduled = false;
  private readonly backoff = new Backoff(BACKOFF_MIN, BACKOFF_MAX);
  private downSince = 0;
  private lastRx = 0;
  private lastUse = 0;
  /** offered to since the last tick */
  private used = false;
  private readonly settlement: Settlement;
  private retry: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private holdUntil = 0;
  private pingSent = new Map<number, number>();
  private pingId = 0;
  private closed = false;
  private handshaking = false;
  private lastSrc = -1;
  private lastGame: string | null = null;

  constructor(readonly peer: PeerIdentity, public address: string, private readonly host: PeerLinkHost, private readonly t: LinkTimings) {
    this.queue = new OutboundQueue(t.windowBytes, Math.max(64 * 1024, t.windowBytes / 4));
    this.stats = { peer: peer.agentId, epoch: peer.epoch, address, state: 'idle', msgsOut: 0, bytesOut: 0, resends: 0, bounces: 0, inDoubt: 0, done: 0, queued: 0, queuedBytes: 0, connects: 0, rttUs: 0, caps: [] };
    this.settlement = new Settlement(this.queue, this.stats, peer.node);
  }

  /** The peer refused record `seq` (its BOUNCE reached us), or its outcome is in doubt. */
  refuse(seq: number, reason: BounceReason): boolean {
    if (!this.settlement.refuse(seq, reason)) return false;
    this.released();
    return true;
  }

  /** A record of local instance `srcLocal` for the peer; its envelope (app form) names the destination. */
  offer(type: number, body: Uint8Array, _srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    if (this.state === 'retired') return BounceReason.OFFLINE;
    if (this.closed) return BounceReason.LINK_DOWN;
    if (this.state === 'failed') {
      this.lastUse = now();
      this.kick();
      return BounceReason.LINK_DOWN;
    }
    this.used = true; // (read by the next tick: no clock read per record)
    const dest = envLocal(body);
    if (!this.queue.hasRoom(dest)) return Offer.BLOCKED;
    const grouped = kindOf(type) === RecordKind.DATA && fragOf(type) !== Frag.COMPLETE && envAux(body) <= WHOLE_MESSAGE_MAX;
    const item = this.queue.push(type, body, dest, srcLocal, this.gameOf(srcLocal), origin.ticket(), grouped);
    setEnvAddress(item.buf, srcLocal, dest, item.at + DATA_OVERHEAD);
    setEnvEpoch(item.buf, this.peer.epoch, item.at + DATA_OVERHEAD); // aux stays: a fragment's whole message length
    this.stats.msgsOut++;
    this.stats.bytesOut += body.length;
    this.wake();
    return Offer.DEFERRED;
  }

  /** A record this agent makes for the peer (a refusal of its frame, or a bounce), in link form. Always queued. */
  sendBack(type: number, record: Uint8Array, ticket: Ticket): void {
    if (this.state === 'retired' || this.closed) {
      ticket.refuse(BounceReason.OFFLINE, type, record, this.peer.node, envLocal(record));
      return;
    }
    this.lastUse = now();
    this.queue.push(type, record, envLocal(record), 0, null, ticket);
    this.wake();
  }

  /** Every record to a peer is kept until acknowledged: never taken at once. */
  quickAt(): boolean {
    return false;
  }

  block(waiter: Waiter): void {
    this.waiters.add(waiter);
  }

  private wake(): void {
    if (this.state === 'idle') this.dial();
    else if (this.state === 'up') this.scheduleWrite();
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
      const out = this.queue.takeUnsentFrames((item) => {
        if (item.game === null || this.announced.has(item.src)) return null;
        this.announced.add(item.src);
        return encodeFrame(LinkFrame.SOURCE, 0, encodeValue({ local: item.src, game: item.game } satisfies LinkSource));
      });
      if (out.length > 0) this.stream!.write(out);
    });
  }

  /** The game of local instance `local` (asked per record: the last answer is kept, ids are never reused). */
  private gameOf(local: number): string | null {
    if (local !== this.lastSrc) {
      this.lastSrc = local;
      this.lastGame = this.host.gameOf(local);
    }
    return this.lastGame;
  }

  private dial(): void {
    if (this.closed || this.state === 'retired') return;
    if (this.state !== 'failed') this.state = 'connecting';
    this.handshaking = true;
    this.retry = undefined;
    const [host, port] = splitAddress(this.address);
    const socket = this.host.tls ? connectTls(this.host.tls, host, port) : createConnection({ host, port });
    const stream = new LinkStream(socket);
    this.socket = socket;
    this.stream = stream;
    this.facts = undefined;
    this.announced = new Set();
    socket.setNoDelay(true);
    this.lastRx = now();
    socket.on('data', (chunk) => {
      if (this.socket !== socket) return;
      try {
        this.host.round(() => stream.read(chunk, (f) => {
          if (this.socket === socket) this.onFrame(f.type, f.id, f.body);
        }));
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
      case LinkFrame.CHALLENGE: return this.onChallenge(body);
      case LinkFrame.WELCOME: return this.onWelcome(body);
      case LinkFrame.ACK: {
        if (this.handshaking) throw new ProtocolError('ACK before WELCOME');
        if (id >= this.queue.nextSeq) throw new ProtocolError(`ACK up to frame ${id}, but only ${this.queue.nextSeq - 1} were sent`);
        const lists = decodeAck(body);
        if (!lists) throw new ProtocolError('malformed ACK');
        this.settlement.taken(id, lists.pending.length > 0 ? new Set(lists.pending) : NONE_HELD);
        for (const seq of lists.done) this.settlement.done(seq);
        for (const seq of lists.doubt) this.refuse(seq, BounceReason.IN_DOUBT);
        return this.released();
      }
      case LinkFrame.PING:
        if (this.handshaking) throw new ProtocolError('PING before WELCOME');
        this.stream?.write([encodeBareFrame(LinkFrame.PONG, id)]);
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

  private onChallenge(body: Uint8Array): void {
    if (!this.handshaking || this.facts) throw new ProtocolError('unexpected CHALLENGE');
    const c = linkChallenge(decodeValue(body));
    agreeVersion('link', LINK_PROTOCOL, c);
    if (c.agentId !== this.peer.agentId) throw new ProtocolError(`${this.address} is agent '${c.agentId}', not '${this.peer.agentId}' as the registry says`);
    if (c.epoch !== this.peer.epoch) {
      this.retire(c.epoch);
      return;
    }
    this.facts = {
      dialer: this.host.agentId, acceptor: this.peer.agentId, dialerEpoch: this.host.epoch, acceptorEpoch: this.peer.epoch,
      dialerAddress: this.host.address, acceptorAddress: this.address, acceptorNonce: c.nonce, dialerNonce: randomBytes(32),
    };
    const hello = {
      ...versionFields(LINK_PROTOCOL), agentId: this.host.agentId, epoch: this.host.epoch, address: this.host.address, next: this.queue.firstSeq,
      nonce: this.facts.dialerNonce, proof: linkProof(this.host.secret, 'd', this.facts, helloState(this.queue.firstSeq)),
    } satisfies LinkHello;
    this.stream!.write([encodeFrame(LinkFrame.HELLO, 0, encodeValue(hello))]);
  }

  private onWelcome(body: Uint8Array): void {
    const facts = this.facts;
    if (!this.handshaking || !facts) throw new ProtocolError('unexpected WELCOME');
    const w = linkWelcome(decodeValue(body));
    agreeVersion('link', LINK_PROTOCOL, w);
    if (!checkLinkProof(this.host.secret, 'a', facts, welcomeState(w.top, w.pending), w.proof)) {
      throw new ProtocolError(`peer at ${this.address} failed the mesh-secret proof`);
    }
    if (w.top >= this.queue.nextSeq) throw new ProtocolError(`WELCOME says frame ${w.top} was taken; only ${this.queue.nextSeq - 1} were sent`);
    const keys = this.host.tls ? null : linkKeys(this.host.secret, facts);
    this.stream!.begin(keys && { read: keys.backward, write: keys.forward });
    this.facts = undefined;
    this.state = 'up';
    this.handshaking = false;
    this.backoff.reset();
    this.downSince = 0;
    this.stats.connects++;
    this.stats.caps = w.caps ?? [];
    this.queue.rewind();
    this.settlement.welcome(w.top, new Set(w.pending));
    if (this.stats.connects > 1) this.stats.resends += this.queue.range(w.top, Infinity).length;
    this.released();
    this.scheduleWrite();
  }

  /** Room again: paused senders may go on. */
  private released(): void {
    if (this.waiters.size === 0) return;
    for (const w of this.waiters) w.resume();
    this.waiters.clear();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), Math.min(this.t.heartbeatMs, 250));
    this.timer.unref();
  }

  private tick(): void {
    const t = now();
    if (this.used) {
      this.lastUse = t;
      this.used = false;
    }
    if (this.socket && (this.state === 'up' || this.handshaking) && t - this.lastRx > this.t.deadMs) {
      this.drop(this.socket, new Error(`no answer from ${this.peer.agentId} for ${Math.round(t - this.lastRx)} ms`));
    }
    if (this.state === 'up' && this.socket) {
      if (this.queue.length === 0 && t - this.lastUse > this.t.idleMs) {
        this.host.log.debug(`link to ${this.peer.agentId}: idle, closing`, { peer: this.peer.agentId });
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
      this.stream!.write([encodeBareFrame(LinkFrame.PING, id)]);
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
    if (this.closed || this.state === 'retired') return;
    if (reason) this.host.log.warn(`link to ${this.peer.agentId} (${this.address}): ${reason.message}`, { peer: this.peer.agentId, address: this.address });
    if (!this.downSince) this.downSince = now();
    if (this.state !== 'failed') this.state = 'down';
    this.scheduleRedial();
  }

  private scheduleRedial(): void {
    if (this.closed || this.retry || this.state === 'retired') return;
    const delay = Math.max(this.backoff.next(), this.holdUntil - now());
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed && (this.state === 'down' || this.state === 'failed')) this.dial();
    }, delay);
    this.retry.unref();
    this.startTimer();
  }

  /** Down past the budget: every queued record bounces once; new ones bounce until a dial succeeds. */
  private giveUp(): void {
    this.state = 'failed';
    this.failAll(BounceReason.LINK_DOWN, `down for ${this.t.budgetMs} ms`);
  }

  /** The peer restarted: this incarnation's link is over. */
  private retire(actualEpoch: number): void {
    this.host.log.info(`link to ${this.peer.agentId}: it restarted (incarnation ${actualEpoch}, expected ${this.peer.epoch})`, { peer: this.peer.agentId });
    this.state = 'retired';
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopTimer();
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
    this.failAll(BounceReason.OFFLINE, 'retired');
    this.host.retired(this, actualEpoch);
  }

  private failAll(unsent: BounceReason, why: string): void {
    const n = this.queue.length;
    if (n) this.host.log.warn(`link to ${this.peer.agentId}: ${why}, settling ${n} records`, { peer: this.peer.agentId, records: n });
    this.host.round(() => this.settlement.failAll(unsent));
    this.released();
  }

  /** Test hook: cut the connection and stay away for `ms`. */
  cut(ms: number): void {
    this.holdUntil = now() + ms;
    this.drop(this.socket, new Error(`cut for ${ms} ms (test hook)`));
  }

  /** The agent is closing: what is still queued settles as if the link gave up. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopTimer();
    this.socket?.destroy();
    this.socket = undefined;
    if (this.state !== 'retired') this.state = 'failed';
    this.failAll(BounceReason.LINK_DOWN, 'agent closing');
  }

  /** Everything written has been settled (for a graceful close). */
  get drained(): boolean {
    return this.queue.length === 0;
  }

  snapshot(): LinkStats {
    return { ...this.stats, address: this.address, state: this.state, queued: this.queue.length, queuedBytes: this.queue.bytes };
  }
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`link address '${address}' is not host:port`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}
