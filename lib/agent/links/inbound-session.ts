/**
 * InboundSession: what this agent knows of one incarnation of a peer that
 * sends to it: the highest sequence number taken, the frames whose outcome it
 * still holds back (waiting at a full destination, or refused and the refusal
 * not yet acknowledged), the games of the peer's sources on the current
 * connection, and the peer's unfinished fragmented messages. It outlives
 * connections, so a reconnect resumes exactly: nothing taken twice, nothing
 * skipped.
 *
 * Each DATA frame is offered to its destination's LocalSink (the same record
 * path as local traffic, record-sink.ts). A refusal goes back to the peer as a
 * BOUNCE record on this agent's own link to it (reliable, acknowledged), and
 * the frame counts as done only once the peer has that refusal: so an
 * acknowledged frame is delivered or its bounce is already with the sender.
 */
import { Frag, fragOf, isRecordType, kindOf, recordType } from '../../native/index.js';
import {
  BounceReason, bounceFlags, ENVELOPE_BYTES, envAux, envEpoch, envFlags, envLocal, envNode, Flag, RecordKind, writeEnvelope,
} from '../../protocol/envelope.js';
import { ProtocolError } from '../../protocol/errors.js';
import { encodeAck } from '../../protocol/link-frames.js';
import type { Logger } from '../../protocol/logger.js';
import { NO_ORIGIN, Offer, type Origin, type RecordSink, type Ticket } from '../record-sink.js';

export interface InboundHost {
  readonly epoch: number;
  /** The local sink for a record from a source of `game` to (`epoch`, `localId`), or why not. */
  destination(epoch: number, localId: number, game: string): RecordSink | BounceReason;
  /** A local instance's own sink (bounces of its messages come back there), or undefined when it is gone. */
  ownSink(localId: number): RecordSink | undefined;
  /** The peer refused (or holds in doubt) our frame `seq`; true when we still had it. */
  refusedByPeer(peerNode: number, seq: number, reason: BounceReason): boolean;
  /** An authenticated peer says its instance `local` is of `game`: a route back for replies. */
  learnSource(peerNode: number, local: number, game: string): void;
  /** Queue a record for the peer on our own link to it (a refusal or a bounce). */
  sendBack(peerNode: number, type: number, record: Uint8Array, ticket: Ticket): void;
  /** Something changed for the next ACK outside a frame's processing: send it soon. */
  ackSoon(session: InboundSession): void;
  readonly log: Logger;
}

export interface InboundStats {
  peer: string;
  epoch: number;
  connected: boolean;
  msgsIn: number;
  bytesIn: number;
  duplicates: number;
  refused: number;
  /** frames whose outcome was held back, and of those, settled since */
  held: number;
  settled: number;
}

export class InboundSession {
  top = 0;
  private readonly pending = new Set<number>();
  private newPending: number[] = [];
  private nowDone: number[] = [];
  private doubt: number[] = [];
  private ackedTop = 0;
  /** Games of the peer's sources, announced on the current connection. */
  private games = new Map<number, string>();
  /** The peer's unfinished fragmented messages: source local -> its destination and game. */
  private readonly open = new Map<number, { dest: number; game: string }>();
  /** Sources whose message we ended with an ABORT: the rest of it is refused. */
  private readonly aborted = new Set<number>();
  private currentSeq = 0;
  private readonly origin: Origin = { ticket: () => this.ticketFor(this.currentSeq) };
  readonly stats: InboundStats;

  /** @param epoch the peer's incarnation; @param node this agent's number for it */
  constructor(readonly peer: string, readonly epoch: number, readonly node: number, private readonly host: InboundHost) {
    this.stats = { peer, epoch, connected: false, msgsIn: 0, bytesIn: 0, duplicates: 0, refused: 0, held: 0, settled: 0 };
  }

  /** A new connection of this peer: sources are announced afresh; `next` is the first seq it will send. */
  connected(next: number): { top: number; pending: number[] } {
    this.games = new Map();
    if (next - 1 > this.top) this.top = next - 1; // what it gave up on is not coming
    this.ackedTop = this.top;
    this.newPending = [];
    this.nowDone = [];
    return { top: this.top, pending: [...this.pending] };
  }

  announce(local: number, game: string): void {
    this.games.set(local, game);
    this.host.learnSource(this.node, local, game);
  }

  get idle(): boolean {
    return this.pending.size === 0 && this.open.size === 0;
  }

  /** Frames whose outcome we still hold back. */
  get held(): number {
    return this.pending.size;
  }

  /** Messages of the peer still unfinished here. */
  get unfinished(): number {
    return this.open.size;
  }

  /** performance.now() when its last connection closed (0 while connected). */
  disconnectedAt = 0;

