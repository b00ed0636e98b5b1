/**
 * LocalSink: the way into one local instance's rx ring (agent -> app), for
 * records from any origin (its neighbours' tx rings, peer links, bounces).
 *
 * - Staging (staging.ts): within a round, records that fit go into a staging
 *   batch (from a shared pool, so an idle instance holds none) and reach the
 *   ring in one write when the round ends. The ring's free space is counted
 *   before staging, so the write always succeeds and the origin can count the
 *   record as delivered.
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
import { fragOf, kindOf, Frag, recordType, RingError, type Ring } from '../native/index.js';
import { BounceReason, envAux, envFlags, Flag, RecordKind, setEnvAddress, setEnvEpoch, WHOLE_MESSAGE_MAX } from '../protocol/envelope.js';
import { Offer, type Origin, type OfferResult, type RecordSink, type Ticket, type Waiter } from './record-sink.js';
import { Partials, Track } from './partials.js';
import type { SinkHost, SinkLimits, SinkState, SinkStats } from './sink-host.js';
import { Staging } from './staging.js';
import { isAbort, recordSize, WaitList, type WaitingRecord } from './wait-list.js';

/** How long a full ring may hold the local sources offering to it (see LocalSink.hold). */
export const HOLD_MS = 2;

const WHOLE_DATA = recordType(RecordKind.DATA, Frag.COMPLETE);

