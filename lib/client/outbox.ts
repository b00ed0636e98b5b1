/**
 * Outbox: the sending side of one instance's tx ring. send() appends records
 * to a bounded RecordBatch; one flush per event-loop turn hands the whole
 * batch to C in one call. Messages larger than a record go out as fragments
 * (resumable). When neither the ring nor the batch has room, QueueFullError
 * is thrown at once: nothing buffers without bound. whenWritable() lets a
 * sender wait (bounded) until what is queued in JS has gone into the ring.
 */
import { RecordBatch, type Ring } from '../native/index.js';
import { ENVELOPE_BYTES, RecordKind, writeEnvelope } from '../protocol/envelope.js';
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

export class Outbox {
  private readonly batch = new RecordBatch(BATCH_BYTES);
  private readonly view = new DataView(this.batch.buffer.buffer, this.batch.buffer.byteOffset, this.batch.buffer.byteLength);
  private large: LargeMessage | null = null;
  private flushQueued = false;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly ring: Ring) {}

  /** Records waiting in JS (bounded by the batch size plus one large message). */
  get pending(): boolean {
    return this.batch.length > 0 || this.large !== null;
  }

  /** Queue one message. Throws QueueFullError when there is no room. */
  push(node: number, local: number, flags: number, corr: number, payload: Uint8Array): void {
    const bodyLen = ENVELOPE_BYTES + payload.length;
    if (bodyLen <= this.ring.maxRecord) {
      let at = this.batch.reserve(RecordKind.DATA, bodyLen);
      if (at < 0) {
        this.flush();
        at = this.batch.reserve(RecordKind.DATA, bodyLen);
        if (at < 0) throw new QueueFullError('the tx ring is full');
      }
      writeEnvelope(this.view, at, node, local, flags, corr);
      this.batch.buffer.set(payload, at + ENVELOPE_BYTES);
      this.schedule();
      return;
    }
    this.flush();
    if (this.large || this.batch.length > 0) throw new QueueFullError('the tx ring is full');
    const prefix = new Uint8Array(ENVELOPE_BYTES);
    writeEnvelope(new DataView(prefix.buffer), 0, node, local, flags, corr);
    const offset = this.ring.writeFragments(RecordKind.DATA, payload, 0, prefix);
    if (offset < payload.length) {
      this.large = { payload: payload.slice(), prefix, offset };
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Move what is queued into the ring, large message first (order). */
  flush(): void {
    if (this.closed) return;
    if (this.large) {
      const l = this.large;
      l.offset = this.ring.writeFragments(RecordKind.DATA, l.payload, l.offset, l.prefix);
      if (l.offset >= l.payload.length) this.large = null;
    }
    if (!this.large && this.batch.length > 0) this.ring.writeBatch(this.batch);
    if (!this.pending && this.waiters.size > 0) for (const w of [...this.waiters]) w.resolve();
    if (this.pending && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, 1);
    }
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

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    for (const w of [...this.waiters]) w.reject(new ClosedError('instance closed'));
  }
}
