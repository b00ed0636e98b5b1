/**
 * LocalSink: the way into one local instance's rx ring (agent -> app), for
 * records from any origin (its neighbours' tx rings, peer links, bounces).
 *
 * - Staging: within a round, records that fit go into a staging batch (from a
 *   shared pool, so an idle instance holds none) and reach the ring in one
 *   write when the round ends. The sink checks the ring's free space before
 *   staging, so the write always succeeds and the origin can count the record
 *   as delivered.
 * - Waiting: a record that does not fit waits in the WaitList, in order, and
 *   the sink asks the app to ring the agent when it frees space. Other
 *   destinations are not held up: the origin goes on with its next record.
 *   A message of at most a quarter ring (WHOLE_MESSAGE_MAX) is gathered and
 *   written whole, so the reader never waits in a full ring for its rest.
 * - Stall bound: when nothing leaves the wait list for `fullMs`, every message
 *   waiting is refused at once (QUEUE_FULL) and, until the app reads again,
 *   new ones are refused immediately. A streamed message already started into
 *   the ring is not cut. Bounces for the instance's own sends always wait.
 * - Leaving: new messages are refused OFFLINE; what the app left unread in its
 *   ring is bounced to the senders by `close()`, then what still waited.
 */
import { fragOf, kindOf, Frag, RingError, type RecordBatch, type Ring } from '../native/index.js';
import { BounceReason, envAux, envFlags, Flag, RecordKind, setEnvAddress, setEnvEpoch, WHOLE_MESSAGE_MAX } from '../protocol/envelope.js';
import { Offer, type Origin, type OfferResult, type RecordSink, type Ticket, type Waiter } from './record-sink.js';
import { isAbort, recordSize, WaitList, type WaitingRecord } from './wait-list.js';

/** What a sink needs from the data path around it. */
export interface SinkHost {
  readonly epoch: number;
  /** This sink has staged or waiting records: flush it when the current round ends. */
  touch(sink: LocalSink): void;
  /** Call `ticket.done()` once the current round's flush is complete. */
  afterFlush(ticket: Ticket): void;
  /** A staging batch of at least `bytes` (pooled). */
  borrowBatch(bytes: number): RecordBatch;
  returnBatch(batch: RecordBatch): void;
  /** The sink waits for the app (space bell) or a timer: keep it in view. */
  waiting(sink: LocalSink, yes: boolean): void;
  /** Run `fn` inside a round (timers). */
  round(fn: () => void): void;
  /** Its rx ring failed (corrupt): the instance behind this sink must be dropped, not whoever offered. */
  broken(sink: LocalSink, err: RingError): void;
}

export interface SinkLimits {
  /** How long the wait list may make no progress before its messages are refused. */
  fullMs: number;
  /** Bytes of messages that may wait in the agent for one instance; past it origins are paused. */
  maxWaitBytes: number;
  /** Bytes of unfinished fragmented messages one instance may be receiving at once. */
  maxPartialBytes: number;
}

export type SinkState = 'open' | 'leaving' | 'closed';

export interface SinkStats {
  delivered: number;
  refused: number;
  orphaned: number;
  stalls: number;
}

interface Partial {
  bytes: number;
  /** refused (why): the rest of the message is refused alike */
  refused: BounceReason | 0;
  /** its first fragment is in the ring (a streamed message) */
  started: boolean;
}

export class LocalSink implements RecordSink {
  state: SinkState = 'open';
  readonly stats: SinkStats = { delivered: 0, refused: 0, orphaned: 0, stalls: 0 };
  private batch: RecordBatch | null = null;
  private room = -1;
  private readonly waitList = new WaitList();
  private stallTimer: NodeJS.Timeout | undefined;
  private stalled = false;
  private freeAtStall = 0;
  private readonly blocked = new Set<Waiter>();
  private readonly partial = new Map<string, Partial>();
  private partialBytes = 0;
  private readonly margin: number;
  private readonly wholeMax: number;
  /** its rx ring failed: nothing more goes there */
  private failed = false;

  constructor(
    readonly localId: number,
    readonly rx: Ring,
    private readonly host: SinkHost,
    private readonly limits: SinkLimits,
  ) {
    this.margin = recordSize(rx.maxRecord); // room a wrap's padding may take
    this.wholeMax = Math.min(WHOLE_MESSAGE_MAX, rx.capacity / 4); // the reader's rule too (client/inbox.ts)
  }

  /** Bytes queued in the agent for this instance (waiting or staged). */
  get queued(): number {
    return this.waitList.bytes + (this.batch?.length ?? 0);
  }

