/**
 * LocalSink: the way into one local instance's rx ring (agent -> app), for
 * records from any origin (its neighbours' tx rings, peer links, bounces).
 *
 * - Staging: within a round, records that fit go into a staging batch (from a
 *   shared pool, so an idle instance holds none) and reach the ring in one
 *   write when the round ends. The sink checks the ring's free space before
 *   staging, so the write always succeeds and the origin can count the record
 *   as delivered.
 * - Wait list: a record that does not fit waits here, in order (FIFO per
 *   source holds because every later record for this sink queues behind it),
 *   and the sink asks the app to ring the agent when it frees space. Other
 *   destinations are not held up: the origin goes on with its next record.
 * - Stall bound: when nothing leaves the wait list for `fullMs`, every message
 *   waiting is refused at once (QUEUE_FULL) and, until the app reads again,
 *   new ones are refused immediately. Bounces for this instance's own sends
 *   always wait: they are its reports.
 * - Leaving: once the instance is going away, data is refused OFFLINE; what
 *   it left unread in its ring is bounced to the senders by `close()`.
 */
import { fragOf, kindOf, Frag, RecordBatch, type Ring } from '../native/index.js';
import { BounceReason, envAux, envFlags, Flag, RecordKind, setEnvAddress, setEnvEpoch } from '../protocol/envelope.js';
import { Offer, type Origin, type OfferResult, type RecordSink, type Ticket, type Waiter } from './record-sink.js';

/** What a sink needs from the data path around it. */
export interface SinkHost {
  readonly epoch: number;
  /** This sink has staged or waiting records: flush it when the current round ends. */
  touch(sink: LocalSink): void;
  /** A staging batch of at least `bytes` (pooled). */
  borrowBatch(bytes: number): RecordBatch;
  returnBatch(batch: RecordBatch): void;
  /** The sink waits for the app (space bell) or a timer: keep it in view. */
  waiting(sink: LocalSink, yes: boolean): void;
  /** Run `fn` inside a round (timers). */
  round(fn: () => void): void;
}

export interface SinkLimits {
  /** How long the wait list may make no progress before its messages are refused. */
  fullMs: number;
  /** Bytes of messages that may wait in the agent for one instance; past it origins are paused. */
  maxWaitBytes: number;
  /** Bytes of unfinished fragmented messages one instance may be receiving at once. */
  maxPartialBytes: number;
}

interface Waiting {
  type: number;
  /** stamped copy (or a frame buffer the origin gave up) */
  body: Uint8Array;
  ticket: Ticket;
  /** the message this fragment belongs to had started into the ring when it was queued */
  continuing: boolean;
  key: string;
}

export type SinkState = 'open' | 'leaving' | 'closed';

export interface SinkStats {
  delivered: number;
  refused: number;
  orphaned: number;
  stalls: number;
}

const recordSize = (body: number): number => (8 + body + 7) & ~7;

export class LocalSink implements RecordSink {
  state: SinkState = 'open';
  readonly stats: SinkStats = { delivered: 0, refused: 0, orphaned: 0, stalls: 0 };
  private batch: RecordBatch | null = null;
  private room = -1;
  private waiting: Waiting[] = [];
  private waitHead = 0;
  private waitBytes = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private stalled = false;
  private freeAtStall = 0;
  private readonly blocked = new Set<Waiter>();
  /** Open fragmented messages by source: bytes so far, whether refused (why), whether started into the ring. */
  private readonly partial = new Map<string, { bytes: number; refused: BounceReason | 0; started: boolean }>();
  private partialBytes = 0;
  private readonly margin: number;

  constructor(
    readonly localId: number,
    readonly rx: Ring,
    private readonly host: SinkHost,
    private readonly limits: SinkLimits,
  ) {
    this.margin = recordSize(rx.maxRecord); // room a wrap's padding may take
  }

  /** Bytes queued in the agent for this instance (waiting or staged). */
  get queued(): number {
    return this.waitBytes + (this.batch?.length ?? 0);
  }

  offer(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    const kind = kindOf(type);
    const key = `${srcNode}:${srcLocal}`;
    let continuing = false;
    if (kind === RecordKind.DATA) {
      if (this.state === 'closed') return BounceReason.OFFLINE;
      const frag = fragOf(type);
      const starts = frag === Frag.COMPLETE || frag === Frag.BEGIN;
      // a message that has started into the ring is never cut: only new ones are refused
      const refuse = !starts || envFlags(body) & Flag.ABORT ? 0
        : this.state === 'leaving' ? BounceReason.OFFLINE
          : this.stalled ? BounceReason.QUEUE_FULL : 0;
      if (frag === Frag.COMPLETE) {
        if (refuse) return refuse;
      } else {
        const verdict = this.trackFragment(key, frag, envAux(body) || body.length, body.length, refuse);
        if (verdict > 0) return verdict;
        continuing = verdict === -1;
      }
    } else if (this.state === 'closed') {
      this.stats.orphaned++; // a report for an instance that is gone: nobody to tell
      return Offer.TAKEN;
    }
    const size = recordSize(body.length);
    if (this.waitHead < this.waiting.length) return this.enqueue(type, body, srcNode, srcLocal, origin, continuing, key);
    if (this.room < 0) this.room = Math.max(0, this.rx.free() - this.margin);
    if (size > this.room) return this.enqueue(type, body, srcNode, srcLocal, origin, continuing, key);
    this.stage(type, body, srcNode, srcLocal, size);
    if (kind === RecordKind.DATA && fragOf(type) === Frag.BEGIN) this.partial.get(key)!.started = true;
    return Offer.TAKEN;
  }

