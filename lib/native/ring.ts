/**
 * Ring: one SPSC shared-memory ring (shmq.so.c) seen from TypeScript.
 *
 * The hot paths cost one FFI call per batch, never per message:
 * writeBatch() copies a RecordBatch in, drain() hands out zero-copy views of
 * every waiting record and releases them with a second call.
 */
import { unlinkSync } from 'node:fs';
import { align8, type PositionedVisitor, type RawVisitor, type RecordBatch, type RecordVisitor } from './batch.js';
import type { Doorbell } from './doorbell.js';
import { RingError } from './errors.js';
import { Layout, native, ShmqResult, ShmqRole, viewOf, type RingHandle } from './shmq.js';

export type RingRole = 'producer' | 'consumer' | 'observer';

/** A ring's size: its data capacity and largest record. */
export interface RingOptions {
  /** Data area in bytes, a power of two (default 1 MiB). */
  capacity?: number;
  /** Largest record body in bytes (default 16 KiB); larger messages are fragmented. */
  maxRecord?: number;
}

export const DEFAULT_CAPACITY = 1 << 20;
export const DEFAULT_MAX_RECORD = 16 * 1024;

/** A ring's occupancy: capacity, bytes used, records, the positions. */
export interface RingStats {
  tail: number;
  head: number;
  /** Bytes written but not yet read. */
  depth: number;
  recordsWritten: number;
  recordsRead: number;
  fullCount: number;
  unblocked: number;
  wakeups: number;
  parked: boolean;
  producerPid: number;
  consumerPid: number;
  creatorPid: number;
  /** Consumer's read position: [head, cursor) is read but not released. */
  cursor: number;
  spaceWakeups: number;
  spaceWanted: boolean;
}

const ROLES: Record<RingRole, ShmqRole> = {
  producer: ShmqRole.PRODUCER,
  consumer: ShmqRole.CONSUMER,
  observer: ShmqRole.OBSERVER,
};

/** A record handed out by peek(): valid until commit(). */
export interface PeekedRecord {
  type: number;
  body: Uint8Array;
}

export class Ring implements Disposable {
  readonly capacity: number;
  readonly maxRecord: number;
  private handle: RingHandle | null;
  private dataView: Uint8Array | undefined;
  private wordView: Int32Array | undefined;
  /** Consumer: the read cursor, mirrored from C (absolute position). */
  private readPos = 0;
  private readonly offset = new Uint32Array(1);
  private peekedBytes = 0;
  private readonly statsOut = new BigInt64Array(16);

  private constructor(
    readonly path: string,
    readonly role: RingRole,
    handle: RingHandle,
  ) {
    this.handle = handle;
    const n = native();
    this.capacity = n.shmq_capacity(handle);
    this.maxRecord = n.shmq_max_record(handle);
    if (role === 'consumer') this.readPos = Number(n.shmq_cursor(handle));
  }

  /** Create a ring file (mode 0600), mapped once in `role` (default: an observer for stats and unlink).
   * A full file system (a small /dev/shm) is a RingError NO_SPACE naming the bytes needed. */
  static create(path: string, options: RingOptions = {}, role: RingRole = 'observer'): Ring {
    const n = native();
    const handle = n.shmq_create_as(path, options.capacity ?? DEFAULT_CAPACITY, options.maxRecord ?? DEFAULT_MAX_RECORD, ROLES[role]);
    if (!handle) throw Ring.lastError(path);
    return new Ring(path, role, handle);
  }

  /** Map an existing ring file in a role. Wrong magic, version or size throw a RingError saying which. */
  static open(path: string, role: RingRole): Ring {
    const handle = native().shmq_open(path, ROLES[role]);
    if (!handle) throw Ring.lastError(path);
    return new Ring(path, role, handle);
  }

  private static lastError(path: string): RingError {
    const n = native();
    return new RingError(n.shmq_last_code() as ShmqResult, n.shmq_last_error() || path);
  }

  /** stats() at close (an agent sums the counters of the rings it had). */
  private closedStats: RingStats | undefined;

  private get q(): RingHandle {
    if (!this.handle) throw new RingError(ShmqResult.INVALID, `ring ${this.path} is closed`);
    return this.handle;
  }

