/**
 * The envelope: the first 24 bytes of every data record body (and of every
 * fragment) in the rings and on agent links. This file is its only codec:
 * nothing else reads or writes these offsets.
 *
 *   0  u32 node    app -> agent: destination node; agent -> app: source node (stamped by the agent);
 *                  on a link: the source's local id
 *   4  u32 local   app -> agent: destination local id; agent -> app: source local id;
 *                  on a link: the destination's local id
 *   8  u32 flags   bit 0 CBOR value, bit 1 request, bit 2 reply, bit 3 error reply,
 *                  bit 4 abort (the fragmented message from this source ends here, unfinished),
 *                  bit 5 pair marker (its sender's later messages to this destination come through
 *                  a pair ring the agent made: pair-marker.ts; never handed to messages$),
 *                  bit 6 headers (the payload starts with a header block: u16 length n, n bytes of
 *                  a CBOR map of strings, then the value: headers.ts; set only where the payload
 *                  starts at the message's first byte: a report of a message's tail clears it),
 *                  bits 16-23 bounce reason (BOUNCE records)
 *   12 u32 corr    request/reply correlation id; in a fragmented plain message, its number among
 *                  its sender's (so reports of several large messages reassemble apart)
 *   16 u32 epoch   the agent incarnation the address belongs to: app -> agent, the epoch of
 *                  the local agent that handed out the destination ref; agent -> app, that
 *                  agent's epoch; on a link, the receiving agent's epoch. An address from
 *                  another incarnation is stale and bounces `offline`, never delivered.
 *   20 u32 aux     in a fragment of a DATA message: the message's whole payload length (so a reader
 *                  can take a message that fits its ring only once it is complete); on a link, in a
 *                  BOUNCE record: the sequence number of the frame it refuses (0: a bounce of a
 *                  message that had been delivered to a ring)
 *
 * Record kinds (low 24 bits of the ring record type) say what the body is.
 */

export const ENVELOPE_BYTES = 24;

export const RecordKind = {
  /** a message between instances */
  DATA: 1,
  /** a message an instance sent that could not be delivered, back at its sender */
  BOUNCE: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const Flag = {
  CBOR: 1,
  REQUEST: 2,
  REPLY: 4,
  ERROR_REPLY: 8,
  ABORT: 16,
  /** A pair-ring marker (pair-marker.ts): not a message; it opens the ring its payload names. */
  PAIR: 32,
  /** The payload starts with a header block (headers.ts). */
  HEADERS: 64,
} as const;

/** Why a message was not delivered (bits 16-23 of a BOUNCE's flags). */
export const BounceReason = {
  NO_ROUTE: 1,
  OFFLINE: 2,
  LINK_DOWN: 3,
  QUEUE_FULL: 4,
  CROSS_GAME: 5,
  /** Truly undecidable: an agent died holding it unacknowledged; it may have been delivered. */
  IN_DOUBT: 6,
  /** The sender's own agent died before taking it: not delivered. */
  AGENT_LOST: 7,
  /** The destination's app or game has too many bytes waiting in its agent (a configured limit). */
  LIMIT: 8,
  /** A record larger than the destination's rings take (its agent runs with a smaller --ring-bytes). */
  TOO_BIG: 9,
} as const;
export type BounceReason = (typeof BounceReason)[keyof typeof BounceReason];

/** Why a message came back on undeliverable$ (`in_doubt`: it may have been delivered; every other reason: it was not). */
export type UndeliverableReason = 'no_route' | 'offline' | 'link_down' | 'queue_full' | 'cross_game' | 'in_doubt' | 'agent_lost' | 'limit' | 'too_big';

export const BOUNCE_REASON_NAMES: Record<BounceReason, UndeliverableReason> = {
  1: 'no_route',
  2: 'offline',
  3: 'link_down',
  4: 'queue_full',
  5: 'cross_game',
  6: 'in_doubt',
  7: 'agent_lost',
  8: 'limit',
  9: 'too_big',
};

export const bounceFlags = (flags: number, reason: BounceReason): number => ((flags & 0xffff) | (reason << 16)) >>> 0;
export const bounceReasonOf = (flags: number): BounceReason => ((flags >>> 16) & 0xff) as BounceReason;

const OFF_NODE = 0;
const OFF_LOCAL = 4;
const OFF_FLAGS = 8;
const OFF_CORR = 12;
const OFF_EPOCH = 16;
const OFF_AUX = 20;

const get = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function put(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** Field readers and writers on a record body (the envelope starts at byte 0). */
export const envNode = (b: Uint8Array, at = 0): number => get(b, at + OFF_NODE);
export const envLocal = (b: Uint8Array, at = 0): number => get(b, at + OFF_LOCAL);
export const envFlags = (b: Uint8Array, at = 0): number => get(b, at + OFF_FLAGS);
export const envCorr = (b: Uint8Array, at = 0): number => get(b, at + OFF_CORR);
export const envEpoch = (b: Uint8Array, at = 0): number => get(b, at + OFF_EPOCH);
export const envAux = (b: Uint8Array, at = 0): number => get(b, at + OFF_AUX);

/** Fragmented messages at most this long are delivered and bounced whole: a reader takes them
 * only once complete, a link settles their fragments together. Larger ones are streamed. */
export const WHOLE_MESSAGE_MAX = 256 * 1024;

/** Set the address fields (node, local) of the envelope at `at`. */
export function setEnvAddress(b: Uint8Array, node: number, local: number, at = 0): void {
  put(b, at + OFF_NODE, node);
  put(b, at + OFF_LOCAL, local);
}
/** Stamp the source address and epoch into the envelope that starts at `at` in `b` (a staging batch). */
export function stampSource(b: Uint8Array, at: number, node: number, local: number, epoch: number): void {
  put(b, at + OFF_NODE, node);
  put(b, at + OFF_LOCAL, local);
  put(b, at + OFF_EPOCH, epoch);
}
export const setEnvFlags = (b: Uint8Array, flags: number): void => put(b, OFF_FLAGS, flags);
export const setEnvEpoch = (b: Uint8Array, epoch: number, at = 0): void => put(b, at + OFF_EPOCH, epoch);
export const setEnvAux = (b: Uint8Array, aux: number): void => put(b, OFF_AUX, aux);

/** Write a whole envelope at the start of `b` (or at `at`: a record in a batch, with no view made for it). */
export function writeEnvelope(b: Uint8Array, node: number, local: number, flags: number, corr: number, epoch: number, aux = 0, at = 0): void {
  put(b, at + OFF_NODE, node);
  put(b, at + OFF_LOCAL, local);
  put(b, at + OFF_FLAGS, flags);
  put(b, at + OFF_CORR, corr);
  put(b, at + OFF_EPOCH, epoch);
  put(b, at + OFF_AUX, aux);
}

/** The body of a bounce for `body`: a copy with the reason in its flags and the
 * address (node, local) set to the destination the sender had addressed. */
export function bounceBody(body: Uint8Array, reason: BounceReason, node: number, local: number, epoch: number, withPayload = true): Uint8Array {
  const out = new Uint8Array(withPayload ? body.length : ENVELOPE_BYTES);
  out.set(withPayload ? body : body.subarray(0, ENVELOPE_BYTES));
  setEnvAddress(out, node, local);
  put(out, OFF_FLAGS, bounceFlags(get(body, OFF_FLAGS), reason));
  put(out, OFF_EPOCH, epoch);
  put(out, OFF_AUX, 0);
  return out;
}
