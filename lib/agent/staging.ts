/**
 * Staging: this round's records on their way into one rx ring. The ring's
 * free space is counted before anything is staged, so the write at the end
 * of the round (or earlier, when the batch fills) always succeeds and an
 * origin may count a staged record as delivered.
 *
 * Records come in three ways: a view copied in (stage), a whole message still
 * in a source's ring (stageAt: part of a StagedRun, copied in one piece later)
 * and records gathered elsewhere (place, after a room check by the caller).
 */
import type { RecordBatch, Ring } from '../native/index.js';
import { stampSource } from '../protocol/envelope.js';
import { StagedRun } from './staged-run.js';
import { recordSize } from './wait-list.js';

/** What staging needs from around it (a LocalSink and its SinkHost). */
export interface StagingHost {
  readonly epoch: number;
  borrowBatch(bytes: number): RecordBatch;
  returnBatch(batch: RecordBatch): void;
  /** The first record of a round was staged: flush when the round ends. */
  started(): void;
  /** `records` went into the ring. */
  written(records: number): void;
}

export class Staging {
  private batch: RecordBatch | null = null;
  private readonly run = new StagedRun();
  /** bytes that may still be staged this round; -1: not counted yet */
  private room = -1;
  /** the ring's free space was read again this round (hasRoom) */
  private rechecked = false;

  constructor(
    private readonly rx: Ring,
    /** room a wrap's padding may take */
    private readonly margin: number,
    private readonly host: StagingHost,
  ) {}

  /** Bytes staged and not yet written. */
  get bytes(): number {
    return this.batch?.length ?? 0;
  }

  /** Room counted this round for `size` more bytes (no ring read: the quick paths). */
  counted(size: number): boolean {
    return size <= this.room;
  }

  /**
   * Can `size` more bytes be staged this round? The ring's free space is read
   * once per round, and once more before a record would have to wait: the app
   * may have read since (without that second look, a reader a little behind
   * sends records through the wait list, which costs a copy each).
   */
  hasRoom(size: number): boolean {
    if (this.room < 0) this.room = Math.max(0, this.rx.free() - this.margin);
    if (size <= this.room) return true;
    if (this.rechecked) return false;
    this.rechecked = true;
    this.room = Math.max(0, this.rx.free() - this.margin - this.bytes);
    return size <= this.room;
  }

  /** Stage a record (room counted), stamped with its source. */
  stage(type: number, body: Uint8Array, srcNode: number, srcLocal: number): void {
    const at = this.copy(type, body);
    stampSource(this.batch!.buffer, at, srcNode, srcLocal, this.host.epoch);
    this.room -= recordSize(body.length);
  }

  /** Stage a whole message still in a source's ring, `data[start, start + len)` (room counted). */
  stageAt(type: number, data: Uint8Array, start: number, len: number, srcNode: number, srcLocal: number): void {
    const batch = this.batch ?? this.start(recordSize(len));
    if (!this.run.add(batch, type, data, start, len, srcNode, srcLocal, this.host.epoch)) {
      this.write(); // the batch is full, the ring has room (counted): write it now
      this.run.add(batch, type, data, start, len, srcNode, srcLocal, this.host.epoch);
    }
    this.room -= recordSize(len);
  }

  /** Stage records already stamped, together (`size` bytes, room checked with hasRoom). */
  place(records: readonly { type: number; body: Uint8Array }[], size: number): void {
    for (const r of records) this.copy(r.type, r.body);
    this.room -= size;
  }

  /** Put a record into the batch; returns where its body starts there. */
  private copy(type: number, body: Uint8Array): number {
    const batch = this.batch ?? this.start(recordSize(body.length));
    let at = batch.reserve(type, body.length);
    if (at < 0) {
      this.write(); // the batch is full, the ring has room (counted): write it now
      at = batch.reserve(type, body.length);
    }
    batch.buffer.set(body, at);
    return at;
  }

  private start(size: number): RecordBatch {
    const batch = this.batch = this.host.borrowBatch(Math.max(size, Math.min(this.room, 256 * 1024)));
    this.host.started();
    return batch;
  }

  /** Write what is staged into the ring (a pending run is copied in first). */
  write(): void {
    const batch = this.batch;
    if (!batch || batch.length === 0) return;
    this.run.seal(batch, this.host.epoch);
    const records = batch.count;
    const written = this.rx.writeBatch(batch);
    if (written !== records) throw new Error(`rx ring took ${written} of ${records} staged records`);
    this.host.written(records);
  }

  /** The round is over: write what is staged, give the batch back, count the room afresh next round. */
  end(): void {
    this.room = -1;
    this.rechecked = false;
    const batch = this.batch;
    if (!batch) return;
    try {
      this.write();
    } finally {
      this.batch = null;
      this.host.returnBatch(batch);
    }
  }
}
