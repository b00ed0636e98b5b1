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
 */
import { ProtocolError, VersionError } from './errors.js';

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export const CONTROL_PROTOCOL: VersionRange = { min: 1, max: 1 };
/** 2: agents authenticate (CHALLENGE, HELLO proofs); 1 authenticated nothing and is refused. */
export const NS_PROTOCOL: VersionRange = { min: 2, max: 2 };
/** 3: proofs bind both addresses and every frame after the handshake is authenticated (link-seal.ts); 2 is refused. */
export const LINK_PROTOCOL: VersionRange = { min: 3, max: 3 };

/** The version fields of a HELLO from a side speaking `ours`. */
export const versionFields = (ours: VersionRange): { v: number; vmin: number } => ({ v: ours.max, vmin: ours.min });

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
