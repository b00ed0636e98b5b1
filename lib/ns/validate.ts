/**
 * Shape checks for name-server request bodies. Every check either returns a
 * clean copy of what it accepted or throws: ProtocolError for a body that no
 * correct agent would send (the session then closes the connection),
 * InvalidNameError / CrossGameError for names an app chose badly (the agent
 * passes those on; the connection stays up). Nothing here ever throws a
 * TypeError at a caller.
 */
import { CrossGameError, InvalidNameError, ProtocolError } from '../protocol/errors.js';
import { gameOf, validatePattern, validateService, validateUserData, shown } from '../protocol/names.js';
import type { InstanceKey, InstanceRecord } from '../protocol/registry-messages.js';
import { integer, object, text } from '../protocol/body-checks.js';

// The generic field checks live in lib/protocol/body-checks.ts (the control protocol's decoders use them too).
export { bytes, conflict, integer, object, offlineReason, optionalInteger, optionalText, text, type Body } from '../protocol/body-checks.js';

const GAME_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_META_ENTRIES = 64;
const MAX_META_KEY = 128;
const MAX_META_VALUE = 1024;

export function gameId(value: unknown): string {
  if (typeof value !== 'string' || !GAME_ID.test(value)) {
    throw new InvalidNameError(`game id ${shown(value)} must match [A-Za-z0-9_-]{1,64}`);
  }
  return value;
}

/** `service` must be a valid name of game `game`. */
function serviceOf(game: string, service: unknown): string {
  const s = validateService(service);
  if (gameOf(s) !== game) throw new CrossGameError(`service '${s}' does not belong to game '${game}'`);
  return s;
}

export function instanceKey(value: unknown, what = 'key'): InstanceKey {
  const b = object(value, what);
  const game = gameId(b.gameId);
  return { gameId: game, service: serviceOf(game, b.service), userData: validateUserData(b.userData) };
}

export function instanceRecord(value: unknown): InstanceRecord {
  const b = object(value, 'instance');
  const key = instanceKey(b, 'instance');
  const record: InstanceRecord = {
    ...key,
    agentId: text(b, 'agentId'),
    address: text(b, 'address', 256, 0),
    localId: integer(b, 'localId'),
    epoch: b.epoch === undefined ? 0 : integer(b, 'epoch'),
    online: false,
  };
  if (b.meta !== undefined && b.meta !== null) record.meta = meta(b.meta);
  return record;
}

function meta(value: unknown): Record<string, string> {
  const m = object(value, 'meta');
  const entries = Object.entries(m);
  if (entries.length > MAX_META_ENTRIES) throw new ProtocolError(`'meta' has more than ${MAX_META_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length > MAX_META_KEY || typeof v !== 'string' || v.length > MAX_META_VALUE) {
      throw new ProtocolError(`'meta' entries must be strings (keys <= ${MAX_META_KEY}, values <= ${MAX_META_VALUE} characters)`);
    }
    out[k] = v;
  }
  return out;
}

/** A watch pattern of game `game` (the pattern's game segment must be the game id). */
export function patternOf(game: string, pattern: unknown): string {
  const p = validatePattern(pattern);
  if (gameOf(p) !== game) throw new CrossGameError(`pattern '${p}' does not belong to game '${game}'`);
  return p;
}
