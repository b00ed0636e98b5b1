/**
 * Agent-link frames: the generic length-prefixed frame (frame.ts) with
 * these types. Pure encoders; decoding is FrameDecoder plus the helpers here,
 * so the codec can be fuzzed without sockets.
 *
 * Handshake (the dialer D sends data to the acceptor A on this connection):
 *   A -> D  CHALLENGE  cbor { agentId: A, nonce: nA }
 *   D -> A  HELLO      cbor { agentId: D, address, session, nonce: nD, proof: HMAC(secret, 'd'|nA|D|A) }
 *           (address: where D listens, so A can dial back to answer a sender it never watched)
 *   A -> D  WELCOME    cbor { proof: HMAC(secret, 'a'|nD|A|D), acked }   (acked: last seq of `session` A took)
 * A wrong proof closes the connection (logged). D checks that A's agentId is
 * the one the registry placed at that address.
 *
 * Data (D -> A), frame id = per-link sequence number (1, 2, ...):
 *   DATA    body = u32 LE ring record type | record body whose envelope holds
 *           (src localId, dest localId, flags, corr) instead of (node, local, ...)
 * Control (A -> D):
 *   ACK     id = highest sequence number taken (cumulative)
 *   BOUNCE  id = seq, body as DATA with the bounce reason in the flags
 * Both ways: PING / PONG, id = a token echoed back (RTT).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FRAME_HEADER, FRAME_PREFIX } from './frame.js';

export const LinkFrame = {
  CHALLENGE: 1,
  HELLO: 2,
  WELCOME: 3,
  DATA: 10,
  ACK: 11,
  BOUNCE: 12,
  PING: 13,
  PONG: 14,
} as const;
export type LinkFrame = (typeof LinkFrame)[keyof typeof LinkFrame];

/** Bytes a DATA/BOUNCE frame adds before the record body. */
export const DATA_OVERHEAD = FRAME_PREFIX + FRAME_HEADER + 4;

/** A link frame is at most one ring record plus headers; this leaves room for large rings. */
export const LINK_MAX_FRAME = 4 * 1024 * 1024;

export function linkProof(secret: string, role: 'd' | 'a', nonce: Uint8Array, self: string, peer: string): Uint8Array {
  return createHmac('sha256', secret).update(role).update(nonce).update(`\0${self}\0${peer}`).digest();
}

export function checkLinkProof(secret: string, role: 'd' | 'a', nonce: Uint8Array, self: string, peer: string, proof: unknown): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== 32) return false;
  return timingSafeEqual(linkProof(secret, role, nonce, self, peer), proof);
}

/** A DATA or BOUNCE frame carrying one record. */
export function encodeRecordFrame(frameType: number, seq: number, recordType: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(DATA_OVERHEAD + body.length);
  out.writeUInt32BE(FRAME_HEADER + 4 + body.length, 0);
  out.writeUInt16BE(frameType, 4);
  out.writeUInt32BE(seq >>> 0, 6);
  out.writeUInt32LE(recordType >>> 0, 10);
  out.set(body, DATA_OVERHEAD);
  return out;
}

/** A frame with no body (ACK, PING, PONG). */
export function encodeBareFrame(frameType: number, id: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_PREFIX + FRAME_HEADER);
  out.writeUInt32BE(FRAME_HEADER, 0);
  out.writeUInt16BE(frameType, 4);
  out.writeUInt32BE(id >>> 0, 6);
  return out;
}

/** Split a DATA/BOUNCE frame body into record type and record body; null when too short. */
export function decodeRecordBody(body: Uint8Array): { recordType: number; record: Uint8Array } | null {
  if (body.length < 4 + 16) return null;
  const recordType = (body[0]! | (body[1]! << 8) | (body[2]! << 16) | (body[3]! << 24)) >>> 0;
  return { recordType, record: body.subarray(4) };
}