export class LocalSink implements RecordSink {
  state: SinkState = 'open';
  readonly stats: SinkStats = { delivered: 0, refused: 0, orphaned: 0, stalls: 0 };
  private readonly staging: Staging;
  /** holding pausable sources until the ring has `holdNeed` bytes free (see hold) */
  private holdTimer: NodeJS.Timeout | undefined;
  private holdNeed = 0;
  /** the last hold timed out: sources go on around this instance until its wait list drains */
  private holdOver = false;
  private readonly waitList = new WaitList();
  private stallTimer: NodeJS.Timeout | undefined;
  private stalled = false;
  private freeAtStall = 0;
  private readonly blocked = new Set<Waiter>();
  private readonly partials: Partials;
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
    this.partials = new Partials(limits.maxPartialBytes);
    this.staging = new Staging(rx, this.margin, {
      epoch: host.epoch,
      borrowBatch: (bytes) => host.borrowBatch(bytes),
      returnBatch: (batch) => host.returnBatch(batch),
      started: () => host.touch(this),
      written: (records) => (this.stats.delivered += records),
    });
  }

  /** Bytes queued in the agent for this instance (waiting or staged). */
  get queued(): number {
    return this.waitList.bytes + this.staging.bytes;
  }

  offer(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    const refused = kindOf(type) === RecordKind.DATA ? BounceReason.OFFLINE : Offer.TAKEN;
    if (this.failed) return refused;
    // its own ring failing while a sender's record is offered: the sender is not at fault
    // (the quick path was tried before this: LimitedSink, the entry of every DATA record, tries quick() first)
    try {
      return this.take(type, body, srcNode, srcLocal, origin);
    } catch (err) {
      return this.fail(err, refused);
    }
  }

  /**
   * The common case, without the ceremony of offer(): a whole message to an
   * open instance, nothing waiting, room counted this round. Staged (true),
   * or false: offer it (which decides everything else).
   */
  quick(type: number, body: Uint8Array, srcNode: number, srcLocal: number): boolean {
    const size = recordSize(body.length);
    if (!this.quickFits(type, body.length, size)) return false;
    try {
      this.staging.stage(type, body, srcNode, srcLocal);
    } catch (err) {
      return this.fail(err, false); // (its instance is dropped; offer() then refuses the record OFFLINE)
    }
    return true;
  }

  /** quick() for a record still in a source's ring (`data[start, start + len)`): staged as part of a run (staged-run.ts). */
  quickAt(type: number, data: Uint8Array, start: number, len: number, srcNode: number, srcLocal: number): boolean {
    const size = recordSize(len);
    if (!this.quickFits(type, len, size)) return false;
    try {
      this.staging.stageAt(type, data, start, len, srcNode, srcLocal);
    } catch (err) {
      return this.fail(err, false);
    }
    return true;
  }

  private quickFits(type: number, len: number, size: number): boolean {
    return type === WHOLE_DATA && this.staging.counted(size) && this.waitList.empty && this.state === 'open' && !this.stalled && !this.failed && len <= this.rx.maxRecord;
  }

  /** Its rx ring failed (a RingError; anything else is rethrown): this instance is dropped (host.broken); yields `otherwise`. */
  private fail<T>(err: unknown, otherwise: T): T {
    if (!(err instanceof RingError)) throw err;
    this.failed = true;
    this.host.broken(this, err);
    return otherwise;
  }

  /** Run `fn`, which touches the rx ring; a ring that fails drops this instance (host.broken) and yields `otherwise`. */
  private guarded<T>(fn: () => T, otherwise: T): T {
    try {
      return fn();
    } catch (err) {
      return this.fail(err, otherwise);
    }
  }

  private take(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    if (kindOf(type) !== RecordKind.DATA) {
      if (this.state === 'closed' || body.length > this.rx.maxRecord) {
        this.stats.orphaned++; // a report for an instance that is gone, or one its ring cannot hold: dropped, counted
        return Offer.TAKEN;
      }
      return this.place(type, body, srcNode, srcLocal, origin, null, false);
    }
    if (this.state === 'closed') return BounceReason.OFFLINE;
    const frag = fragOf(type);
    const key = frag === Frag.COMPLETE ? null : `${srcNode}:${srcLocal}`;
    if (body.length > this.rx.maxRecord) return key === null ? BounceReason.TOO_BIG : this.partials.tooBig(key, frag); // from an agent with larger rings
    const starts = frag === Frag.COMPLETE || frag === Frag.BEGIN;
    const flags = envFlags(body);
    // a pair marker is never refused QUEUE_FULL (its sender would write a pair ring nobody reads): it waits
    const refuseNew = !starts || flags & Flag.ABORT ? 0
      : this.state === 'leaving' ? BounceReason.OFFLINE
        : this.stalled && !(flags & Flag.PAIR) ? BounceReason.QUEUE_FULL : 0;
    if (frag === Frag.COMPLETE) {
      if (refuseNew) return refuseNew;
      return this.place(type, body, srcNode, srcLocal, origin, null, true);
    }
    const total = envAux(body);
    const verdict = this.partials.track(key!, frag, total || body.length, body.length, refuseNew);
    if (verdict > 0) return verdict;
    const r = total > 0 && total <= this.wholeMax
      ? this.gather(type, body, srcNode, srcLocal, origin, key!, frag)
      : this.place(type, body, srcNode, srcLocal, origin, key, verdict !== Track.STREAMING && frag === Frag.BEGIN);
    // Not taken at its start: the rest of it is refused alike (from a link, whose BLOCKED is a refusal),
    // unless its start is offered again (a local source that paused: BEGIN starts the message afresh).
    if (r === Offer.BLOCKED) this.partials.refuse(key!, BounceReason.QUEUE_FULL);
    return r;
  }

  /** Stage a record if the ring has room and nothing waits before it; else queue it. */
  private place(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin, key: string | null, mayBlock: boolean): OfferResult {
    const size = recordSize(body.length);
    if (this.waitList.empty && this.staging.hasRoom(size)) {
      this.staging.stage(type, body, srcNode, srcLocal);
      if (key !== null && kindOf(type) === RecordKind.DATA && fragOf(type) === Frag.BEGIN) this.partials.started(key);
      return Offer.TAKEN;
    }
    if (mayBlock && origin.pausable && this.waitList.empty && this.hold(size)) return Offer.BLOCKED;
    if (mayBlock && this.waitList.bytes >= this.limits.maxWaitBytes) return Offer.BLOCKED;
    this.waitList.push(key ?? `${srcNode}:${srcLocal}`, this.copy(type, body, srcNode, srcLocal, origin.ticket()));
    this.waiting();
    return Offer.DEFERRED;
  }

  /**
   * Hold: the ring is full and nothing waits yet. A source that can pause is
   * held (its records stay in its own ring: no copy) until the app has read
   * enough to make room, for HOLD_MS at most; after that, sources go on around
   * this instance and its records wait in the WaitList (copied), so a reader
   * that stopped delays other destinations by HOLD_MS at most. A reader that is
   * merely slower than its senders costs no copies.
   */
  private hold(size: number): boolean {
    if (this.holdOver) return false;
    if (!this.holdTimer) {
      this.holdNeed = Math.max(size + this.margin, Math.min(this.rx.capacity / 8, this.rx.capacity - this.margin));
      this.holdTimer = setTimeout(() => this.host.round(() => this.endHold(true)), HOLD_MS);
      this.holdTimer.unref?.();
      this.host.touch(this); // its flush asks the app for the space bell
      this.host.waiting(this, true);
    }
    return true;
  }

  /** The ring has room again (or HOLD_MS passed: `timedOut`): let the held sources go. */
  private endHold(timedOut: boolean): void {
    if (!this.holdTimer) return;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (timedOut) this.holdOver = true;
    if (this.waitList.empty && !this.stalled) this.host.waiting(this, false);
    for (const w of this.blocked) w.resume();
    this.blocked.clear();
  }

  /** A fragment of a whole-size message: gathered; the message is placed once complete. */
  private gather(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin, key: string, frag: Frag): OfferResult {
    if (frag === Frag.BEGIN && this.waitList.bytes >= this.limits.maxWaitBytes) return Offer.BLOCKED;
    const records = this.waitList.gather(key, this.copy(type, body, srcNode, srcLocal, origin.ticket()), (left) => {
      for (const r of left) r.ticket.refuse(BounceReason.OFFLINE, r.type, r.body, 0, this.localId); // never to be whole
    });
    if (!records) return Offer.DEFERRED;
    const size = records.reduce((n, r) => n + recordSize(r.body.length), 0);
    if (this.waitList.empty && this.staging.hasRoom(size)) {
      this.staging.place(records, size);
      for (const r of records) this.host.afterFlush(r.ticket);
      return Offer.DEFERRED;
    }
    this.waitList.pushWhole(key, records);
    this.waiting();
    return Offer.DEFERRED;
  }

  private copy(type: number, body: Uint8Array, srcNode: number, srcLocal: number, ticket: Ticket): WaitingRecord {
    const copy = body.slice();
    setEnvAddress(copy, srcNode, srcLocal);
    setEnvEpoch(copy, this.host.epoch);
    return { type, body: copy, ticket };
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
    this.staging.end();
    this.moveWaiting();
  }

  /** Write waiting units, whole, as far as the ring has room; else ask to be woken when it has. */
  private moveWaiting(): void {
    if (this.waitList.empty && this.holdTimer) {
      if (this.rx.free() >= this.holdNeed || !this.rx.wantSpace(this.holdNeed)) this.endHold(false);
      return;
    }
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
          if (kindOf(r.type) === RecordKind.DATA && fragOf(r.type) === Frag.BEGIN) this.partials.started(this.keyOf(r.body));
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
    this.holdOver = false;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
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
    for (const key of unfinished) this.partials.refuse(key, reason);
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
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.staging.end();
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
    this.partials.clear();
    this.host.waiting(this, false);
    for (const w of this.blocked) w.resume();
    this.blocked.clear();
  }
}
