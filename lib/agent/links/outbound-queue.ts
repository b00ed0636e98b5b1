/**
 * OutboundQueue: the records one PeerLink has taken and not yet settled, in
 * sequence order. A record stays here from the offer until the peer says what
 * became of it: done (in a ring there), refused (a BOUNCE came back), or held
 * (pending there: taken, outcome later). After a reconnect everything the peer
 * has not taken is written again, and the peer drops what it already took by
 * sequence number. Bounded in bytes, overall and per destination, so one
 * destination that does not read cannot fill the link for the others.
 *
 * Frames are encoded one after the other into slabs (SLAB_BYTES), so the
 * frames of a write are usually one contiguous view (no copy to gather them)
 * and a record costs no buffer of its own. A slab is kept alive by its
 * unsettled items; an item held at the peer (PENDING, for as long as its
 * destination is full) is moved to its own buffer so it pins no slab.
 */
import { DATA_OVERHEAD, recordTypeAt, writeRecordFrame } from '../../protocol/link-frames.js';
import type { Ticket } from '../record-sink.js';

/** UNSENT, SENT (not taken yet), PENDING (taken, outcome held back there), DONE (a fragment done, kept
 * until its message ends: a message whose rest fails is reported whole). */
export const ItemState = { UNSENT: 0, SENT: 1, PENDING: 2, DONE: 3 } as const;
export type ItemState = (typeof ItemState)[keyof typeof ItemState];

export interface Outbound {
  readonly seq: number;
  /** the frame is buf[at, at + len) (buf: a slab of frames, or its own) */
  buf: Uint8Array;
  at: number;
  readonly len: number;
  /** destination local id on the peer (per-destination accounting) */
  readonly dest: number;
  /** source local id here, and its game (announced before its first DATA), or null for agent-made records */
  readonly src: number;
  readonly game: string | null;
  readonly ticket: Ticket;
  /** a fragment of a message settled as one unit (whole-size, from a local source) */
  readonly grouped: boolean;
  state: ItemState;
}

const SLAB_BYTES = 64 * 1024;

/** The encoded DATA frame of an item (a view). */
export const frameOf = (item: Outbound): Uint8Array => item.buf.subarray(item.at, item.at + item.len);
/** The record type and body an item carries (views). */
export const recordOf = (item: Outbound): { recordType: number; body: Uint8Array } =>
  ({ recordType: recordTypeAt(item.buf, item.at), body: item.buf.subarray(item.at + DATA_OVERHEAD, item.at + item.len) });

export class OutboundQueue {
  /** In seq order with no gaps in seq from head on (removed ones are null): seq -> index is arithmetic. */
  private items: (Outbound | null)[] = [];
  private head = 0;
  private count = 0;
  /** bytes queued per destination (a mutable cell per destination: no map write per record) */
  private readonly perDest = new Map<number, { bytes: number }>();
  /** Index from which items may still be unsent. */
  private unsentFrom = 0;
  nextSeq = 1;
  bytes = 0;
  private slab = new Uint8Array(SLAB_BYTES);
  private slabUsed = 0;

  constructor(readonly maxBytes: number, readonly maxDestBytes: number) {}

  get length(): number {
    return this.count;
  }

  /** Room for another record to `dest`? */
  hasRoom(dest: number): boolean {
    return this.bytes < this.maxBytes && (this.perDest.get(dest)?.bytes ?? 0) < this.maxDestBytes;
  }

  push(recordType: number, body: Uint8Array, dest: number, src: number, game: string | null, ticket: Ticket, grouped = false): Outbound {
    const seq = this.nextSeq++;
    const len = DATA_OVERHEAD + body.length;
    let buf: Uint8Array;
    let at = 0;
    if (len > SLAB_BYTES / 4) {
      buf = new Uint8Array(len);
    } else {
      if (this.slabUsed + len > SLAB_BYTES) {
        this.slab = new Uint8Array(SLAB_BYTES);
        this.slabUsed = 0;
      }
      buf = this.slab;
      at = this.slabUsed;
      this.slabUsed += len;
    }
    writeRecordFrame(buf, at, seq, recordType, body);
    const item: Outbound = { seq, buf, at, len, dest, src, game, ticket, grouped, state: ItemState.UNSENT };
    this.items.push(item);
    this.count++;
    this.bytes += len;
    const cell = this.perDest.get(dest);
    if (cell) cell.bytes += len;
    else this.perDest.set(dest, { bytes: len });
    return item;
  }

