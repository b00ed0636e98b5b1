/**
 * Settlement of a link's outbound records by what the peer says about each:
 * done (it is in a ring there), pending (held there for a full destination),
 * refused or in doubt. A fragment of a message settled as one unit stays
 * queued, marked done, until the message's END settles: the message is then
 * done, or goes back whole. Every record's ticket settles exactly once.
 */
import { Frag, fragOf } from '../../native/index.js';
import { BounceReason } from '../../protocol/envelope.js';
import { ItemState, recordOf, type OutboundQueue, type Outbound } from './outbound-queue.js';
import { recordTypeAt } from '../../protocol/link-frames.js';

/** The counters a settlement moves (part of the link's stats). */
export interface SettlementCounts {
  done: number;
  bounces: number;
  inDoubt: number;
}

export class Settlement {
  /** Everything below this seq has been judged by an ACK or WELCOME. */
  private top = 0;

  /** @param node this agent's number for the peer (bounces name it as their source) */
  constructor(private readonly queue: OutboundQueue, private readonly counts: SettlementCounts, private readonly node: number) {}

  /** A WELCOME: everything below `top` is judged afresh (done unless `held`). */
  welcome(top: number, held: Set<number>): void {
    this.top = 0;
    this.taken(top, held);
  }

  /** An ACK up to `top`: items newly covered are done unless held. */
  taken(top: number, held: ReadonlySet<number>): void {
    if (top <= this.top) return;
    if (held.size === 0) {
      // the common ACK: everything newly covered is done (no list of the items made)
      for (let seq = Math.max(this.top, this.queue.firstSeq - 1) + 1; seq <= top; seq++) this.done(seq);
    } else {
      for (const item of this.queue.range(this.top, top)) {
        if (held.has(item.seq)) this.queue.hold(item);
        else this.done(item.seq);
      }
    }
    this.top = top;
  }

  /** The peer has `seq` done. */
  done(seq: number): void {
    const item = this.queue.get(seq);
    if (!item || item.state === ItemState.DONE) return;
    if (item.grouped && fragOf(recordTypeAt(item.buf, item.at)) !== Frag.END) {
      this.queue.markDone(item);
      return;
    }
    if (item.grouped) {
      for (const d of this.doneBefore(item)) {
        this.queue.remove(d.seq);
        this.counts.done++;
        d.ticket.done();
      }
    }
    this.queue.remove(seq);
    this.counts.done++;
    item.ticket.done();
  }

  /** The peer refused `seq`, or its outcome is in doubt. False if it was already settled. */
  refuse(seq: number, reason: BounceReason): boolean {
    const item = this.queue.get(seq);
    if (!item || item.state === ItemState.DONE) return false;
    if (item.grouped) {
      for (const d of this.doneBefore(item)) {
        this.queue.remove(d.seq);
        this.bounce(d, reason); // the message goes back whole
      }
    }
    this.queue.remove(seq);
    this.bounce(item, reason);
    return true;
  }

  /** The link is over: never written -> `unsent`; written -> IN_DOUBT. A message settled as one unit
   * goes back whole, with the reason of its first fragment not yet done. */
  failAll(unsent: BounceReason): void {
    const done = new Map<number, Outbound[]>();
    for (const item of this.queue.takeAll()) {
      if (item.state === ItemState.DONE) {
        done.set(item.src, [...(done.get(item.src) ?? []), item]);
        continue;
      }
      const reason = item.state === ItemState.UNSENT ? unsent : BounceReason.IN_DOUBT;
      if (item.grouped) for (const d of done.get(item.src) ?? []) this.bounce(d, reason);
      done.delete(item.src);
      this.bounce(item, reason);
    }
    for (const group of done.values()) for (const d of group) this.bounce(d, unsent);
  }

  /** The fragments of `item`'s message done before it (kept until the message ends), in order. */
  private doneBefore(item: Outbound): Outbound[] {
    return this.queue.range(0, item.seq - 1).filter((d) => d.state === ItemState.DONE && d.src === item.src);
  }

  private bounce(item: Outbound, reason: BounceReason): void {
    this.counts.bounces++;
    if (reason === BounceReason.IN_DOUBT) this.counts.inDoubt++;
    const { recordType, body } = recordOf(item);
    item.ticket.refuse(reason, recordType, Buffer.from(body), this.node, item.dest);
  }
}
