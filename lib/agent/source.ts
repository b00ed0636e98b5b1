/**
 * Source: one local instance's tx ring (app -> agent) as the agent reads it.
 * Data path entry: the DataPath pumps each Source; for every record it asks
 * the Router for a sink and offers the record there (record-sink.ts).
 *
 * Retention: the ring is released only up to the first record whose outcome
 * is not settled yet (waiting at a full destination, or unacknowledged on a
 * peer link). So if this agent dies, the app finds every message it cannot be
 * sure about still in its ring, between the released head and the published
 * cursor (in doubt), and every message the agent never read after the cursor
 * (not delivered).
 *
 * It also keeps the app honest about fragments: a continuation without its
 * start, or aimed elsewhere, is dropped; an unfinished message is ended with
 * an ABORT record when a new one starts or the instance goes away; and once a
 * fragment of a message is refused, the rest of it is refused the same way,
 * so the sender's report covers the whole message.
 */
import { Frag, fragOf, isRecordType, kindOf, recordType, type Ring } from '../native/index.js';
import {
  bounceBody, BounceReason, ENVELOPE_BYTES, envEpoch, envLocal, envNode, Flag, RecordKind, writeEnvelope,
} from '../protocol/envelope.js';
import { NO_ORIGIN, Offer, originOf, type Origin, type RecordSink, type Ticket, type Waiter } from './record-sink.js';

export interface SourceHost {
  readonly epoch: number;
  /** The sink for a record of `src` (its envelope, at `at` in `data`, `len` bytes with its payload, says where it goes), or why there is none. */
  route(src: Source, data: Uint8Array, at: number, len: number): RecordSink | BounceReason;
  /** Release `src` when the current round ends. */
  dirty(src: Source): void;
  /** Call `ticket.done()` once the current round's flush is complete. */
  afterFlush(ticket: Ticket): void;
  /** Pump soon (a paused source may go on). */
  schedule(): void;
  /** A record an app should never write (logged, rate-limited, counted). */
  malformed(src: Source, why: string): void;
}

const WHOLE_DATA = recordType(RecordKind.DATA, Frag.COMPLETE);
/** Slots of `bouncedBy`: one per BounceReason code (0 unused). */
const BOUNCE_REASONS = Math.max(...Object.values(BounceReason)) + 1;

/** What an instance sent: messages and bytes the agent read from its tx ring. */
export interface SourceStats {
  read: number;
  bounced: number;
  dropped: number;
}

class SourceTicket implements Ticket {
  settled = false;
  constructor(private readonly src: Source, readonly pos: number) {}

  done(): void {
    if (this.settled) return;
    this.settled = true;
    this.src.settled();
  }

  refuse(reason: BounceReason, type: number, body: Uint8Array, destNode: number, destLocal: number): void {
    if (this.settled) return;
    this.src.bounce(this, reason, type, body, destNode, destLocal);
  }
}

/** Bytes read from one tx ring per run of the data loop (in rounds of DataPath's CHUNK), so one busy sender cannot starve the others. */
export const ROUND_BUDGET = 256 * 1024;

interface OpenMessage {
  sink: RecordSink;
  node: number;
  local: number;
  epoch: number;
  /** a fragment was refused with this reason: refuse the rest alike */
  refused: BounceReason | 0;
}

export class Source implements Origin, Waiter {
  readonly pausable = true;
  readonly stats: SourceStats = { read: 0, bounced: 0, dropped: 0 };
  /** `stats.bounced` by reason: [BounceReason] -> count (a bounce is rare: counted where it is written, never per message sent). */
  readonly bouncedBy: number[] = new Array<number>(BOUNCE_REASONS).fill(0);
  private paused = false;
  private closed = false;
  private pending: SourceTicket[] = [];
  private pendingHead = 0;
  private released = 0;
  private currentPos = 0;
  private open: OpenMessage | null = null;
  private readonly visit = (type: number, data: Uint8Array, start: number, len: number, pos: number): boolean => {
    // the common case first: a whole message, nothing unfinished, and a sink that takes it at once
    let routed: RecordSink | BounceReason | undefined;
    if (type === WHOLE_DATA && this.open === null && len >= ENVELOPE_BYTES) {
      routed = this.host.route(this, data, start, len);
      if (typeof routed !== 'number' && routed.quickAt(type, data, start, len, 0, this.localId)) return true;
    }
    this.currentPos = pos;
    return this.forward(type, data.subarray(start, start + len), routed);
  };

  constructor(
    readonly localId: number,
    readonly gameId: string,
    readonly tx: Ring,
    /** this instance's own sink: its bounces go there */
    private readonly own: RecordSink,
    private readonly host: SourceHost,
  ) {
    this.released = tx.cursor;
  }

