/** Payloads: bytes travel raw; any other value is CBOR (flag CBOR set); headers go in front (flag HEADERS: headers.ts). */
import { decodeValue, encodeValue } from '../protocol/cbor.js';
import { Flag } from '../protocol/envelope.js';
import { withHeaderBlock } from '../protocol/headers.js';

/** The payload of `value`, with the header block `block` in front when there is one. */
export function encodePayload(value: unknown, block?: Uint8Array): { bytes: Uint8Array; flags: number } {
  const raw = value instanceof Uint8Array;
  const bytes = raw ? value : encodeValue(value);
  const flags = raw ? 0 : Flag.CBOR;
  return block === undefined ? { bytes, flags } : { bytes: withHeaderBlock(block, bytes), flags: flags | Flag.HEADERS };
}

export function decodePayload<T>(bytes: Uint8Array, flags: number): T {
  return (flags & Flag.CBOR ? decodeValue<T>(bytes) : bytes) as T;
}