  /** The peer holds `item` (taken, outcome later: its destination is full): it may stay a while, so it gets a buffer of its own. */
  hold(item: Outbound): void {
    item.state = ItemState.PENDING;
    if (item.buf.length === item.len) return;
    item.buf = item.buf.slice(item.at, item.at + item.len);
    item.at = 0;
  }

  get(seq: number): Outbound | undefined {
    const i = this.indexOf(seq);
    return i >= 0 ? this.items[i]! : undefined;
  }

  /** Items not yet written on this connection, in order (marked sent). */
  takeUnsent(): Outbound[] {
    const out: Outbound[] = [];
    for (let i = Math.max(this.unsentFrom, this.head); i < this.items.length; i++) {
      const item = this.items[i];
      if (item && item.state === ItemState.UNSENT) {
        item.state = ItemState.SENT;
        out.push(item);
      }
    }
    this.unsentFrom = this.items.length;
    return out;
  }

  /**
   * The frames of the items not yet written on this connection, in order (marked sent), ready to
   * write: consecutive frames in one slab as one view, with what `before(item)` returns (a frame
   * to go first, e.g. its source's announcement) in between.
   */
  takeUnsentFrames(before: (item: Outbound) => Uint8Array | null): Uint8Array[] {
    const out: Uint8Array[] = [];
    let buf: Uint8Array | null = null;
    let from = 0;
    let to = 0;
    for (const item of this.takeUnsent()) {
      const first = before(item);
      if (first || item.buf !== buf || item.at !== to) {
        if (buf) out.push(buf.subarray(from, to));
        if (first) out.push(first);
        buf = item.buf;
        from = item.at;
        to = item.at;
      }
      to += item.len;
    }
    if (buf) out.push(buf.subarray(from, to));
    return out;
  }

  /** A fragment done but kept until its message ends: it no longer counts against the windows. */
  markDone(item: Outbound): void {
    if (item.state === ItemState.DONE) return;
    item.state = ItemState.DONE;
    this.uncount(item);
  }

  private uncount(item: Outbound): void {
    this.bytes -= item.len;
    const cell = this.perDest.get(item.dest);
    if (!cell) return;
    cell.bytes -= item.len;
    if (cell.bytes <= 0) this.perDest.delete(item.dest);
  }

  /** Remove a settled item; returns it (undefined if it was not here). */
  remove(seq: number): Outbound | undefined {
    const i = this.indexOf(seq);
    if (i < 0) return undefined;
    const item = this.items[i]!;
    this.items[i] = null;
    this.count--;
    if (item.state !== ItemState.DONE) this.uncount(item);
    this.compact();
    return item;
  }

  /** Items with sequence numbers in (from, to], in order. */
  range(from: number, to: number): Outbound[] {
    const out: Outbound[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (!item || item.seq <= from) continue;
      if (item.seq > to) break;
      out.push(item);
    }
    return out;
  }

  /** A new connection: what the peer has not taken is to be written again. */
  rewind(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item && item.state === ItemState.SENT) item.state = ItemState.UNSENT;
    }
    this.unsentFrom = this.head;
  }

  /** Remove and return everything (the link gave up); sequence numbers go on. */
  takeAll(): Outbound[] {
    const out = this.items.slice(this.head).filter((i): i is Outbound => i !== null);
    this.items = [];
    this.head = 0;
    this.unsentFrom = 0;
    this.count = 0;
    this.perDest.clear();
    this.bytes = 0;
    return out;
  }

  /** The lowest sequence number still here, or nextSeq when empty. */
  get firstSeq(): number {
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]) return this.items[i]!.seq;
    return this.nextSeq;
  }

  private indexOf(seq: number): number {
    // items are in seq order with no gaps in seq between head and the end (nulls mark removed ones)
    const first = this.items[this.head]?.seq;
    if (first !== undefined) {
      const i = this.head + (seq - first);
      return i >= this.head && i < this.items.length && this.items[i]?.seq === seq ? i : -1;
    }
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]?.seq === seq) return i;
    return -1;
  }

  private compact(): void {
    while (this.head < this.items.length && this.items[this.head] === null) this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.unsentFrom = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.unsentFrom = Math.max(0, this.unsentFrom - this.head);
      this.head = 0;
    }
  }
}
