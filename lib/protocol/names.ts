/**
 * Service names `gameid.service.zone.ext`, watch patterns (`*` for a whole
 * segment), user data, and instance ids `service/userData` (DESIGN §3).
 */
import { InvalidNameError } from './errors.js';

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const USER_DATA = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A value as an error message may show it: a string quoted, anything else by its type (String() on a
 * hostile object can throw, or run its code). */
export const shown = (value: unknown): string => (typeof value === 'string' ? `'${value.slice(0, 200)}'` : `a value of type ${typeof value}`);

function segments(name: unknown, what: string): string[] {
  if (typeof name !== 'string') throw new InvalidNameError(`${what} must be a string, got ${typeof name}`);
  const parts = name.split('.');
  if (parts.length !== 4) throw new InvalidNameError(`${what} '${name}' must have 4 dot-separated segments (gameid.service.zone.ext)`);
  return parts;
}

/** Throws InvalidNameError unless `gameId` is a valid game id (the first segment of its services' names). */
export function validateGameId(gameId: unknown): string {
  if (typeof gameId !== 'string' || !SEGMENT.test(gameId)) throw new InvalidNameError(`game id ${shown(gameId)} must match [A-Za-z0-9_-]{1,64}`);
  return gameId;
}

/** Throws InvalidNameError unless `name` is a valid service name. */
export function validateService(name: unknown): string {
  const parts = segments(name, 'service name');
  for (const p of parts) if (!SEGMENT.test(p)) throw new InvalidNameError(`service name ${shown(name)}: segment '${p}' must match [A-Za-z0-9_-]{1,64}`);
  return name as string;
}

/** Throws InvalidNameError unless `pattern` is a valid watch pattern (the game id may not be `*`). */
export function validatePattern(pattern: unknown): string {
  const parts = segments(pattern, 'watch pattern');
  parts.forEach((p, i) => {
    if (p === '*' && i > 0) return;
    if (!SEGMENT.test(p)) throw new InvalidNameError(`watch pattern ${shown(pattern)}: segment '${p}' must match [A-Za-z0-9_-]{1,64}${i > 0 ? " or be '*'" : ''}`);
  });
  return pattern as string;
}

/** The user data, checked: a string matching `[A-Za-z0-9_.:-]{1,128}`; InvalidNameError otherwise. */
export function validateUserData(userData: unknown): string {
  if (typeof userData !== 'string' || !USER_DATA.test(userData)) {
    throw new InvalidNameError(`user data ${shown(userData)} must match [A-Za-z0-9_.:-]{1,128}`);
  }
  return userData;
}

/** The game id of a service name or pattern. */
export const gameOf = (name: string): string => name.slice(0, name.indexOf('.'));

/** Does the service name match the pattern? */
export function matches(pattern: string, service: string): boolean {
  if (pattern === service) return true;
  const p = pattern.split('.');
  const s = service.split('.');
  return p.length === s.length && p.every((seg, i) => seg === '*' || seg === s[i]);
}

/** The printable id of an instance. */
export const instanceId = (service: string, userData: string): string => `${service}/${userData}`;
