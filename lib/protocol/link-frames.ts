/**
 * Agent-link frames: the generic length-prefixed frame (frame.ts) with these
 * types. Pure encoders and decoders, so the codec can be fuzzed without sockets.
 *
 * Handshake (the dialer D sends data to the acceptor A on this connection; protocol 3;
 * the CBOR bodies' types and decoders, SOURCE's too, are in link-bodies.ts):
 *   A -> D  CHALLENGE  cbor { v, vmin, agentId: A, epoch: eA, nonce: nA }
 *   D -> A  HELLO      cbor { v, vmin, agentId: D, epoch: eD, address: aD, next, nonce: nD, proof: P('d') }
 *           aD: where D listens (so A can dial back with bounces); next: the first
 *           sequence number D will send
 *   A -> D  WELCOME    cbor { v, proof: P('a'), top, pending }
 *           top: the highest sequence number of D's incarnation eD that A has taken;
 *           pending: those at or below top whose outcome A still holds back
 *   P(role) = HMAC(secret, role | nA | nD | D | A | eD | eA | aD | aA | state), where aA
 *           is the address D dialled: A checks it against its own advertised address,
 *           so a peer is trusted only at the address where it proved itself (a relay
 *           that passes the handshake through is refused); state is what the sender
 *           says of the sequence numbers (HELLO: next; WELCOME: top and pending), so a
 *           relay cannot make A skip frames or D drop frames A never took.
 * D checks that A is the agent (id and incarnation) it meant to reach. After WELCOME
 * every byte in both directions is sealed under keys derived from the same facts
 * (link-seal.ts), unless the link runs inside TLS.
 *
 * Data (D -> A), frame id = per-link sequence number (1, 2, ...):
 *   DATA    body = u32 LE ring record type | record. The record's envelope holds, on a
 *           link, (source local id, destination local id, flags, corr, A's epoch, aux);
 *           a BOUNCE record (a refusal of one of A's frames, aux = its sequence number,
 *           or a bounce of a message delivered earlier, aux = 0) travels the same way.
 *   SOURCE  cbor { local, game }: before the first DATA of a source on a connection,
 *           so A can check every delivery is within the source's game.
 * Control (A -> D):
 *   ACK     id = top (highest sequence number taken, cumulative); body = three u32 LE
 *           lists (count, then items): newly pending (taken, outcome held back), now
 *           done (were pending), in doubt (A could not report their outcome).
 *           Every other number in (previous top, top] is done: in a ring, or refused
 *           by a BOUNCE that D has acknowledged.
 * Both ways: PING / PONG, id = a token echoed back (RTT).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FRAME_HEADER, FRAME_PREFIX } from './frame.js';
import type { HandshakeFacts } from './link-seal.js';
import { LINK_PROTOCOL } from './versions.js';

export const LinkFrame = {
  CHALLENGE: 1,
  HELLO: 2,
  WELCOME: 3,
  DATA: 10,
  ACK: 11,
  SOURCE: 12,
  PING: 13,
  PONG: 14,
} as const;
export type LinkFrame = (typeof LinkFrame)[keyof typeof LinkFrame];

/** The link protocol version this build speaks best (CHALLENGE/HELLO/WELCOME carry its range: versions.ts). */
export const LINK_VERSION = LINK_PROTOCOL.max;

/** Bytes a DATA frame adds before the record body. */
export const DATA_OVERHEAD = FRAME_PREFIX + FRAME_HEADER + 4;

/** A link frame is at most one ring record plus headers; this leaves room for large rings. */
export const LINK_MAX_FRAME = 4 * 1024 * 1024;

/** P(role) of the handshake described by `f` (see above). */
/** P(role) of the handshake described by `f`, covering `state` (helloState or welcomeState). */
export function linkProof(secret: string, role: 'd' | 'a', f: HandshakeFacts, state: string): Buffer {
  return createHmac('sha256', secret).update(role).update(f.acceptorNonce).update(f.dialerNonce)
    .update(`\0${f.dialer}\0${f.acceptor}\0${f.dialerEpoch}\0${f.acceptorEpoch}\0${f.dialerAddress}\0${f.acceptorAddress}\0${state}`).digest();
}

export function checkLinkProof(secret: string, role: 'd' | 'a', f: HandshakeFacts, state: string, proof: unknown): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== 32) return false;
  return timingSafeEqual(linkProof(secret, role, f, state), proof);
}

