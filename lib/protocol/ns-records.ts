/**
 * The registry's records as name-server bodies carry them (registry-messages.ts):
 * instance keys, instance records and watch patterns, checked the same way in
 * both directions. Each decoder returns a clean copy or throws:
 *   ProtocolError     a shape no correct peer sends
 *   InvalidNameError  in a request, a service name, user data, pattern or game
 *                     id an app chose badly (the agent passes on what its apps
 *                     asked for; the name server answers with the error the
 *                     app is meant to see and the connection stays up)
 *   CrossGameError    in a request, a service or pattern outside the game the
 *                     key or watch names
 * In an answer or event the names come from the name server, which hands out
 * only records it accepted: a bad one there is a ProtocolError (checkedName).
 */
import { checkedName, boolean, integer, MAX_ADDRESS, MAX_AGENT_ID, object, text } from './body-checks.js';
import { CrossGameError, ProtocolError } from './errors.js';
import { gameOf, validateGameId, validatePattern, validateService, validateUserData } from './names.js';
import type { InstanceKey, InstanceRecord } from './registry-messages.js';

const MAX_META_ENTRIES = 64;
const MAX_META_KEY = 128;
const MAX_META_VALUE = 1024;

/** `service` must be a valid name of game `game`. */
function serviceOf(game: string, service: unknown): string {
  const s = validateService(service);
  if (gameOf(s) !== game) throw new CrossGameError(`service '${s}' does not belong to game '${game}'`);
  return s;
}

/** A watch pattern of game `game` (the pattern's game segment must be the game id). */
export function patternOf(game: string, pattern: unknown): string {
  const p = validatePattern(pattern);
  if (gameOf(p) !== game) throw new CrossGameError(`pattern '${p}' does not belong to game '${game}'`);
  return p;
}

/** An instance key in a request (STARTUP, DEREGISTER). A game id of any other type than a valid one is the app's bad name. */
export function instanceKey(value: unknown, what = 'key'): InstanceKey {
  const b = object(value, what);
  const game = validateGameId(b.gameId);
  return { gameId: game, service: serviceOf(game, b.service), userData: validateUserData(b.userData) };
}

/**
 * The record in a REGISTER request (its names are the app's). Its `online`
 * must be there, but the name server decides it (registry-store.ts register).
 */
export function registeredRecord(value: unknown): InstanceRecord {
  const b = object(value, 'instance');
  const record: InstanceRecord = {
    ...instanceKey(b, 'instance'),
    agentId: text(b, 'agentId', MAX_AGENT_ID),
    address: text(b, 'address', MAX_ADDRESS, 0),
    localId: integer(b, 'localId'),
    // records from before incarnations had none: 0
    epoch: b.epoch === undefined ? 0 : integer(b, 'epoch'),
    online: boolean(b, 'online'),
  };
  if (b.meta !== undefined && b.meta !== null) record.meta = meta(b.meta);
  return record;
}

/** A record the name server hands out (WATCH answers, ONLINE, OFFLINE and KICKED events). */
export function instanceRecord(value: unknown): InstanceRecord {
  return checkedName(registeredRecord, value);
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
