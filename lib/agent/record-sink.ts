/**
 * The agent's record path, in the words every part of it uses.
 *
 * A record (one message, or one fragment of a large one) comes from an
 * **origin**: an app's tx ring (Source) or a peer agent's link (InboundSession).
 * The Router picks its **sink**: a local instance's rx ring (LocalSink) or the
 * link to the agent that hosts the destination (PeerLink). The sink answers
 * the offer at once:
 *
 *   TAKEN     copied into this round's staging; it is in the destination ring
 *             when the round ends (the sink checked the room first)
 *   DEFERRED  the sink keeps it (a full ring's wait list, a link's unacknowledged
 *             queue) and will settle the origin's Ticket later
 *   BLOCKED   the sink cannot even keep it: the origin pauses (Blocker) and
 *             offers it again when the sink lets its waiters go
 *   > 0       refused now: a BounceReason
 *
 * A Ticket is the origin's handle on one deferred record: `done()` once its
 * outcome is durable (in a destination ring, acknowledged by the peer, or its
 * bounce written back), `refuse(reason)` when it cannot be delivered. Only
 * then does the origin let the record go (an app's tx ring is released only
 * up to its first unsettled record, so after an agent crash the app knows
 * exactly which messages are in doubt).
 */
import type { BounceReason } from '../protocol/envelope.js';

export const Offer = {
  TAKEN: 0,
  DEFERRED: -1,
  BLOCKED: -2,
} as const;

/** What offer() returns: an Offer or a BounceReason (> 0). On TAKEN the offerer completes
 * its own record once the round has flushed (the sink does not call the ticket). */
export type OfferResult = number;

/** One deferred record's way back to its origin. Each is settled once. */
export interface Ticket {
  /** The record's outcome is durable: delivered into a ring, acknowledged by the peer, or its bounce written. */
  done(): void;
  /** The record cannot be delivered. `type`/`body` are the record as the sink holds it (its
   * payload is what the bounce carries); (`destNode`, `destLocal`) the address the sender used. */
  refuse(reason: BounceReason, type: number, body: Uint8Array, destNode: number, destLocal: number): void;
}

/** Where an offered record comes from: it hands out a Ticket when a sink defers the record. A sink calls
 * `ticket()` synchronously inside `offer()`, once, exactly when it keeps the record (limits.ts counts on it),
 * and settles that ticket exactly once (done or refuse). */
export interface Origin {
  ticket(): Ticket;
  /** It can pause on BLOCKED and offer the same record again later (an app's tx ring, whose records
   * wait there at no cost). A link cannot: for it BLOCKED is a refusal. */
  readonly pausable?: boolean;
}

/** Something an origin can be paused on until it has room again. */
export interface Blocker {
  /** Pause `waiter` until this blocker lets its waiters go. */
  block(waiter: Waiter): void;
}

export interface Waiter {
  /** The blocker has room again: offer the held record again (soon, in a round). */
  resume(): void;
}

export interface RecordSink extends Blocker {
  /**
   * Offer one record. `body` starts with the envelope as the origin holds it;
   * the sink stamps the source address (`srcNode`, `srcLocal`) into its copy.
   * `body` is valid only during the call unless the origin says otherwise.
   */
  offer(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult;
  /**
   * The fast way for a whole message still in a source's ring (body `data[start, start + len)`):
   * true if it was taken at once with nothing to settle later (TAKEN); false: offer() it instead.
   */
  quickAt(type: number, data: Uint8Array, start: number, len: number, srcNode: number, srcLocal: number): boolean;
}

/** A Ticket that does nothing: for records whose origin is gone (an orphaned bounce). */
export const NO_TICKET: Ticket = { done: () => {}, refuse: () => {} };
export const NO_ORIGIN: Origin = { ticket: () => NO_TICKET };

/** An Origin handing out one existing ticket (a bounce written on behalf of a deferred record). */
export const originOf = (ticket: Ticket): Origin => ({ ticket: () => ticket });
