/**
 * RecordBatch packs records in the ring's own format into one buffer, so a
 * whole batch crosses the FFI boundary in one call (Ring.writeBatch). The
 * same format comes back from Ring.readBatch; forEachRecord walks it.
 */
import { Layout } from './shmq.js';

const HEADER = Layout.RECORD_HEADER;

export const align8 = (n: number): number => (n + 7) & ~7;

/** Called for each record: its type and a view of its body (valid during the call).
 * Returning false stops the walk and leaves this record unconsumed. */
export type RecordVisitor = (type: number, body: Uint8Array) => unknown;

/** A RecordVisitor that also learns where the record is in its ring (`pos`,
 * absolute) and how many bytes it takes there (`size`, header and padding). */
export type PositionedVisitor = (type: number, body: Uint8Array, pos: number, size: number) => unknown;

/** A visitor of records where they lie, without a view per record: the body is
 * `data[start, start + len)` (`data` is the ring's whole data area; valid during the call). */
export type RawVisitor = (type: number, data: Uint8Array, start: number, len: number, pos: number) => unknown;

export class RecordBatch {
  readonly buffer: Uint8Array;
  private readonly view: DataView;
  /** Bytes used. */
  length = 0;
  /** Records added. */
  count = 0;

  constructor(size = 256 * 1024) {
    this.buffer = new Uint8Array(align8(size));
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  /** Room for a record with a `bodyLength`-byte body? */
  fits(bodyLength: number): boolean {
    return this.length + align8(HEADER + bodyLength) <= this.buffer.length;
  }

  /** Append a record; false when the batch is full. */
  add(type: number, body: Uint8Array): boolean {
    const at = this.reserve(type, body.length);
    if (at < 0) return false;
    this.buffer.set(body, at);
    return true;
  }

  /** Append a record header and return where its body goes (-1 when full). */
  reserve(type: number, bodyLength: number): number {
    const size = align8(HEADER + bodyLength);
    if (this.length + size > this.buffer.length) return -1;
    this.view.setInt32(this.length, HEADER + bodyLength, true);
    this.view.setInt32(this.length + 4, type, true);
    const at = this.length + HEADER;
    this.length += size;
    this.count++;
    return at;
  }

  /** Room for a `size`-byte record (header and padding included) whose bytes the caller fills in later;
   * returns where the record starts (-1 when full). */
  reserveRaw(size: number): number {
    if (this.length + size > this.buffer.length) return -1;
    const at = this.length;
    this.length += size;
    this.count++;
    return at;
  }

  /** (Re)write the header of the record at `at` (one reserveRaw() returned). */
  writeHeader(at: number, type: number, bodyLength: number): void {
    this.view.setInt32(at, HEADER + bodyLength, true);
    this.view.setInt32(at + 4, type, true);
  }

  /** Bytes the first record takes (header and padding included), 0 when empty. */
  get firstSize(): number {
    return this.length === 0 ? 0 : align8(this.view.getInt32(0, true));
  }

  /** Drop the first `bytes` (written to the ring), keeping the rest. */
  consume(bytes: number, records: number): void {
    if (bytes >= this.length) {
      this.length = 0;
      this.count = 0;
      return;
    }
    this.buffer.copyWithin(0, bytes, this.length);
    this.length -= bytes;
    this.count -= records;
  }

  reset(): void {
    this.length = 0;
    this.count = 0;
  }
}

/** Count the records in the first `bytes` of a packed buffer. */
export function countRecords(buf: Uint8Array, bytes: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let n = 0;
  for (let off = 0; off < bytes; n++) off += align8(view.getInt32(off, true));
  return n;
}

/** Walk `bytes` of packed records starting at `start` of `buf`. Returns the count. */
export function forEachRecord(buf: Uint8Array, start: number, bytes: number, visit: RecordVisitor): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = start + bytes;
  let n = 0;
  for (let off = start; off < end; n++) {
    const len = view.getInt32(off, true);
    visit(view.getInt32(off + 4, true), buf.subarray(off + HEADER, off + len));
    off += align8(len);
  }
  return n;
}
