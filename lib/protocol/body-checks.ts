/**
 * Field checks for protocol bodies, shared by the decoders of every protocol
 * (control-bodies.ts for the control socket, ns-bodies.ts and ns-records.ts
 * for the name server, link-bodies.ts for the link handshake). Each returns
 * what it accepted or throws ProtocolError: a body of that shape is one no
 * correct peer sends (proof() throws AuthError: see there). Nothing here
 * throws a TypeError, whatever the value (a hostile map's getters are never
 * called: CBOR decodes to plain data).
 */
import { PROOF_BYTES } from './auth.js';
import { AuthError, CrossGameError, InvalidNameError, ProtocolError } from './errors.js';
import { OfflineReason, type ConflictStrategy } from './registry-messages.js';
import { capsList } from './versions.js';

export type Body = Record<string, unknown>;

/** Versions, local ids, node numbers, epochs, watch ids: u32 on the wire and in the rings. */
export const U32 = 0xffffffff;
/** Agent ids, as the name server takes them. */
export const MAX_AGENT_ID = 256;
/** A peer-link address (host:port, '' for none), as the name server takes it in a record. */
export const MAX_ADDRESS = 256;

const REASONS: ReadonlySet<string> = new Set(Object.values(OfflineReason));

export function object(value: unknown, what: string): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError(`${what} must be a map`);
  }
  return value as Body;
}

export function text(body: Body, field: string, max = 256, min = 1): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length < min || v.length > max) {
    throw new ProtocolError(`'${field}' must be a string of ${min}..${max} characters`);
  }
  return v;
}

export function optionalText(body: Body, field: string, max = 256): string | undefined {
  return body[field] === undefined || body[field] === null ? undefined : text(body, field, max);
}

export function integer(body: Body, field: string, min = 0, max = 0xffffffff): number {
  const v = body[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(`'${field}' must be an integer in ${min}..${max}`);
  }
  return v;
}

export function optionalInteger(body: Body, field: string, min: number, max: number): number | undefined {
  return body[field] === undefined || body[field] === null ? undefined : integer(body, field, min, max);
}

export function bytes(body: Body, field: string, max = 1024, min = 1): Uint8Array {
  const v = body[field];
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) {
    throw new ProtocolError(`'${field}' must be a byte string of ${min}..${max} bytes`);
  }
  return v;
}

export function boolean(body: Body, field: string): boolean {
  const v = body[field];
  if (typeof v !== 'boolean') throw new ProtocolError(`'${field}' must be true or false`);
  return v;
}

/**
 * An HMAC-SHA256 proof (auth.ts, ns-auth.ts). One of the wrong shape is a
 * wrong proof, as far as the other side is told: AuthError, not ProtocolError.
 */
export function proof(body: Body, field = 'proof'): Uint8Array {
  const v = body[field];
  if (!(v instanceof Uint8Array) || v.length !== PROOF_BYTES) throw new AuthError(`a proof is ${PROOF_BYTES} bytes`);
  return v;
}

/** The protocol versions a side speaks (`v` its max, `vmin` its min; both optional): agreed by versions.ts agreeVersion. */
export function versions(b: Body): { v?: number; vmin?: number; caps?: string[] } {
  const v = optionalInteger(b, 'v', 1, U32);
  const vmin = optionalInteger(b, 'vmin', 1, U32);
  return { ...(v === undefined ? {} : { v }), ...(vmin === undefined ? {} : { vmin }), ...(b.caps === undefined ? {} : { caps: capsList(b.caps) }) };
}

/** An empty body, or an answer with nothing in it. */
export type Empty = Record<string, never>;

/** A map; nothing in it is read (a request or answer with nothing to say). */
export function empty(value: unknown): Empty {
  object(value, 'the body');
  return {};
}

/** An array field (its items are the caller's to check). */
export function list(body: Body, field: string): unknown[] {
  const v = body[field];
  if (!Array.isArray(v)) throw new ProtocolError(`'${field}' must be an array`);
  return v;
}

export function conflict(value: unknown): ConflictStrategy {
  if (value !== 'reject' && value !== 'replace') throw new ProtocolError(`'conflict' must be 'reject' or 'replace'`);
  return value;
}

export function offlineReason(value: unknown): OfflineReason {
  if (typeof value !== 'string' || !REASONS.has(value)) {
    throw new ProtocolError(`'reason' must be one of ${[...REASONS].join(', ')}`);
  }
  return value as OfflineReason;
}

/**
 * A name the other side was to check before sending it (the agent and the
 * name server hand out only names they accepted): a bad one is that side's
 * fault, so a ProtocolError, not the InvalidNameError or CrossGameError an
 * app gets for a name it chose. `decode` may check a whole record of names.
 */
export function checkedName<T>(decode: (value: unknown) => T, value: unknown): T {
  try {
    return decode(value);
  } catch (err) {
    if (err instanceof InvalidNameError || err instanceof CrossGameError) throw new ProtocolError(err.message);
    throw err;
  }
}