  /**
   * Fragment bookkeeping: > 0 refuse (the whole message is refused alike),
   * -1 a continuation of a message that has started into the ring, 0 go on.
   * A new message is refused with `refuseNew`, or when it would take the
   * instance past its cap of unfinished messages.
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

  private stage(type: number, body: Uint8Array, srcNode: number, srcLocal: number, size: number): void {
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
    setEnvAddress(out, srcNode, srcLocal);
    setEnvEpoch(out, this.host.epoch);
    this.room -= size;
  }

  private enqueue(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin, continuing: boolean, key: string): OfferResult {
    const isData = kindOf(type) === RecordKind.DATA;
    if (isData && !continuing && this.waitBytes >= this.limits.maxWaitBytes) return Offer.BLOCKED;
    const copy = body.slice();
    setEnvAddress(copy, srcNode, srcLocal);
    setEnvEpoch(copy, this.host.epoch);
    this.waiting.push({ type, body: copy, ticket: origin.ticket(), continuing, key });
    this.waitBytes += copy.length;
    if (!this.stallTimer) this.armStall();
    this.host.touch(this);
    this.host.waiting(this, true);
    return Offer.DEFERRED;
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

  private moveWaiting(): void {
    if (this.waitHead >= this.waiting.length) {
      if (this.stalled && this.rx.free() > this.freeAtStall) this.unstall();
      else if (this.stalled) this.rx.wantSpace(this.freeAtStall + 8);
      return;
    }
    for (;;) {
      let free = this.rx.free() - this.margin;
      let moved = 0;
      const batch = this.host.borrowBatch(Math.max(256 * 1024, recordSize(this.waiting[this.waitHead]!.body.length)));
      const done: Ticket[] = [];
      while (this.waitHead < this.waiting.length) {
        const w = this.waiting[this.waitHead]!;
        const size = recordSize(w.body.length);
        if (size > free || !batch.add(w.type, w.body)) break;
        free -= size;
        done.push(w.ticket);
        this.waitBytes -= w.body.length;
        if (kindOf(w.type) === RecordKind.DATA && fragOf(w.type) === Frag.BEGIN) {
          const p = this.partial.get(w.key);
          if (p) p.started = true;
        }
        this.waiting[this.waitHead++] = undefined as unknown as Waiting;
        moved++;
      }
      if (moved > 0) {
        this.rx.writeBatch(batch);
        this.stats.delivered += moved;
        for (const t of done) t.done();
        this.progress();
      }
      this.host.returnBatch(batch);
      if (this.waitHead >= this.waiting.length) {
        this.waiting = [];
        this.waitHead = 0;
        this.waitBytes = 0;
        this.settle();
        return;
      }
      if (moved > 0) continue;
      const next = recordSize(this.waiting[this.waitHead]!.body.length) + this.margin;
      if (this.rx.wantSpace(next)) return; // the app rings us when it has read
    }
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
    this.stallTimer = setTimeout(() => this.host.round(() => this.stall()), this.limits.fullMs);
    this.stallTimer.unref?.();
  }

  private unstall(): void {
    this.stalled = false;
    if (this.waitHead >= this.waiting.length) this.host.waiting(this, false);
  }

  /** No progress for fullMs: refuse every message waiting whose delivery has not started. */
  private stall(): void {
    this.stallTimer = undefined;
    if (this.state !== 'open') return;
    this.stalled = true;
    this.stats.stalls++;
    this.freeAtStall = this.rx.free();
    this.refuseWaiting(BounceReason.QUEUE_FULL, false);
    this.rx.wantSpace(this.freeAtStall + 8);
    this.host.waiting(this, true);
    if (this.waitHead < this.waiting.length) this.armStall();
  }

  /**
   * Refuse the waiting data, in order, message by message: a message whose
   * first fragment is waiting goes back whole; the rest of a message that has
   * started into the ring is kept, unless `cutStarted` (the reader is gone).
   * Reports for this instance's own sends stay.
   */
  private refuseWaiting(reason: BounceReason, cutStarted: boolean): void {
    const keep: Waiting[] = [];
    const verdict = new Map<string, boolean>();
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      if (kindOf(w.type) !== RecordKind.DATA) {
        keep.push(w);
        continue;
      }
      const frag = fragOf(w.type);
      let refuse = true;
      if (frag === Frag.BEGIN) verdict.set(w.key, true);
      else if (frag !== Frag.COMPLETE) {
        refuse = verdict.get(w.key) ?? cutStarted;
        if (frag === Frag.END) verdict.delete(w.key);
        else verdict.set(w.key, refuse);
      }
      if (!refuse) {
        keep.push(w);
        continue;
      }
      if (frag === Frag.END) this.dropPartial(w.key);
      this.waitBytes -= w.body.length;
      if (envFlags(w.body) & Flag.ABORT) {
        w.ticket.done(); // an abort of a message that goes back anyway: nothing to report
        continue;
      }
      this.stats.refused++;
      w.ticket.refuse(reason, w.type, w.body, 0, this.localId);
    }
    for (const [key, refused] of verdict) {
      const p = this.partial.get(key);
      if (p && refused) p.refused = reason; // the rest of that message is refused as it comes
    }
    this.waiting = keep;
    this.waitHead = 0;
    if (keep.length === 0) this.settle();
  }

  /** The instance is going away: new messages go back OFFLINE; messages already started, and its own reports, still wait. */
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
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      this.stats.orphaned++;
      this.waiting[i]!.ticket.done();
    }
    this.waiting = [];
    this.waitHead = 0;
    this.waitBytes = 0;
    this.partial.clear();
    this.partialBytes = 0;
    this.host.waiting(this, false);
    for (const w of this.blocked) w.resume();
    this.blocked.clear();
  }
}
