/**
 * Protocol versions of the three wire protocols (app -> agent control socket,
 * agent -> name server, agent -> agent links), so a fleet can be upgraded host
 * by host. Each build speaks a range [min, max] of each. The side that opens a
 * connection says its range in its HELLO (`v` = its max, `vmin` = its min);
 * the other picks the highest version both speak and names it in its answer
 * (`v`), or refuses with VERSION naming both ranges. A HELLO without `v` is
 * from a build before versions: version 1 (the link protocol started at 2).
 * A release that raises a max keeps speaking the previous version until every
 * host runs it.
 *
 * Beside the version, a HELLO names the optional features its sender has
 * (`caps`), and the answer names those both sides have: a feature that does
 * not change the wire for a peer without it can be added without a version
 * bump, and used only with peers that named it. Unknown names are ignored.
 */
import { ProtocolError, VersionError } from './errors.js';

export interface VersionRange {
  readonly min: number;
  readonly max: number;
  /** The optional features this build has. */
  readonly caps: readonly string[];
}

/**
 * fragments: messages larger than a ring record; load-reports: LOAD events; status: STATUS requests;
 * pairs: pair rings (OPEN_PAIR, PAIR_DONE, PAIR_CLOSED, and pair markers in the rx ring: pair-marker.ts);
 * drain: DRAIN requests; draining: OFFLINE events may say `draining` (else they say `closed`).
 */
export const CONTROL_PROTOCOL: VersionRange = { min: 1, max: 1, caps: ['fragments', 'load-reports', 'status', 'pairs', 'drain', 'draining'] };
/**
 * 2: agents authenticate (CHALLENGE, HELLO proofs); 1 authenticated nothing and is refused.
 * lease-ttl: HELLO may ask for a TTL; uptime: the HELLO answer says how long the name server has run;
 * draining: DEREGISTER and OFFLINE may carry the reason `draining` (else it travels as `closed`).
 */
export const NS_PROTOCOL: VersionRange = { min: 2, max: 2, caps: ['lease-ttl', 'uptime', 'draining'] };
/**
 * 3: proofs bind both addresses and every frame after the handshake is authenticated (link-seal.ts); 2 is refused.
 * seal-gmac: frames after the handshake sealed; grouped-fragments: a fragmented message settles as one.
 */
export const LINK_PROTOCOL: VersionRange = { min: 3, max: 3, caps: ['seal-gmac', 'grouped-fragments'] };

/** The version fields of a HELLO from a side speaking `ours`, with its capability list. */
export const versionFields = (ours: VersionRange): { v: number; vmin: number; caps: string[] } => ({ v: ours.max, vmin: ours.min, caps: [...ours.caps] });

const MAX_CAPS = 64;
const MAX_CAP = 64;

/** A `caps` list as received (absent: none); ProtocolError when it is not a list of short names. */
export function capsList(theirs: unknown): string[] {
  if (theirs === undefined) return [];
  if (!Array.isArray(theirs) || theirs.length > MAX_CAPS || !theirs.every((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_CAP)) {
    throw new ProtocolError(`'caps' must be a list of at most ${MAX_CAPS} names`);
  }
  return [...(theirs as string[])];
}

/** The capabilities both sides have, in our order. */
export function commonCaps(ours: VersionRange, theirs: unknown): string[] {
  const list = capsList(theirs);
  return ours.caps.filter((c) => list.includes(c));
}

/**
 * The version to speak with a side whose HELLO (or answer) carried `v`/`vmin`
 * (`v` absent: 1, `vmin` absent: `v`). Throws VersionError when the ranges do
 * not meet, ProtocolError when the fields are not versions.
 */
export function agreeVersion(protocol: string, ours: VersionRange, fields: { v?: unknown; vmin?: unknown }, absent = 1): number {
  const max = fields.v === undefined ? absent : fields.v;
  const min = fields.vmin === undefined ? max : fields.vmin;
  if (!isVersion(max) || !isVersion(min) || min > max) throw new ProtocolError(`malformed ${protocol} protocol version`);
  const v = Math.min(ours.max, max);
  if (v < ours.min || v < min) {
    throw new VersionError(`${protocol} protocol: this side speaks ${span(ours.min, ours.max)}, the other side ${span(min, max)}; upgrade the older one`);
  }
  return v;
}

const isVersion = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;
const span = (min: number, max: number): string => (min === max ? `version ${min}` : `versions ${min}-${max}`);