  private check(rc: number): number {
    if (rc >= 0 || rc === ShmqResult.FULL || rc === ShmqResult.BLOCKED || rc === ShmqResult.EMPTY || rc === ShmqResult.BUSY) return rc;
    throw new RingError(rc as ShmqResult, native().shmq_last_error());
  }

  /** The data area, zero-copy. */
  get data(): Uint8Array {
    if (!this.dataView) this.dataView = new Uint8Array(viewOf(native().shmq_data(this.q), this.capacity));
    return this.dataView;
  }

  get closed(): boolean {
    return this.handle === null;
  }

  /** Producer: ring this doorbell after publishing whenever the consumer is parked. */
  setBell(bell: Doorbell | null): void {
    native().shmq_set_bell(this.q, bell ? bell.fd : -1);
  }

  /** Write one record. False when the ring is full. */
  write(type: number, body: Uint8Array): boolean {
    return this.check(native().shmq_write(this.q, type, body, body.length)) === ShmqResult.OK;
  }

  /** Write as many whole records of the batch as fit, removing them from it.
   * Returns the number of records written (0 when the ring is full). */
  writeBatch(batch: RecordBatch): number {
    if (batch.length === 0) return 0;
    const rc = this.check(native().shmq_write_batch(this.q, batch.buffer, batch.length));
    if (rc <= 0) return 0;
    const before = batch.count;
    if (rc === batch.length) {
      batch.reset();
      return before;
    }
    let records = 0;
    const view = new DataView(batch.buffer.buffer, batch.buffer.byteOffset);
    for (let off = 0; off < rc; records++) off += align8(view.getInt32(off, true));
    batch.consume(rc, records);
    return records;
  }

  /** Write `msg` from `offset` on as fragments (one COMPLETE record when it fits),
   * each body starting with `prefix`. Returns the new offset: `msg.length` when
   * done, unchanged when the ring is full. Call again as the consumer drains. */
  writeFragments(kind: number, msg: Uint8Array, offset = 0, prefix: Uint8Array | null = null): number {
    const rc = this.check(
      native().shmq_write_fragments(this.q, kind, prefix, prefix ? prefix.length : 0, msg, msg.length, offset),
    );
    return rc === ShmqResult.FULL ? offset : rc;
  }

  /** Zero-copy write: a view to fill with `len` bytes, or null when full. Then commitClaim(). */
  claim(type: number, len: number): Uint8Array | null {
    const at = this.check(native().shmq_claim(this.q, type, len));
    if (at === ShmqResult.FULL) return null;
    const start = at + Layout.RECORD_HEADER;
    return this.data.subarray(start, start + len);
  }

  commitClaim(): void {
    this.check(native().shmq_commit_claim(this.q));
  }

  /** Copy waiting records into `dst` (ring format) and release them. Returns bytes copied; 0 when empty or blocked. */
  readBatch(dst: Uint8Array): number {
    this.peekedBytes = 0;
    const rc = this.check(native().shmq_read_batch(this.q, dst, dst.length));
    if (rc > 0) this.readPos = Number(native().shmq_cursor(this.q));
    return rc > 0 ? rc : 0;
  }

  /** Visit waiting records in place (zero-copy views valid only during `visit`),
   * up to about `maxBytes`, and release them. A visitor that returns false
   * stops the walk; that record stays in the ring. Returns the number consumed.
   * Only for a consumer that holds nothing back (see walk/releaseTo). */
  drain(visit: RecordVisitor, maxBytes = this.capacity): number {
    return this.visitSpans((type, data, start, len) => visit(type, data.subarray(start, start + len)), maxBytes, true);
  }

  /** Visit waiting records from the read cursor with their ring positions and
   * move the cursor past them, without releasing them: the caller releases
   * with releaseTo() once it is done with them (records before that position
   * stay readable with walkRange()). A visitor that returns false stops the
   * walk before its record. Returns the number visited. */
  walk(visit: PositionedVisitor, maxBytes = this.capacity): number {
    return this.visitSpans((type, data, start, len, pos) => visit(type, data.subarray(start, start + len), pos, align8(len + Layout.RECORD_HEADER)), maxBytes, false);
  }

  /** walk(), handing each record over where it lies (no view per record: the hot paths). */
  walkRaw(visit: RawVisitor, maxBytes = this.capacity): number {
    return this.visitSpans(visit, maxBytes, false);
  }

