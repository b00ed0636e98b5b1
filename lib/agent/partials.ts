/**
 * Partials: the fragmented messages one LocalSink is receiving, by source
 * (`node:local`), and what it has decided about each: bytes so far, refused
 * (then the rest of the message is refused alike, so the sender's report is
 * whole), and whether its first fragment is already in the ring (a streamed
 * message, which is never cut). The bytes of unfinished messages are capped
 * per instance, so senders that die mid-message cannot make it hold memory.
 */
import { Frag } from '../native/index.js';
import { BounceReason } from '../protocol/envelope.js';

interface Partial {
  bytes: number;
  /** refused (why): the rest of the message is refused alike */
  refused: BounceReason | 0;
  /** its first fragment is in the ring (a streamed message) */
  started: boolean;
}

/** What `track` says of a fragment: > 0 a BounceReason (refuse it), or one of these. */
export const Track = {
  /** go on: place or gather it */
  GO: 0,
  /** a continuation of a streamed message whose start is in the ring already */
  STREAMING: -1,
} as const;

export class Partials {
  private readonly byKey = new Map<string, Partial>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * One fragment of the message from `key` (`total`: the whole message's
   * length as its envelope says, for the cap). A new message is refused with
   * `refuseNew`, or QUEUE_FULL when it would take the instance past its cap.
   */
  track(key: string, frag: Frag, total: number, bytes: number, refuseNew: BounceReason | 0): number {
    let p = this.byKey.get(key);
    if (frag === Frag.BEGIN) {
      if (p) this.drop(key); // a new message: its source ended the old one
      const over = this.bytes + total > this.maxBytes ? BounceReason.QUEUE_FULL : 0;
      p = { bytes: 0, refused: refuseNew || over, started: false };
      this.byKey.set(key, p);
    }
    if (!p) return Track.GO; // a continuation whose start this sink never saw: the reader drops it
    const refused = p.refused;
    if (frag === Frag.END) this.drop(key);
    else {
      p.bytes += bytes;
      this.bytes += bytes;
    }
    if (refused) return refused;
    return p.started ? Track.STREAMING : Track.GO;
  }

  /** A fragment the ring cannot take at all: its message is refused TOO_BIG, the rest of it alike. */
  tooBig(key: string, frag: Frag): BounceReason {
    if (frag === Frag.BEGIN) {
      this.drop(key);
      this.byKey.set(key, { bytes: 0, refused: BounceReason.TOO_BIG, started: false });
    } else if (frag !== Frag.COMPLETE) {
      this.refuse(key, BounceReason.TOO_BIG);
      if (frag === Frag.END) this.drop(key);
    }
    return BounceReason.TOO_BIG;
  }

  /** The rest of the message from `key` is refused with `reason` (if it is still coming). */
  refuse(key: string, reason: BounceReason): void {
    const p = this.byKey.get(key);
    if (p) p.refused = reason;
  }

  /** The first fragment of the message from `key` went into the ring. */
  started(key: string): void {
    const p = this.byKey.get(key);
    if (p) p.started = true;
  }

  drop(key: string): void {
    const p = this.byKey.get(key);
    if (!p) return;
    this.bytes -= p.bytes;
    this.byKey.delete(key);
  }

  clear(): void {
    this.byKey.clear();
    this.bytes = 0;
  }
}
