/**
 * CBOR for control bodies and user values (cbor-x). One encoder, configured
 * once: plain maps for objects, no record extension, so any CBOR peer can
 * read what rxmesh writes.
 */
import { Decoder, Encoder } from 'cbor-x';
import { ProtocolError } from './errors.js';

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

export function encodeValue(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decode CBOR; malformed input becomes a ProtocolError, never a crash. */
export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  try {
    return decoder.decode(bytes) as T;
  } catch (cause) {
    throw new ProtocolError(`malformed CBOR body (${(cause as Error).message})`, { cause });
  }
}
