/** Payloads: bytes travel raw; any other value is CBOR (flag CBOR set). */
import { decodeValue, encodeValue } from '../protocol/cbor.js';
import { Flag } from '../protocol/envelope.js';

export function encodePayload(value: unknown): { bytes: Uint8Array; flags: number } {
  if (value instanceof Uint8Array) return { bytes: value, flags: 0 };
  return { bytes: encodeValue(value), flags: Flag.CBOR };
}

export function decodePayload<T>(bytes: Uint8Array, flags: number): T {
  return (flags & Flag.CBOR ? decodeValue<T>(bytes) : bytes) as T;
}