  offer(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    const refused = kindOf(type) === RecordKind.DATA ? BounceReason.OFFLINE : Offer.TAKEN;
    if (this.failed) return refused;
    // its own ring failing while a sender's record is offered: the sender is not at fault
    return this.guarded(() => this.take(type, body, srcNode, srcLocal, origin), refused);
  }

  /** Run `fn`, which touches the rx ring; a ring that fails drops this instance (host.broken) and yields `otherwise`. */
  private guarded<T>(fn: () => T, otherwise: T): T {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof RingError)) throw err;
      this.failed = true;
      this.host.broken(this, err);
      return otherwise;
    }
  }

  private take(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    const key = `${srcNode}:${srcLocal}`;
    if (kindOf(type) !== RecordKind.DATA) {
      if (this.state === 'closed' || body.length > this.rx.maxRecord) {
        this.stats.orphaned++; // a report for an instance that is gone, or one its ring cannot hold: dropped, counted
        return Offer.TAKEN;
      }
      return this.place(type, body, srcNode, srcLocal, origin, key, false);
    }
    if (this.state === 'closed') return BounceReason.OFFLINE;
    const frag = fragOf(type);
    if (body.length > this.rx.maxRecord) return this.tooBig(key, frag); // from an agent with larger rings
    const starts = frag === Frag.COMPLETE || frag === Frag.BEGIN;
    const refuseNew = !starts || envFlags(body) & Flag.ABORT ? 0
      : this.state === 'leaving' ? BounceReason.OFFLINE
        : this.stalled ? BounceReason.QUEUE_FULL : 0;
    if (frag === Frag.COMPLETE) {
      if (refuseNew) return refuseNew;
      return this.place(type, body, srcNode, srcLocal, origin, key, true);
    }
    const total = envAux(body);
    const verdict = this.trackFragment(key, frag, total || body.length, body.length, refuseNew);
    if (verdict > 0) return verdict;
    const r = total > 0 && total <= this.wholeMax
      ? this.gather(type, body, srcNode, srcLocal, origin, key, frag)
      : this.place(type, body, srcNode, srcLocal, origin, key, verdict !== -1 && frag === Frag.BEGIN);
    // Not taken at its start: the rest of it is refused alike (from a link, whose BLOCKED is a refusal),
    // unless its start is offered again (a local source that paused: BEGIN starts the message afresh).
    if (r === Offer.BLOCKED) this.partial.get(key)!.refused = BounceReason.QUEUE_FULL;
    return r;
  }

  /** A record the ring cannot take: refused, and the rest of its message alike. */
  private tooBig(key: string, frag: Frag): BounceReason {
    if (frag === Frag.BEGIN) {
      this.dropPartial(key);
      this.partial.set(key, { bytes: 0, refused: BounceReason.TOO_BIG, started: false });
    } else if (frag !== Frag.COMPLETE) {
      const p = this.partial.get(key);
      if (p) p.refused = BounceReason.TOO_BIG;
      if (frag === Frag.END) this.dropPartial(key);
    }
    return BounceReason.TOO_BIG;
  }

  /** Stage a record if the ring has room and nothing waits before it; else queue it. */
  private place(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin, key: string, mayBlock: boolean): OfferResult {
    const size = recordSize(body.length);
    if (this.waitList.empty) {
      if (this.room < 0) this.room = Math.max(0, this.rx.free() - this.margin);
      if (size <= this.room) {
        this.stage(type, body, srcNode, srcLocal, size);
        if (kindOf(type) === RecordKind.DATA && fragOf(type) === Frag.BEGIN) this.partial.get(key)!.started = true;
        return Offer.TAKEN;
      }
    }
    if (mayBlock && this.waitList.bytes >= this.limits.maxWaitBytes) return Offer.BLOCKED;
    this.waitList.push(key, this.copy(type, body, srcNode, srcLocal, origin.ticket()));
    this.waiting();
    return Offer.DEFERRED;
  }

  /** A fragment of a whole-size message: gathered; the message is placed once complete. */
  private gather(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin, key: string, frag: Frag): OfferResult {
    if (frag === Frag.BEGIN && this.waitList.bytes >= this.limits.maxWaitBytes) return Offer.BLOCKED;
    const records = this.waitList.gather(key, this.copy(type, body, srcNode, srcLocal, origin.ticket()), (left) => {
      for (const r of left) r.ticket.refuse(BounceReason.OFFLINE, r.type, r.body, 0, this.localId); // never to be whole
    });
    if (!records) return Offer.DEFERRED;
    const size = records.reduce((n, r) => n + recordSize(r.body.length), 0);
    if (this.waitList.empty) {
      if (this.room < 0) this.room = Math.max(0, this.rx.free() - this.margin);
      if (size <= this.room) {
        for (const r of records) {
          this.stageCopy(r.type, r.body);
          this.host.afterFlush(r.ticket);
        }
        this.room -= size;
        return Offer.DEFERRED;
      }
    }
    this.waitList.pushWhole(key, records);
    this.waiting();
    return Offer.DEFERRED;
  }

  /**
   * Fragment bookkeeping: > 0 refuse (the whole message is refused alike),
   * -1 a continuation of a streamed message that has started into the ring,
   * 0 go on. A new message is refused with `refuseNew`, or when it would take
   * the instance past its cap of unfinished messages.
   */
  private trackFragment(key: string, frag: Frag, total: number, bytes: number, refuseNew: BounceReason | 0): number {
    let p = this.partial.get(key);
    if (frag === Frag.BEGIN) {
      if (p) this.dropPartial(key); // a new message: its source ended the old one
      const over = this.partialBytes + total > this.limits.maxPartialBytes ? BounceReason.QUEUE_FULL : 0;
      p = { bytes: 0, refused: refuseNew || over, started: false };
      this.partial.set(key, p);
    }
    if (!p) return 0; // a continuation whose start this sink never saw: the reader drops it
    const refused = p.refused;
    if (frag === Frag.END) this.dropPartial(key);
    else {
      p.bytes += bytes;
      this.partialBytes += bytes;
    }
    if (refused) return refused;
    return p.started ? -1 : 0;
  }

  private dropPartial(key: string): void {
    const p = this.partial.get(key);
    if (!p) return;
    this.partialBytes -= p.bytes;
    this.partial.delete(key);
  }

  private copy(type: number, body: Uint8Array, srcNode: number, srcLocal: number, ticket: Ticket): WaitingRecord {
    const copy = body.slice();
    setEnvAddress(copy, srcNode, srcLocal);
    setEnvEpoch(copy, this.host.epoch);
    return { type, body: copy, ticket };
  }

  private stage(type: number, body: Uint8Array, srcNode: number, srcLocal: number, size: number): void {
    const out = this.stageCopy(type, body);
    setEnvAddress(out, srcNode, srcLocal);
    setEnvEpoch(out, this.host.epoch);
    this.room -= size;
  }

  /** Put a record into this round's staging batch; returns its body there. */
  private stageCopy(type: number, body: Uint8Array): Uint8Array {
    const size = recordSize(body.length);
    let batch = this.batch;
    if (!batch) {
      batch = this.batch = this.host.borrowBatch(Math.max(size, Math.min(this.room, 256 * 1024)));
      this.host.touch(this);
    }
    let at = batch.reserve(type, body.length);
    if (at < 0) {
      this.writeStaged(); // the batch is full, the ring has room (counted): write it now
      at = batch.reserve(type, body.length);
    }
    const out = batch.buffer.subarray(at, at + body.length);
    out.set(body);
    return out;
  }

  private waiting(): void {
    if (!this.stallTimer) this.armStall();
    this.host.touch(this);
    this.host.waiting(this, true);
  }

  block(waiter: Waiter): void {
    this.blocked.add(waiter);
  }

  /** End of a round: write what was staged, then move what waits, as far as the ring allows. */
  flush(): void {
    if (this.state === 'closed') return;
    this.writeStaged();
    if (this.batch) {
      this.host.returnBatch(this.batch);
      this.batch = null;
    }
    this.room = -1;
    this.moveWaiting();
  }

  private writeStaged(): void {
    const batch = this.batch;
    if (!batch || batch.length === 0) return;
    const records = batch.count;
    const written = this.rx.writeBatch(batch);
    if (written !== records) throw new Error(`rx ring of instance ${this.localId} took ${written} of ${records} staged records`);
    this.stats.delivered += records;
  }

  /** Write waiting units, whole, as far as the ring has room; else ask to be woken when it has. */
  private moveWaiting(): void {
    if (this.waitList.empty) {
      if (this.stalled && this.rx.free() > this.freeAtStall) this.unstall();
      else if (this.stalled) this.rx.wantSpace(this.freeAtStall + 8);
      return;
    }
    for (;;) {
      let free = this.rx.free() - this.margin;
      const batch = this.host.borrowBatch(Math.max(256 * 1024, this.waitList.nextSize));
      const done: Ticket[] = [];
      while (!this.waitList.empty && this.waitList.nextSize <= free && batch.length + this.waitList.nextSize <= batch.buffer.length) {
        free -= this.waitList.nextSize;
        for (const r of this.waitList.shift()) {
          batch.add(r.type, r.body);
          done.push(r.ticket);
          if (kindOf(r.type) === RecordKind.DATA && fragOf(r.type) === Frag.BEGIN) {
            const p = this.partial.get(this.keyOf(r.body));
            if (p) p.started = true;
          }
        }
      }
      if (done.length > 0) {
        this.rx.writeBatch(batch);
        this.stats.delivered += done.length;
        for (const t of done) t.done();
        this.progress();
      }
      this.host.returnBatch(batch);
      if (this.waitList.empty) {
        this.settle();
        return;
      }
      if (done.length > 0) continue;
      if (this.rx.wantSpace(this.waitList.nextSize + this.margin)) return; // the app rings us when it has read
    }
  }

  private keyOf(stamped: Uint8Array): string {
    const v = new DataView(stamped.buffer, stamped.byteOffset);
    return `${v.getUint32(0, true)}:${v.getUint32(4, true)}`;
  }

  private progress(): void {
    if (this.stalled) this.unstall();
    this.armStall();
  }

  /** Nothing waits any more: stop the clock, let paused origins go. */
  private settle(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (!this.stalled) this.host.waiting(this, false);
    for (const w of this.blocked) w.resume();
    this.blocked.clear();
  }

  private armStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.host.round(() => this.guarded(() => this.stall(), undefined)), this.limits.fullMs);
    this.stallTimer.unref?.();
  }

  private unstall(): void {
    this.stalled = false;
    if (this.waitList.empty) this.host.waiting(this, false);
  }

  /** No progress for fullMs: refuse every message waiting that has not started into the ring. */
  private stall(): void {
    this.stallTimer = undefined;
    if (this.state !== 'open') return;
    this.stalled = true;
    this.stats.stalls++;
    this.freeAtStall = this.rx.free();
    this.refuseWaiting(BounceReason.QUEUE_FULL, false);
    this.rx.wantSpace(this.freeAtStall + 8);
    this.host.waiting(this, true);
    if (!this.waitList.empty) this.armStall();
  }

  /** Refuse what waits (see WaitList.takeRefused), in order; the rest of those messages is refused as it comes. */
  private refuseWaiting(reason: BounceReason, cutStarted: boolean): void {
    const { records, unfinished } = this.waitList.takeRefused(cutStarted);
    for (const r of records) {
      // (a refused message's partial entry went with its END on arrival; the source's current one stays)
      if (isAbort(r)) {
        r.ticket.done(); // the end of a message that goes back anyway: nothing to report
        continue;
      }
      this.stats.refused++;
      r.ticket.refuse(reason, r.type, r.body, 0, this.localId);
    }
    for (const key of unfinished) {
      const p = this.partial.get(key);
      if (p) p.refused = reason;
    }
    if (this.waitList.empty) this.settle();
  }

  /** The instance is going away: new messages go back OFFLINE; streamed messages already started, and its own reports, still wait. */
  leave(): void {
    if (this.state !== 'open') return;
    this.state = 'leaving';
    this.stalled = false;
    this.refuseWaiting(BounceReason.OFFLINE, false);
  }

  /**
   * The app is gone (closed, crashed, dropped): write nothing more. Every
   * message left in the ring that the app did not take is taken here and
   * handed to `bounce` (exactly once: the app and the agent race for each
   * record with a compare-and-swap), then the rest of those messages still
   * waiting goes back in order, so each sender hears of each message whole.
   * Reports still waiting are orphaned. `taken` sees what the app did take
   * but had not released (test ledger).
   */
  close(bounce: (type: number, body: Uint8Array) => void, taken?: (type: number, body: Uint8Array) => void): void {
    if (this.state === 'closed') return;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.batch) {
      this.writeStaged();
      this.host.returnBatch(this.batch);
      this.batch = null;
    }
    this.state = 'closed';
    this.rx.unread((type, body, pos) => {
      if (!this.rx.take(pos)) {
        taken?.(type, body);
        return;
      }
      bounce(type, body);
    });
    this.refuseWaiting(BounceReason.OFFLINE, true);
    for (const r of this.waitList.takeAll()) {
      this.stats.orphaned++;
      r.ticket.done();
    }
    this.partial.clear();
    this.partialBytes = 0;
    this.host.waiting(this, false);
    for (const w of this.blocked) w.resume();
    this.blocked.clear();
  }
}