  private visitSpans(visit: RawVisitor, maxBytes: number, release: boolean): number {
    this.peekedBytes = 0;
    const n = native();
    const q = this.q;
    let total = 0;
    let budget = maxBytes;
    while (budget > 0) {
      const before = this.readPos;
      const span = this.check(n.shmq_peek(q, this.offset, budget));
      const at = this.offset[0]!;
      // peek may have stepped over padding at the cursor: follow it
      this.readPos = before + ((at - (before % this.capacity) + this.capacity) % this.capacity);
      if (span <= 0) break;
      const data = this.data;
      const view = new DataView(data.buffer, data.byteOffset + at, span);
      let records = 0;
      let off = 0;
      let stopped = false;
      while (off < span) {
        const len = view.getInt32(off, true);
        // the C side checked this record, but the other process can change it since: check what we use
        // (the length first: align8 of one near 2^31 overflows to a negative step)
        if (len < Layout.RECORD_HEADER || len > span - off || off + align8(len) > span) {
          throw new RingError(ShmqResult.CORRUPT, `record at position ${this.readPos + off} of ${this.path} changed while read`);
        }
        if (visit(view.getInt32(off + 4, true), data, at + off + Layout.RECORD_HEADER, len - Layout.RECORD_HEADER, this.readPos + off) === false) {
          stopped = true;
          break;
        }
        off += align8(len);
        records++;
      }
      if (off > 0) {
        this.check(release ? n.shmq_release(q, off, records) : n.shmq_advance(q, off, records));
        this.readPos += off;
      }
      total += records;
      if (stopped) break;
      budget -= span;
    }
    return total;
  }

  /** Consumer: the read position (absolute, in bytes since the ring was made). */
  get cursor(): number {
    return this.readPos;
  }

  /** Consumer: give the producer everything before `pos` (a record boundary at or before the cursor). */
  releaseTo(pos: number): void {
    this.check(native().shmq_release_to(this.q, pos));
  }

