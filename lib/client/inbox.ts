/**
 * Inbox: reads one ring an instance reads (its rx ring, or a pair ring:
 * pair-reader.ts) and turns its records into what they mean: a message for
 * `messages$`, a reply to one of its requests, or a bounce of something it
 * sent, reassembling fragments on the way. A pair marker in the rx ring
 * (pair-marker.ts) is none of these: it is taken when the walk reaches it,
 * held messages or not, and handed to the sink to open its ring.
 *
 * A record leaves the ring only by being taken (a compare-and-swap of its
 * taken bit) right before it is handed out, so if the app dies the agent
 * bounces exactly the messages it never handed out. A message nobody can take
 * yet (no `messages$` subscriber, or the instance is closing) stays in the
 * ring, unreleased, and so does every message after it; replies and bounces
 * behind it are still read. When a subscriber comes, the held messages are
 * handed out first, in order.
 *
 * A fragmented message that fits a quarter of the ring (WHOLE_MESSAGE_MAX at
 * most) is taken whole: its fragments are copied as they come and all taken
 * at once when its last one is there, so it is delivered whole or bounced
 * whole. A larger one is taken fragment by fragment as it streams in.
 */
import { Frag, fragOf, kindOf, Layout, Reassembler, recordType, type Ring } from '../native/index.js';
import { ENVELOPE_BYTES, envAux, envCorr, envEpoch, envFlags, envLocal, envNode, Flag, RecordKind, WHOLE_MESSAGE_MAX } from '../protocol/envelope.js';

/** The one writer of a pair ring: its records are from it, whatever their envelopes say. */
export interface PairSource {
  node: number;
  local: number;
  epoch: number;
}

const WHOLE_DATA = recordType(RecordKind.DATA, Frag.COMPLETE);

