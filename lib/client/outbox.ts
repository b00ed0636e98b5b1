/**
 * Outbox: the sending side of one ring an instance writes (its tx ring, or a
 * pair ring: pair-writer.ts). push() appends records
 * to a bounded RecordBatch; one flush per event-loop turn hands the whole
 * batch to C in one call. Messages larger than a record go out as fragments
 * (resumable). When neither the ring nor the batch has room, QueueFullError
 * is thrown at once: nothing buffers without bound. A full ring asks the
 * agent to ring this app's doorbell when it has read (no polling), and
 * whenWritable() lets a sender wait (bounded) until what is queued in JS has
 * gone into the ring. A pair ring's Outbox has a gate: nothing goes into the
 * ring before the gate opens (its marker is in the tx ring: pair-writer.ts).
 */
import { forEachRecord, fragOf, kindOf, Frag, RecordBatch, type Ring } from '../native/index.js';
import { ENVELOPE_BYTES, envFlags, Flag, RecordKind, setEnvFlags, writeEnvelope } from '../protocol/envelope.js';
import { ClosedError, QueueFullError } from '../protocol/errors.js';

const BATCH_BYTES = 128 * 1024;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface LargeMessage {
  payload: Uint8Array;
  prefix: Uint8Array;
  offset: number;
}

/** A message that never reached the ring (the agent went away first). */
export interface Unsent {
  envelope: Uint8Array;
  payload: Uint8Array;
}

export class Outbox {
  private readonly batch = new RecordBatch(BATCH_BYTES);
  private large: LargeMessage | null = null;
  private flushQueued = false;
  private waitingForSpace = false;
  /** a flush found the gate closed */
  private gated = false;
  private closed = false;
  private readonly waiters = new Set<Waiter>();
  /** Messages pushed, and how many of them are in the ring (they go in in order). */
  private pushed = 0;
  private written = 0;

  constructor(
    private readonly ring: Ring,
    /** Numbers large plain messages (shared by an instance's Outboxes: their reports reassemble per number). */
    private readonly nextLarge: () => number,
    /** Nothing is written into the ring while this says false (wake() once it says true). */
    private readonly gate: () => boolean = () => true,
    /** Called after a flush that put messages into the ring. */
    private readonly onWritten: () => void = () => {},
  ) {}

  /** Records waiting in JS (bounded by the batch size plus one large message). */
  get pending(): boolean {
    return this.batch.length > 0 || this.large !== null;
  }

  /** Has message number `n` (push() returned it) gone into the ring? */
  hasWritten(n: number): boolean {
    return this.written >= n;
  }

  /** Queue one message; returns its number (see hasWritten). Throws QueueFullError when there is no room. */
  push(node: number, local: number, epoch: number, flags: number, corr: number, payload: Uint8Array): number {
    if (this.closed) throw new ClosedError('instance closed');
    const bodyLen = ENVELOPE_BYTES + payload.length;
    if (bodyLen <= this.ring.maxRecord) {
      let at = this.batch.reserve(RecordKind.DATA, bodyLen);
      if (at < 0) {
        this.flush();
        at = this.batch.reserve(RecordKind.DATA, bodyLen);
        if (at < 0) throw new QueueFullError('the tx ring is full');
      }
      writeEnvelope(this.batch.buffer, node, local, flags, corr, epoch, 0, at);
      this.batch.buffer.set(payload, at + ENVELOPE_BYTES);
      this.schedule();
      return ++this.pushed;
    }
    this.flush();
    if (this.large || this.batch.length > 0) throw new QueueFullError('the tx ring is full');
    const prefix = new Uint8Array(ENVELOPE_BYTES);
    if (corr === 0) corr = this.nextLarge(); // (in `corr`: reports of several large messages reassemble apart)
    writeEnvelope(prefix, node, local, flags, corr, epoch, payload.length);
    const offset = this.gate() ? this.ring.writeFragments(RecordKind.DATA, payload, 0, prefix) : 0;
    if (offset < payload.length) {
      // keep a copy: the caller may reuse its buffer as soon as send() returns
      const copy = new Uint8Array(payload.length);
      copy.set(payload);
      this.large = { payload: copy, prefix, offset };
      this.schedule();
    } else {
      this.written++;
      this.onWritten();
    }
    return ++this.pushed;
  }

  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Move what is queued into the ring, large message first (order). Called again when the agent has read. */
  flush(): void {
    if (this.closed) return;
    this.waitingForSpace = false;
    this.gated = !this.gate();
    if (this.gated) return;
    const before = this.written;
    if (this.large) {
      const l = this.large;
      l.offset = this.ring.writeFragments(RecordKind.DATA, l.payload, l.offset, l.prefix);
      if (l.offset >= l.payload.length) {
        this.large = null;
        this.written++;
      }
    }
    if (!this.large && this.batch.length > 0) this.written += this.ring.writeBatch(this.batch); // (records of the batch are whole messages)
    if (this.written > before) this.onWritten();
    if (!this.pending) {
      if (this.waiters.size > 0) for (const w of [...this.waiters]) w.resolve();
      return;
    }
    // room for the next record twice over: placing it at the wrap may need padding as large
    const next = this.large ? this.ring.maxRecord + 8 : this.batch.firstSize;
    if (this.ring.wantSpace(2 * next + 8)) this.waitingForSpace = true; // the agent rings our doorbell when it has read
    else setImmediate(() => this.flush());
  }

  /** The doorbell rang (or the gate may have opened): if we wait for room or for the gate, try again. */
  wake(): void {
    if (this.waitingForSpace || this.gated) this.flush();
  }

  /** Senders waiting in whenWritable(). */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Resolves once nothing is queued in JS (the batch went into the ring), at
   * once when nothing is. Rejects with QueueFullError after `timeoutMs`, with
   * ClosedError when the outbox closes or `signal` aborts. Its timer and
   * listener are released however it settles.
   */
  whenWritable(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('instance closed'));
    if (!this.pending) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new ClosedError('aborted'));
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        this.waiters.delete(w);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => settle(new ClosedError('aborted'));
      const w: Waiter = { resolve: () => settle(), reject: settle };
      const timer = setTimeout(() => settle(new QueueFullError(`the tx ring did not drain within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
    });
  }

  /**
   * Close; returns the messages still queued in JS (never written to the ring),
   * in order. Of a large message partly written, the part not written; with
   * `whole`, all of it (its writer reports it whole: pair-writer.ts).
   */
  close(whole = false): Unsent[] {
    this.closed = true;
    for (const w of [...this.waiters]) w.reject(new ClosedError('instance closed'));
    const out: Unsent[] = [];
    if (this.large) {
      const tail = !whole && this.large.offset > 0;
      if (tail) setEnvFlags(this.large.prefix, envFlags(this.large.prefix) & ~Flag.HEADERS); // its header block went into the ring
      out.push({ envelope: this.large.prefix, payload: tail ? this.large.payload.subarray(this.large.offset) : this.large.payload });
      this.large = null;
    }
    forEachRecord(this.batch.buffer, 0, this.batch.length, (type, body) => {
      if (kindOf(type) === RecordKind.DATA && fragOf(type) === Frag.COMPLETE) {
        out.push({ envelope: body.slice(0, ENVELOPE_BYTES), payload: body.slice(ENVELOPE_BYTES) });
      }
    });
    this.batch.reset();
    return out;
  }
}
