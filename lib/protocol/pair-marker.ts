/**
 * Pair rings: a ring an agent makes for one pair of its instances (A -> B,
 * same game, same Unix user), which A writes and B reads without the agent in
 * between. Its records have the rx-ring format: the envelope names the
 * *source* (node 0, A's local id, the agent's epoch), so B's Inbox reads it as
 * it reads its rx ring and the agent bounces what B left in it as it bounces
 * an rx ring.
 *
 * A switches to the ring with a **marker**: a DATA record with Flag.PAIR that
 * A sends to B through its tx ring (so through the agent, after every earlier
 * message to B) once the agent made the ring. Its payload names the ring and
 * A's doorbell. B opens the ring when it reads the marker, and reads it after
 * its rx ring from then on: FIFO per pair holds across the switch.
 *
 * This file is the ring's file name and the marker's payload codec, shared by
 * the agent (which checks every marker against the rings it made) and the
 * client (which writes and reads them).
 */
import { decodeValue, encodeValue } from './cbor.js';

/** The file name of pair ring `from` -> `to` made by agent incarnation `epoch`. */
export const pairRingName = (from: number, to: number, epoch: number): string => `p${from}-${to}.${epoch}.ring`;

/** What a dead agent may have left of pair rings in its directory (shm-dir.ts clears them). */
export const PAIR_RING_FILE = /^p\d+-\d+\.\d+\.ring$/;

/** A doorbell's file name (an app connection's: the agent names them `c<N>.bell`). */
export const CLIENT_BELL_FILE = /^c\d+\.bell$/;

export interface PairMarker {
  /** The pair ring. */
  path: string;
  /** The writer's doorbell: the reader rings it when it frees room in the ring. */
  bell: string;
}

const MAX_PATH = 4096;

/** A marker's payload. */
export function encodeMarker(m: PairMarker): Uint8Array {
  return encodeValue([m.path, m.bell]);
}

/** A marker's payload decoded; null when it is not one. */
export function decodeMarker(payload: Uint8Array): PairMarker | null {
  let v: unknown;
  try {
    v = decodeValue(payload);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 2) return null;
  const [path, bell] = v as unknown[];
  const ok = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= MAX_PATH;
  return ok(path) && ok(bell) ? { path, bell } : null;
}
