/**
 * OutboundQueue: the messages of one link that the peer has not acknowledged
 * yet, in sequence order. A message stays here from the moment the router
 * hands it over until the peer acknowledges it (delivered or bounced by the
 * peer), so after a reconnect everything past the peer's last ack is sent
 * again, and the peer drops what it already took by sequence number.
 * Bounded in bytes: when full, the router pauses the sender.
 */
import { DATA_OVERHEAD, LinkFrame, encodeRecordFrame } from '../../protocol/link-frames.js';

export interface Outbound {
  seq: number;
  frame: Buffer;
}

export class OutboundQueue {
  private items: Outbound[] = [];
  private head = 0;
  private nextSeq = 1;
  /** Index of the first item not yet written on the current connection. */
  private unsent = 0;
  bytes = 0;

  constructor(readonly maxBytes: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** Append a record; returns its frame. */
  push(recordType: number, body: Uint8Array): Outbound {
    const item = { seq: this.nextSeq++, frame: encodeRecordFrame(LinkFrame.DATA, this.nextSeq - 1, recordType, body) };
    this.items.push(item);
    this.bytes += item.frame.length;
    return item;
  }

  /** Frames not yet written on this connection (marks them written). */
  takeUnsent(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = Math.max(this.unsent, this.head); i < this.items.length; i++) out.push(this.items[i]!.frame);
    this.unsent = this.items.length;
    return out;
  }

  /** The peer took everything up to `seq`: drop it. Returns how many were dropped. */
  ack(seq: number): number {
    let n = 0;
    while (this.head < this.items.length && this.items[this.head]!.seq <= seq) {
      this.bytes -= this.items[this.head]!.frame.length;
      this.head++;
      n++;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.unsent = Math.max(0, this.unsent - this.head);
      this.head = 0;
    }
    return n;
  }

  /** A new connection: everything unacknowledged is to be written again. */
  rewind(): void {
    this.unsent = this.head;
  }

  /** Remove and return everything (the link gave up); sequence numbers go on. */
  takeAll(): Outbound[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.unsent = 0;
    this.bytes = 0;
    return out;
  }

  /** The record (type, body) a queued frame carries. */
  static recordOf(o: Outbound): { recordType: number; body: Uint8Array } {
    return { recordType: o.frame.readUInt32LE(DATA_OVERHEAD - 4), body: o.frame.subarray(DATA_OVERHEAD) };
  }
}