  /** Visit the records between two positions (already read by the consumer, or, on the
   * producer's side, written and not yet released), skipping padding. Views are valid
   * only during `visit`; the walk stops early when it returns false. */
  walkRange(from: number, to: number, visit: PositionedVisitor): void {
    const data = this.data;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to - from > this.capacity || from % 8 !== 0) {
      throw new RingError(ShmqResult.CORRUPT, `positions ${from}..${to} of ${this.path} are not a span of the ring`);
    }
    for (let pos = from; pos < to; ) {
      const at = pos % this.capacity;
      if (at + Layout.RECORD_HEADER > this.capacity) throw new RingError(ShmqResult.CORRUPT, `corrupt record at position ${pos} of ${this.path}`);
      const len = view.getInt32(at, true);
      if (len < Layout.RECORD_HEADER || len > this.capacity - at || at + align8(len) > this.capacity) {
        throw new RingError(ShmqResult.CORRUPT, `corrupt record at position ${pos} of ${this.path}`);
      }
      const size = align8(len);
      const type = view.getInt32(at + 4, true);
      if (type !== Layout.TYPE_PAD && visit(type, data.subarray(at + Layout.RECORD_HEADER, at + len), pos, size) === false) return;
      pos += size;
    }
  }

  /** Take the record at `pos` out of the ring (compare-and-swap of its taken bit).
   * True for exactly one caller, whether consumer or producer side: a record is
   * handed out or bounced, never both. */
  take(pos: number, seen?: number): boolean {
    const word = ((pos % this.capacity) + 4) >> 2;
    const words = this.words;
    // `seen`: the type word as the walker read it (a plain read): usually right, saving a load
    if (seen !== undefined && !(seen & Layout.TYPE_TAKEN) && Atomics.compareExchange(words, word, seen, seen | Layout.TYPE_TAKEN) === seen) return true;
    for (;;) {
      const type = Atomics.load(words, word);
      if (type & Layout.TYPE_TAKEN) return false;
      if (Atomics.compareExchange(words, word, type, type | Layout.TYPE_TAKEN) === type) return true;
    }
  }

  /** Has the record at `pos` been taken (claimed)? */
  isTaken(pos: number): boolean {
    return (Atomics.load(this.words, ((pos % this.capacity) + 4) >> 2) & Layout.TYPE_TAKEN) !== 0;
  }

  /** Producer: bytes free for the next record (header included), refreshing the consumer's position. */
  free(): number {
    return this.check(native().shmq_free(this.q));
  }

  /** Producer: ask to be woken through the consumer's space bell once `bytes` are free.
   * True: wait for the bell; false: they are free already. */
  wantSpace(bytes: number): boolean {
    return this.check(native().shmq_want_space(this.q, bytes)) === 1;
  }

  /** Consumer: ring this doorbell when releasing space the producer waits for. */
  setSpaceBell(bell: Doorbell | null): void {
    native().shmq_set_space_bell(this.q, bell ? bell.fd : -1);
  }

  /** Producer side: visit the records written and not yet released by the consumer
   * (its head to our tail), e.g. to bounce what a dead consumer left unread. */
  unread(visit: PositionedVisitor): void {
    const s = this.stats();
    this.walkRange(s.head, s.tail, visit);
  }

  private get words(): Int32Array {
    if (!this.wordView) this.wordView = new Int32Array(this.data.buffer, this.data.byteOffset, this.capacity >> 2);
    return this.wordView;
  }

  /** Zero-copy look at the next record without consuming it; null when empty. */
  peek(): PeekedRecord | null {
    const span = this.check(native().shmq_peek(this.q, this.offset, 1));
    if (span <= 0) return null;
    const data = this.data;
    const at = this.offset[0]!;
    const view = new DataView(data.buffer, data.byteOffset + at, 8);
    const len = view.getInt32(0, true);
    this.peekedBytes = align8(len);
    return { type: view.getInt32(4, true), body: data.subarray(at + Layout.RECORD_HEADER, at + len) };
  }

  /** Consume the record returned by peek(). */
  commit(): void {
    if (this.peekedBytes === 0) throw new RingError(ShmqResult.INVALID, 'commit without peek');
    this.check(native().shmq_release(this.q, this.peekedBytes, 1));
    this.readPos += this.peekedBytes;
    this.peekedBytes = 0;
  }

  /** Consumer: is a record (or a claim) waiting? */
  available(): boolean {
    return native().shmq_available(this.q) === 1;
  }

  /** Consumer: spin in C up to `ns` nanoseconds for data. */
  spin(ns: number): boolean {
    return native().shmq_spin(this.q, ns) === 1;
  }

  /** Consumer: set the parked word. True if it may sleep; false if data arrived meanwhile. */
  park(): boolean {
    return native().shmq_park(this.q) === 1;
  }

  unpark(): void {
    native().shmq_unpark(this.q);
  }

  /** Consumer: skip a claim left by a producer that died mid-record.
   * Returns 'unblocked', 'busy' (producer alive) or 'empty' (nothing claimed). */
  unblock(force = false): 'unblocked' | 'busy' | 'empty' {
    const rc = this.check(native().shmq_unblock(this.q, force ? 1 : 0));
    if (rc === ShmqResult.OK) return 'unblocked';
    return rc === ShmqResult.BUSY ? 'busy' : 'empty';
  }

  /** The counters now; once closed, as they were when it was closed. */
  stats(): RingStats {
    if (!this.handle && this.closedStats) return this.closedStats;
    const s = this.statsOut;
    native().shmq_stats(this.q, s, s.length);
    const tail = Number(s[0]);
    const head = Number(s[1]);
    return {
      tail,
      head,
      // the other side may have scribbled its cursor: a depth is never below 0 nor above what the ring holds
      depth: Math.min(this.capacity, Math.max(0, tail - head)),
      recordsWritten: Number(s[2]),
      recordsRead: Number(s[3]),
      fullCount: Number(s[4]),
      unblocked: Number(s[5]),
      wakeups: Number(s[6]),
      parked: s[7] !== 0n,
      producerPid: Number(s[8]),
      consumerPid: Number(s[9]),
      creatorPid: Number(s[10]),
      cursor: Number(s[11]),
      spaceWakeups: Number(s[12]),
      spaceWanted: s[13] !== 0n,
    };
  }

  /** Unmap. Idempotent. */
  close(): void {
    if (!this.handle) return;
    this.closedStats = this.stats();
    native().shmq_close(this.handle);
    this.handle = null;
    this.dataView = undefined;
    this.wordView = undefined;
  }

  /** Remove the file (the mapping of every open handle stays valid until closed). */
  unlink(): void {
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