  /** Read and route up to `budget` bytes. Returns the records taken from the ring. */
  pump(budget = ROUND_BUDGET): number {
    if (this.paused || this.closed) return 0;
    const n = this.tx.walkRaw(this.visit, budget);
    this.stats.read += n;
    if (n > 0) this.host.dirty(this);
    return n;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Messages read but not settled yet (they keep the ring from being released). */
  get unsettled(): number {
    return this.pending.length - this.pendingHead;
  }

  /** Route and offer one record (`routed`: its sink or bounce reason, if the caller looked it up already). */
  private forward(type: number, body: Uint8Array, routed?: RecordSink | BounceReason): boolean {
    if (body.length < ENVELOPE_BYTES || kindOf(type) !== RecordKind.DATA || !isRecordType(type)) {
      this.drop(`a record of type ${type} and ${body.length} bytes`);
      return true;
    }
    const frag = fragOf(type);
    const open = this.open;
    if (frag === Frag.COMPLETE || frag === Frag.BEGIN) {
      if (open) this.abortOpen();
    } else if (!open || envNode(body) !== open.node || envLocal(body) !== open.local) {
      this.drop('a fragment that continues no message of its own');
      return true;
    }
    if (open && open.refused && frag !== Frag.COMPLETE && frag !== Frag.BEGIN) {
      this.refuseNow(open.refused, type, body);
      if (frag === Frag.END) this.open = null;
      return true;
    }
    const sink = routed ?? (frag === Frag.COMPLETE || frag === Frag.BEGIN ? this.host.route(this, body, 0, body.length) : open!.sink);
    let result: number;
    if (typeof sink === 'number') {
      result = sink;
    } else {
      result = sink.offer(type, body, 0, this.localId, this);
      if (result === Offer.BLOCKED) {
        this.paused = true;
        sink.block(this);
        return false; // stop before this record; offered again on resume
      }
    }
    if (frag === Frag.BEGIN) this.open = { sink: sink as RecordSink, node: envNode(body), local: envLocal(body), epoch: envEpoch(body), refused: 0 };
    if (result > 0) {
      this.refuseNow(result as BounceReason, type, body);
      if (this.open && frag !== Frag.COMPLETE) this.open.refused = result as BounceReason;
    }
    if (frag === Frag.END) this.open = null;
    return true;
  }

  private drop(what: string): void {
    this.stats.dropped++;
    this.host.malformed(this, what);
  }

  /** A record refused before any sink kept it: its bounce goes to our own ring now. */
  private refuseNow(reason: BounceReason, type: number, body: Uint8Array): void {
    this.writeBounce(reason, type, body, envNode(body), envLocal(body), this);
  }

  /** A deferred record of ours was refused: write its bounce; the ticket settles once that is written. */
  bounce(ticket: SourceTicket, reason: BounceReason, type: number, body: Uint8Array, destNode: number, destLocal: number): void {
    const r = this.writeBounce(reason, type, body, destNode, destLocal, originOf(ticket));
    if (r === Offer.TAKEN) this.host.afterFlush(ticket);
  }

  private writeBounce(reason: BounceReason, type: number, body: Uint8Array, node: number, local: number, origin: Origin): number {
    this.stats.bounced++;
    this.bouncedBy[reason]! += 1;
    const btype = recordType(RecordKind.BOUNCE, fragOf(type));
    return this.own.offer(btype, bounceBody(body, reason, node, local, this.host.epoch), node, local, origin);
  }

  ticket(): Ticket {
    const t = new SourceTicket(this, this.currentPos);
    this.pending.push(t);
    return t;
  }

  /** A ticket settled: release when the round ends. */
  settled(): void {
    if (!this.closed) this.host.dirty(this);
  }

  /** Give the app back every record up to the first unsettled one. */
  release(): void {
    if (this.closed) return;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.settled) this.pendingHead++;
    if (this.pendingHead === this.pending.length && this.pendingHead > 0) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    const upTo = this.pendingHead < this.pending.length ? this.pending[this.pendingHead]!.pos : this.tx.cursor;
    if (upTo > this.released) {
      this.tx.releaseTo(upTo);
      this.released = upTo;
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.host.schedule();
  }

  /** The unfinished message of this source ends here: tell its destination to drop what it has. */
  private abortOpen(): void {
    const open = this.open;
    this.open = null;
    if (!open || open.refused) return;
    const body = new Uint8Array(ENVELOPE_BYTES);
    writeEnvelope(body, open.node, open.local, Flag.ABORT, 0, open.epoch);
    open.sink.offer(recordType(RecordKind.DATA, Frag.END), body, 0, this.localId, NO_ORIGIN);
  }

  /** The instance is gone: end an unfinished message and unmap. Tickets still out settle into nothing. */
  close(): void {
    if (this.closed) return;
    this.abortOpen();
    this.closed = true;
    this.tx.close();
  }
}
