/**
 * The 16-byte envelope at the start of every data record body (and of every
 * fragment) in the rings:
 *
 *   0  u32 node    app->agent: destination node; agent->app: source node (stamped by the agent)
 *   4  u32 local   app->agent: destination local id; agent->app: source local id
 *   8  u32 flags   bit 0 CBOR value, bit 1 request, bit 2 reply, bit 3 error reply,
 *                  bits 16-23 bounce reason (BOUNCE records)
 *   12 u32 corr    request/reply correlation id
 *
 * Record kinds (low 24 bits of the ring record type) say what the body is.
 */

export const ENVELOPE_BYTES = 16;

export const RecordKind = {
  /** a message between instances */
  DATA: 1,
  /** agent -> app: a message this instance sent that could not be delivered */
  BOUNCE: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const Flag = {
  CBOR: 1,
  REQUEST: 2,
  REPLY: 4,
  ERROR_REPLY: 8,
} as const;

/** Why a message was not delivered (bits 16-23 of a BOUNCE's flags). */
export const BounceReason = {
  NO_ROUTE: 1,
  OFFLINE: 2,
  LINK_DOWN: 3,
  QUEUE_FULL: 4,
  CROSS_GAME: 5,
} as const;
export type BounceReason = (typeof BounceReason)[keyof typeof BounceReason];

export const BOUNCE_REASON_NAMES: Record<BounceReason, UndeliverableReason> = {
  1: 'no_route',
  2: 'offline',
  3: 'link_down',
  4: 'queue_full',
  5: 'cross_game',
};
export type UndeliverableReason = 'no_route' | 'offline' | 'link_down' | 'queue_full' | 'cross_game';

export const bounceFlags = (flags: number, reason: BounceReason): number => ((flags & 0xffff) | (reason << 16)) >>> 0;
export const bounceReasonOf = (flags: number): BounceReason => ((flags >>> 16) & 0xff) as BounceReason;

/** Write an envelope at `at` in `buf`. */
export function writeEnvelope(view: DataView, at: number, node: number, local: number, flags: number, corr: number): void {
  view.setUint32(at, node, true);
  view.setUint32(at + 4, local, true);
  view.setUint32(at + 8, flags, true);
  view.setUint32(at + 12, corr, true);
}