/** Where an Inbox delivers. `payload` is a copy unless zero-copy applies (a view valid during the call). */
export interface InboxSink {
  /** Can a message be handed out now (someone subscribed, not closing)? */
  canDeliver(): boolean;
  message(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void;
  reply(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void;
  bounce(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void;
  /** A pair marker (rx ring only; the agent stamped its sender): open the pair ring its payload names. */
  marker?(payload: Uint8Array, node: number, local: number, epoch: number): void;
}

/** A fragmented message being put together: where its records are (taken at its end, when whole). */
interface Assembly {
  begin: number;
  whole: boolean;
  positions: number[];
}

export class Inbox {
  private readonly messages = new Reassembler<string>();
  private readonly assembling = new Map<string, Assembly>();
  /** Bounce fragments by destination and message (corr): reports of several messages may interleave. */
  private readonly bounces = new Map<string, { parts: Uint8Array[]; tail: boolean }>();
  /** Position of the first message held back, or -1. */
  private holdFrom = -1;
  private readonly wholeMax: number;
  private readonly walker = (type: number, data: Uint8Array, start: number, len: number, pos: number): boolean => {
    // the common case first, with no view made for the record: a whole message that can be handed out now
    if (type === WHOLE_DATA && len >= ENVELOPE_BYTES && this.holdFrom < 0) {
      const flags = envFlags(data, start);
      if (!(flags & (Flag.REPLY | Flag.ABORT | Flag.PAIR)) && this.sink.canDeliver()) {
        this.handOut(type, data, start, len, pos, flags);
        return true;
      }
    }
    this.onRecord(type, data.subarray(start, start + len), pos, false);
    return true;
  };
  private readonly rescanner = (type: number, body: Uint8Array, pos: number): boolean => this.onRecord(type, body, pos, true);

  constructor(
    private ring: Ring,
    private readonly sink: InboxSink,
    private readonly zeroCopy: boolean,
    /** A pair ring's writer (its records carry messages and replies only); none for an rx ring. */
    private readonly source?: PairSource,
  ) {
    this.wholeMax = Math.min(WHOLE_MESSAGE_MAX, ring.capacity / 4);
  }

  /** Read what is waiting (and what was held, if it can go now). Returns the records looked at. */
  pump(budget = 256 * 1024): number {
    if (this.holdFrom >= 0 && this.sink.canDeliver()) this.rescan();
    const n = this.ring.walkRaw(this.walker, budget);
    let upTo = this.holdFrom >= 0 ? this.holdFrom : this.ring.cursor;
    for (const a of this.assembling.values()) if (a.whole && a.begin < upTo) upTo = a.begin;
    this.ring.releaseTo(upTo);
    return n;
  }

  /** Messages held in the ring for want of a subscriber. */
  get holding(): boolean {
    return this.holdFrom >= 0;
  }

  /** Records after the read position (none: read to the end of what was written). */
  get drained(): boolean {
    return !this.ring.available();
  }

  /** Large messages partly received. */
  get partials(): number {
    return this.messages.pending;
  }

  /** Hand out the held messages, in order, as far as they can go now. */
  private rescan(): void {
    const from = this.holdFrom;
    this.holdFrom = -1;
    this.ring.walkRange(from, this.ring.cursor, this.rescanner);
  }

  /** A source went offline: free its partial message. */
  forget(node: number, local: number): void {
    const key = `${node}:${local}`;
    this.messages.drop(key);
    const a = this.assembling.get(key);
    this.assembling.delete(key);
    if (a?.whole) for (const pos of a.positions) this.ring.take(pos); // discard what it left in the ring
  }

  /** The agent is gone: partial messages of its sources will never be finished. */
  reset(ring: Ring): void {
    this.ring = ring;
    this.holdFrom = -1;
    this.messages.clearAll();
    this.assembling.clear();
    this.bounces.clear();
  }

  private onRecord(type: number, body: Uint8Array, pos: number, rescan: boolean): boolean {
    if (type & Layout.TYPE_TAKEN) return true; // the agent took it (bounced at close), or we did (as the walker read it; take() decides)
    if (body.length < ENVELOPE_BYTES) {
      this.ring.take(pos);
      return true;
    }
    const kind = kindOf(type);
    const flags = envFlags(body);
    if (flags & Flag.PAIR) {
      // a marker: never a message, never held; in a pair ring (or not whole) it is nothing
      if (this.ring.take(pos) && !this.source && kind === RecordKind.DATA && fragOf(type) === Frag.COMPLETE) {
        this.sink.marker?.(body.subarray(ENVELOPE_BYTES), envNode(body), envLocal(body), envEpoch(body));
      }
      return true;
    }
    if (this.source && kind !== RecordKind.DATA) {
      this.ring.take(pos); // its writer has nothing else to say
      return true;
    }
    if (kind === RecordKind.DATA && !(flags & Flag.REPLY)) {
      if (this.holdFrom >= 0 || !this.sink.canDeliver()) {
        if (this.holdFrom < 0) this.holdFrom = pos;
        return !rescan; // a rescan stops at the first message that must wait again
      }
      this.onMessageRecord(type, body, pos, flags);
      return true;
    }
    if (!this.ring.take(pos)) return true;
    const node = this.nodeOf(body);
    const local = this.localOf(body);
    const payload = body.subarray(ENVELOPE_BYTES);
    if (kind === RecordKind.BOUNCE) {
      const whole = this.bounceChunk(`${node}:${local}:${envCorr(body)}`, fragOf(type), payload);
      // a report of a message's tail has no header block
      if (whole) this.sink.bounce(whole.payload, whole.tail ? flags & ~Flag.HEADERS : flags, node, local, envCorr(body), envEpoch(body));
    } else if (kind === RecordKind.DATA) {
      let whole: Uint8Array | null = payload.slice();
      if (fragOf(type) !== Frag.COMPLETE) {
        try {
          whole = this.messages.push(`reply:${node}:${local}`, type, payload);
        } catch {
          return true; // a broken reply: the request times out
        }
      }
      if (whole) this.sink.reply(whole, flags, node, local, envCorr(body), this.epochOf(body));
    }
    return true;
  }

  // the sender of a record: the pair ring's writer, or what the agent stamped
  private nodeOf(env: Uint8Array, at = 0): number {
    return this.source ? this.source.node : envNode(env, at);
  }

  private localOf(env: Uint8Array, at = 0): number {
    return this.source ? this.source.local : envLocal(env, at);
  }

  private epochOf(env: Uint8Array, at = 0): number {
    return this.source ? this.source.epoch : envEpoch(env, at);
  }

  /** A record of a message for `messages$`, which can be handed out now. */
  private onMessageRecord(type: number, body: Uint8Array, pos: number, flags: number): void {
    const frag = fragOf(type);
    if (frag === Frag.COMPLETE && !(flags & Flag.ABORT)) return this.handOut(type, body, 0, body.length, pos, flags);
    const node = this.nodeOf(body);
    const local = this.localOf(body);
    if (flags & Flag.ABORT) {
      this.ring.take(pos);
      this.forget(node, local);
      return;
    }
    const key = `${node}:${local}`;
    let a = this.assembling.get(key);
    if (frag === Frag.BEGIN) {
      if (a) this.forget(node, local); // a new message: the old one will never end
      const total = envAux(body);
      a = { begin: pos, whole: total > 0 && total <= this.wholeMax, positions: [] };
      this.assembling.set(key, a);
    } else if (!a) {
      this.ring.take(pos); // a continuation whose start we never saw: nothing to add it to
      return;
    }
    if (a.whole) a.positions.push(pos);
    else if (!this.ring.take(pos)) {
      // its writer's side took it back (a pair ring whose writer lost the agent: pair-writer.ts): the message is its again
      this.forget(node, local);
      return;
    }
    let whole: Uint8Array | null;
    try {
      whole = this.messages.push(key, type, body.subarray(ENVELOPE_BYTES));
    } catch {
      this.forget(node, local); // a broken fragment sequence from one source: its partial message is dropped
      return;
    }
    if (!whole) return;
    this.assembling.delete(key);
    if (a.whole) {
      let all = true;
      for (const p of a.positions) if (!this.ring.take(p)) all = false;
      if (!all) return; // the agent bounced part of it (we are closing): it is the sender's again
    }
    this.deliver(whole, flags, body);
  }

  /** A whole message, `data[start, start + len)`, that can go now: taken (unless the agent took it first), then handed out. */
  private handOut(type: number, data: Uint8Array, start: number, len: number, pos: number, flags: number): void {
    if (!this.ring.take(pos, type)) return;
    const from = start + ENVELOPE_BYTES;
    this.deliver(this.zeroCopy ? data.subarray(from, start + len) : data.slice(from, start + len), flags, data, start);
  }

  /** Hand out `payload`, from the sender named in the envelope at `at` in `env`. */
  private deliver(payload: Uint8Array, flags: number, env: Uint8Array, at = 0): void {
    this.sink.message(payload, flags, this.nodeOf(env, at), this.localOf(env, at), envCorr(env, at), this.epochOf(env, at));
  }

  /** Bounce fragments: collected per message; a report may begin mid-message (a streamed one: its `tail`). */
  private bounceChunk(key: string, frag: Frag, chunk: Uint8Array): { payload: Uint8Array; tail: boolean } | null {
    if (frag === Frag.COMPLETE) return { payload: chunk.slice(), tail: false };
    let b = this.bounces.get(key);
    if (frag === Frag.BEGIN || !b) {
      b = { parts: [], tail: frag !== Frag.BEGIN };
      this.bounces.set(key, b);
    }
    b.parts.push(chunk.slice());
    if (frag !== Frag.END) return null;
    this.bounces.delete(key);
    return { payload: b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts), tail: b.tail };
  }
}
