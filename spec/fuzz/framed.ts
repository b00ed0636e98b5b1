/**
 * Helpers for fuzzing the request/response frame protocols (control socket,
 * name-server TCP port): whether a byte stream forms whole frames (so the
 * server will act on all of it, or close, rather than wait for more), the
 * sentinel that tells when the server has dispatched everything before it,
 * and the outcome label of a request.
 */
import { decodeValue } from '../../lib/protocol/cbor.js';
import { FAILURE, RESULT } from '../../lib/protocol/connection.js';
import { FRAME_HEADER, FRAME_PREFIX } from '../../lib/protocol/frame.js';
import type { FuzzConn } from './wire.js';

/** Ids the fuzzer uses for its own sentinels (case ids stay below). */
export const SENTINEL_ID = 0x7fff_ff00;

export type Completeness = 'whole' | 'partial' | 'refused';

/** 'whole': the bytes are complete frames; 'partial': the server waits for more; 'refused': a length it refuses. */
export function completeness(bytes: Uint8Array, maxFrame: number): Completeness {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off + FRAME_PREFIX <= view.length) {
    const len = view.readUInt32BE(off);
    if (len > maxFrame || len < FRAME_HEADER) return 'refused';
    if (off + FRAME_PREFIX + len > view.length) return 'partial';
    off += FRAME_PREFIX + len;
  }
  return off === view.length ? 'whole' : 'partial';
}

/** What became of request `id` on `conn`: "RESULT", "FAILURE <code>", "closed" or "unanswered". */
export function outcome(conn: FuzzConn, id: number): string {
  const f = conn.answer(id);
  if (f?.type === RESULT) return 'RESULT';
  if (f?.type === FAILURE) {
    try {
      const b = decodeValue<{ code?: unknown }>(f.body);
      return `FAILURE ${typeof b?.code === 'string' ? b.code : '?'}`;
    } catch {
      return 'FAILURE (undecodable)';
    }
  }
  return conn.closed ? 'closed' : 'unanswered';
}

/** The message of a FAILURE answer to `id` ('' when there is none). */
export function failureMessage(conn: FuzzConn, id: number): string {
  const f = conn.answer(id);
  if (f?.type !== FAILURE) return '';
  try {
    return String(decodeValue<{ message?: unknown }>(f.body)?.message ?? '');
  } catch {
    return '';
  }
}

export type Ending = 'sentinel' | 'end' | 'destroy' | 'linger';

/**
 * Finish a connection the way a case says: after whole frames, send the
 * sentinel and wait for its answer (or the close); after a partial frame,
 * half-close, drop, or linger a moment first. `sentinel` must be a request
 * the server answers in every state (or closes on).
 */
export async function finish(conn: FuzzConn, ending: Ending, sentinel: Uint8Array, waitMs = 5000): Promise<'done' | 'closed' | 'timeout'> {
  switch (ending) {
    case 'sentinel': {
      if (!conn.write(sentinel)) return 'closed';
      return conn.until(() => conn.answer(SENTINEL_ID) !== undefined, waitMs);
    }
    case 'end': {
      conn.end();
      const closed = await conn.closedWithin(waitMs);
      conn.destroy();
      return closed ? 'closed' : 'timeout';
    }
    case 'linger': {
      const closed = await conn.closedWithin(25);
      conn.destroy();
      return closed ? 'closed' : 'done';
    }
    default:
      conn.destroy();
      return 'done';
  }
}

/** The ending of a case whose bytes are `c` complete. */
export function endingFor(c: Completeness, pick: number): Ending {
  if (c === 'whole') return 'sentinel';
  if (c === 'refused') return 'end'; // the server closes at once; waiting says so
  return (['end', 'destroy', 'linger'] as const)[pick % 3]!;
}