/** What a HELLO's proof says of the sequence numbers. */
export const helloState = (next: number): string => `next ${next}`;

/** What a WELCOME's proof says of the sequence numbers. */
export const welcomeState = (top: number, pending: readonly number[]): string => `top ${top} pending ${pending.join(',')}`;

/** A DATA frame carrying one record. */
export function encodeRecordFrame(seq: number, recordType: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(DATA_OVERHEAD + body.length);
  writeRecordFrame(out, 0, seq, recordType, body);
  return out;
}

/** Write a DATA frame carrying one record at `at` in `out` (a buffer of many frames); returns its length. */
export function writeRecordFrame(out: Uint8Array, at: number, seq: number, recordType: number, body: Uint8Array): number {
  putU32BE(out, at, FRAME_HEADER + 4 + body.length);
  out[at + 4] = (LinkFrame.DATA >>> 8) & 0xff;
  out[at + 5] = LinkFrame.DATA & 0xff;
  putU32BE(out, at + 6, seq >>> 0);
  const t = recordType >>> 0;
  out[at + 10] = t & 0xff;
  out[at + 11] = (t >>> 8) & 0xff;
  out[at + 12] = (t >>> 16) & 0xff;
  out[at + 13] = (t >>> 24) & 0xff;
  out.set(body, at + DATA_OVERHEAD);
  return DATA_OVERHEAD + body.length;
}

/** The record type of the DATA frame at `at` in `frames`. */
export const recordTypeAt = (frames: Uint8Array, at: number): number =>
  (frames[at + 10]! | (frames[at + 11]! << 8) | (frames[at + 12]! << 16) | (frames[at + 13]! << 24)) >>> 0;

function putU32BE(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** The record (type, body) inside an encoded DATA frame. */
export function recordOfFrame(frame: Uint8Array): { recordType: number; body: Uint8Array } {
  return { recordType: recordTypeAt(frame, 0), body: frame.subarray(DATA_OVERHEAD) };
}

/** A frame with no body (PING, PONG). */
export function encodeBareFrame(frameType: number, id: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_PREFIX + FRAME_HEADER);
  out.writeUInt32BE(FRAME_HEADER, 0);
  out.writeUInt16BE(frameType, 4);
  out.writeUInt32BE(id >>> 0, 6);
  return out;
}

/** Split a DATA frame body into record type and record body; null when too short. */
export function decodeRecordBody(body: Uint8Array, minRecord: number): { recordType: number; record: Uint8Array } | null {
  if (body.length < 4 + minRecord) return null;
  const recordType = (body[0]! | (body[1]! << 8) | (body[2]! << 16) | (body[3]! << 24)) >>> 0;
  return { recordType, record: body.subarray(4) };
}

export interface AckLists {
  pending: number[];
  done: number[];
  doubt: number[];
}

/** An ACK frame: cumulative top plus the three lists. */
export function encodeAck(top: number, lists: AckLists): Buffer {
  const n = 3 + lists.pending.length + lists.done.length + lists.doubt.length;
  const out = Buffer.allocUnsafe(FRAME_PREFIX + FRAME_HEADER + 4 * n);
  out.writeUInt32BE(FRAME_HEADER + 4 * n, 0);
  out.writeUInt16BE(LinkFrame.ACK, 4);
  out.writeUInt32BE(top >>> 0, 6);
  let at = FRAME_PREFIX + FRAME_HEADER;
  for (const list of [lists.pending, lists.done, lists.doubt]) {
    out.writeUInt32LE(list.length, at);
    at += 4;
    for (const seq of list) {
      out.writeUInt32LE(seq >>> 0, at);
      at += 4;
    }
  }
  return out;
}

/** The lists of an ACK body; null when malformed. */
export function decodeAck(body: Uint8Array): AckLists | null {
  if (body.length === 0) return { pending: [], done: [], doubt: [] };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const lists: number[][] = [];
  let at = 0;
  for (let i = 0; i < 3; i++) {
    if (at + 4 > body.length) return null;
    const count = view.getUint32(at, true);
    at += 4;
    if (at + 4 * count > body.length) return null;
    const list = new Array<number>(count);
    for (let j = 0; j < count; j++) list[j] = view.getUint32(at + 4 * j, true);
    at += 4 * count;
    lists.push(list);
  }
  if (at !== body.length) return null;
  return { pending: lists[0]!, done: lists[1]!, doubt: lists[2]! };
}
