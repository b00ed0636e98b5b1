/**
 * StagedRun: consecutive whole messages staged from one span of a source's tx
 * ring into a sink's staging batch, copied there in one piece when the run
 * ends (seal) instead of one copy and one view per record: on the busy local
 * path most records of a round are such runs.
 *
 * The sender's ring is writable by the sender while the run is pending, so the
 * copy is never trusted: after it, every record's header (length and type, as
 * the agent read and checked them) and its source stamp are written again.
 * What the sender could still change is its own payload, as before.
 *
 * The run points into the source's ring until sealed: the sink seals it before
 * its batch is written or given back, which happens when the round ends, and a
 * ring is unmapped only outside a round (Agent.finish).
 */
import { align8, Layout, type RecordBatch } from '../native/index.js';
import { stampSource } from '../protocol/envelope.js';

const HEADER = Layout.RECORD_HEADER;

export class StagedRun {
  private data: Uint8Array | null = null;
  /** the run in `data`: [from, to), record headers included */
  private from = 0;
  private to = 0;
  /** where it starts in the batch */
  private at = 0;
  private type = 0;
  private node = 0;
  private local = 0;
  /** body length of each record of the run, as checked when read */
  private lens = new Int32Array(64);
  private count = 0;

  /**
   * Reserve room in `batch` for a record whose body is `data[start, start + len)`,
   * stamped with the source (`node`, `local`). False when the batch is full.
   */
  add(batch: RecordBatch, type: number, data: Uint8Array, start: number, len: number, node: number, local: number, epoch: number): boolean {
    const size = align8(HEADER + len);
    const at = batch.reserveRaw(size);
    if (at < 0) return false;
    const head = start - HEADER;
    if (data !== this.data || head !== this.to || at !== this.at + (this.to - this.from) || type !== this.type || node !== this.node || local !== this.local) {
      this.seal(batch, epoch);
      this.data = data;
      this.from = this.to = head;
      this.at = at;
      this.type = type;
      this.node = node;
      this.local = local;
    }
    if (this.count === this.lens.length) {
      const lens = new Int32Array(this.count * 2);
      lens.set(this.lens);
      this.lens = lens;
    }
    this.lens[this.count++] = len;
    this.to += size;
    return true;
  }

  /** Copy the pending run into `batch` (the one it was reserved in), then write what the agent vouches for. */
  seal(batch: RecordBatch, epoch: number): void {
    const data = this.data;
    if (data === null) return;
    this.data = null;
    const buf = batch.buffer;
    buf.set(data.subarray(this.from, this.to), this.at);
    let at = this.at;
    for (let i = 0; i < this.count; i++) {
      const len = this.lens[i]!;
      batch.writeHeader(at, this.type, len);
      stampSource(buf, at + HEADER, this.node, this.local, epoch);
      at += align8(HEADER + len);
    }
    this.count = 0;
  }
}