  /** One DATA frame. Runs inside a round. */
  receive(seq: number, type: number, record: Uint8Array): void {
    if (seq <= this.top) {
      this.stats.duplicates++;
      return;
    }
    if (seq !== this.top + 1) throw new ProtocolError(`frame ${seq} after ${this.top}: sequence gap`);
    // A record no agent writes closes the connection before `top` moves: it is never acknowledged as taken.
    if (record.length < ENVELOPE_BYTES) throw new ProtocolError('record shorter than its envelope');
    if (!isRecordType(type)) throw new ProtocolError(`record type 0x${(type >>> 0).toString(16)} on a link`);
    const kind = kindOf(type);
    if (kind !== RecordKind.BOUNCE && kind !== RecordKind.DATA) throw new ProtocolError(`record kind ${kind} on a link`);
    const src = envNode(record);
    const announced = this.games.get(src);
    if (kind === RecordKind.DATA && announced === undefined) throw new ProtocolError(`a record from source ${src} that was not announced`);
    const game = announced ?? '';
    this.top = seq;
    this.stats.msgsIn++;
    this.stats.bytesIn += record.length;
    this.currentSeq = seq;
    if (kind === RecordKind.BOUNCE) return this.receiveBounce(seq, type, record);
    const frag = fragOf(type);
    if (frag === Frag.BEGIN || frag === Frag.COMPLETE) {
      if (this.aborted.size > 0) this.aborted.delete(src);
    } else if (this.aborted.has(src)) {
      if (frag === Frag.END) this.aborted.delete(src);
      return this.refuse(seq, type, record, BounceReason.LINK_DOWN);
    }
    const sink = this.host.destination(envEpoch(record), envLocal(record), game);
    if (frag === Frag.BEGIN || frag === Frag.MIDDLE) this.open.set(src, { dest: envLocal(record), game });
    else if (this.open.size > 0) this.open.delete(src);
    let r = typeof sink === 'number' ? sink : sink.offer(type, record, this.node, src, this.origin);
    if (r === Offer.BLOCKED) r = BounceReason.QUEUE_FULL; // the peer's per-destination window keeps this rare
    if (r > 0) this.refuse(seq, type, record, r as BounceReason);
  }

  /** A BOUNCE from the peer: a refusal of our frame (aux = its seq) or a bounce of a message it had taken. */
  private receiveBounce(seq: number, type: number, record: Uint8Array): void {
    const ref = envAux(record);
    const reason = (envFlags(record) >>> 16) & 0xff;
    if (envEpoch(record) !== this.host.epoch) return; // for an earlier incarnation of this agent
    if (ref !== 0) {
      this.host.refusedByPeer(this.node, ref, (reason || BounceReason.OFFLINE) as BounceReason);
      return;
    }
    const own = this.host.ownSink(envLocal(record));
    if (!own) return; // its sender is gone: nobody to tell
    const r = own.offer(type, record, this.node, envNode(record), this.origin);
    if (r > 0) this.host.log.warn(`bounce from ${this.peer} for instance ${envLocal(record)} refused (${r}), frame ${seq}`, { peer: this.peer });
  }

  /** Tell the peer, on our own link to it, that frame `seq` was not delivered. */
  private refuse(seq: number, type: number, record: Uint8Array, reason: BounceReason): void {
    this.stats.refused++;
    const refusal = new Uint8Array(ENVELOPE_BYTES);
    writeEnvelope(refusal, envLocal(record), envNode(record), bounceFlags(envFlags(record), reason), 0, this.epoch, seq);
    this.hold(seq);
    this.host.sendBack(this.node, recordType(RecordKind.BOUNCE, fragOf(type)), refusal, {
      done: () => this.finish(seq),
      refuse: () => this.inDoubt(seq),
    });
  }

  private ticketFor(seq: number): Ticket {
    this.hold(seq);
    return {
      done: () => this.finish(seq),
      refuse: (reason, type, body) => this.refuse(seq, type, body, reason),
    };
  }

  private hold(seq: number): void {
    if (this.pending.has(seq)) return;
    this.stats.held++;
    this.pending.add(seq);
    this.newPending.push(seq);
  }

  private finish(seq: number): void {
    if (!this.pending.delete(seq)) return;
    this.stats.settled++;
    this.nowDone.push(seq);
    this.host.ackSoon(this);
  }

  private inDoubt(seq: number): void {
    if (!this.pending.delete(seq)) return;
    this.doubt.push(seq);
    this.host.ackSoon(this);
  }

  /** The ACK to send now, if anything changed since the last one. */
  takeAck(): Buffer | null {
    if (this.top === this.ackedTop && !this.newPending.length && !this.nowDone.length && !this.doubt.length) return null;
    const frame = encodeAck(this.top, { pending: this.newPending, done: this.nowDone, doubt: this.doubt });
    this.ackedTop = this.top;
    this.newPending = [];
    this.nowDone = [];
    this.doubt = [];
    return frame;
  }

  /**
   * The peer is gone or away too long: end its unfinished messages at their
   * destinations (ABORT), and refuse the rest of them should they still come.
   */
  abortOpen(): void {
    for (const [src, { dest, game }] of this.open) {
      const body = new Uint8Array(ENVELOPE_BYTES);
      writeEnvelope(body, src, dest, Flag.ABORT, 0, this.host.epoch);
      const sink = this.host.destination(this.host.epoch, dest, game);
      if (typeof sink !== 'number') sink.offer(recordType(RecordKind.DATA, Frag.END), body, this.node, src, NO_ORIGIN);
      this.aborted.add(src);
    }
    this.open.clear();
  }
}
