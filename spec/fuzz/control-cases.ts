/**
 * Cases for the agent's control socket (lib/agent/control-server.ts,
 * client-session.ts). Each case starts from frames a real client sends
 * (HELLO, AUTH, CREATE, STARTUP, WATCH, ...; built with the project's frame
 * and CBOR encoders) and mutates them:
 *   fresh   a new connection: any frame or garbage before HELLO, HELLO with a
 *           confused body, slow drips, half-closes, floods of connections
 *   hello   after a valid HELLO: AUTH with wrong, short or mistyped proofs
 *   authed  after HELLO + AUTH: request bodies with confused types (answered,
 *           the connection stays), or byte-level broken frames (it may close)
 * Bodies may hold an OwnRef: the driver fills in an instance or watch this
 * connection created, so requests reach the code paths behind the lookups.
 */
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { CANARY_CLIENT_SERVICE, CANARY_SERVICE } from './canary.js';
import { completeness, endingFor, type Ending } from './framed.js';
import { transportCase, type TransportKind } from './fresh-cases.js';
import { groupCases } from './grouping.js';
import type { FuzzCase } from './harness.js';
import { encodeBody, mutateBody, mutateFrame, rawFrame, show, type Body } from './mutate.js';
import { FuzzRandom } from './prng.js';
import { weirdValue } from './values.js';

/** The agent's control frame limit (control-server.ts). */
export const CONTROL_MAX_FRAME = 1024 * 1024;

/** A field the driver fills in at run time. */
export class OwnRef {
  constructor(readonly what: 'instance' | 'watch' | 'canary', readonly k: number) {}
  toJSON(): string {
    return `<${this.what} ${this.k}>`;
  }
}

export type Phase = 'fresh' | 'hello' | 'authed';

export interface ControlPart {
  type: number;
  id: number;
  /** A body to encode (after OwnRefs are filled in), or the exact bytes of the whole frame. */
  body?: unknown;
  bytes?: Buffer;
}

export interface ControlCase extends FuzzCase {
  phase: Phase;
  game: 'g' | 'other';
  parts: ControlPart[];
  /** The agent may close the connection on it: the batch ends here. */
  fatal: boolean;
  /** For fresh and hello cases (their own connection): how the connection ends. */
  ending: Ending;
  drip?: { chunk: number; delayMs: number };
  /** Connection-level cases: many connections at once, or a half-close right away. */
  special?: { kind: 'flood'; count: number; prefix: number } | { kind: 'half-close'; afterHello: boolean };
}

const M = ControlMessage;
const REQUEST_TYPES = [M.CREATE, M.STARTUP, M.WATCH, M.UNWATCH, M.CLOSE, M.RELEASE, M.RESOLVE, M.STATUS, M.OPEN_PAIR, M.PAIR_DONE] as const;
const OTHER_TYPES = [0, 1, 2, 29, 48, 49, 0x7777, 0xffff, M.ONLINE, M.OFFLINE, M.KICKED, M.FAULT, M.LOAD, M.PAIR_CLOSED];

/** Never the canary's names: a same-game `replace` may legitimately take an instance. */
export function avoidCanary(v: unknown): unknown {
  if (typeof v === 'string' && (v.includes(CANARY_SERVICE.split('.')[1]!) || v === CANARY_CLIENT_SERVICE)) return v.replace(/fuzzcanary/g, 'fuzzcanarx');
  return v;
}

/** A valid body for a request type, as the real client builds it. */
function template(r: FuzzRandom, type: number, game: string): Body {
  switch (type) {
    case M.HELLO: return { gameId: game, pid: r.int(1, 4_000_000) };
    case M.AUTH: return { proof: new Uint8Array(r.bytes(32)) };
    case M.CREATE: return { service: `${game}.fuzz${r.below(4)}.${r.below(3)}.0`, userData: `u${r.below(6)}`, conflict: r.pick(['reject', 'replace']) };
    case M.STARTUP:
    case M.CLOSE:
    case M.RELEASE: return { localId: new OwnRef('instance', r.below(4)) };
    case M.WATCH: return { pattern: r.pick([`${game}.fuzz${r.below(4)}.*.*`, `${game}.*.*.*`, `${game}.fuzz0.1.0`]) };
    case M.UNWATCH: return { watchId: new OwnRef('watch', r.below(4)) };
    case M.RESOLVE: return { node: r.pick([0, 0, 1, 2]), localId: r.chance(0.3) ? new OwnRef('canary', r.below(2)) : new OwnRef('instance', r.below(4)) };
    default: return {};
  }
}

/** Encode a part's frame now (refs as fixed numbers): byte-level mutations need the bytes. */
function frameNow(r: FuzzRandom, type: number, id: number, body: unknown): Buffer {
  const fixed = body && typeof body === 'object' && !Array.isArray(body)
    ? Object.fromEntries(Object.entries(body as Body).map(([k, v]) => [k, v instanceof OwnRef ? v.k + 1 : v]))
    : body;
  return rawFrame(type, id, encodeBody(r, fixed));
}

function freshCase(r: FuzzRandom, index: number): ControlCase {
  const game = r.chance(0.8) ? 'g' : 'other';
  const base = { index, phase: 'fresh' as const, game: game as 'g' | 'other', fatal: true };
  const kind = r.weighted({ helloBody: 5, helloFrame: 4, early: 4, garbage: 2, drip: 1, flood: 0.2, halfClose: 0.6, big: 0.3 });
  switch (kind) {
    case 'helloBody': {
      const m = mutateBody(r, template(r, M.HELLO, game), ['gameId', 'pid']);
      const body = avoidCanary(m.value);
      return { ...base, desc: `fresh: HELLO ${m.desc}`, parts: [{ type: M.HELLO, id: 1, body }], ending: 'sentinel' };
    }
    case 'helloFrame': {
      const m = mutateFrame(r, frameNow(r, M.HELLO, 1, template(r, M.HELLO, game)), CONTROL_MAX_FRAME);
      return { ...base, desc: `fresh: HELLO frame ${m.desc}`, parts: [{ type: M.HELLO, id: 1, bytes: m.value }], ending: endingFor(completeness(m.value, CONTROL_MAX_FRAME), r.u32()) };
    }
    case 'early': {
      const type = r.pick([M.AUTH, M.CREATE, M.STARTUP, M.WATCH, M.RESOLVE, M.STATUS, M.CLOSE, M.RELEASE, ...OTHER_TYPES]);
      const id = r.pick([0, 1, 0xffffffff]);
      const body = r.chance(0.5) ? template(r, type, game) : weirdValue(r);
      return { ...base, desc: `fresh: type ${type} id ${id} before auth, body ${show(body)}`, parts: [{ type, id, body }], ending: 'sentinel' };
    }
    case 'garbage':
    case 'drip':
    case 'flood':
    case 'halfClose':
    default:
      return { ...base, ...transportCase(r, kind === 'big' ? 'big' : kind as TransportKind, {
        helloType: M.HELLO, hello: () => frameNow(r, M.HELLO, 1, template(r, M.HELLO, game)), maxFrame: CONTROL_MAX_FRAME, bigTypes: [M.HELLO, M.CREATE, 0x7777], bigSize: 256 * 1024,
      }) };
  }
}

function helloCase(r: FuzzRandom, index: number): ControlCase {
  const game = r.chance(0.8) ? 'g' : 'other';
  const base = { index, phase: 'hello' as const, game: game as 'g' | 'other', fatal: true };
  switch (r.weighted({ proof: 5, frame: 2, other: 3 })) {
    case 'proof': {
      const m = mutateBody(r, template(r, M.AUTH, game), ['proof']);
      return { ...base, desc: `after HELLO: AUTH ${m.desc}`, parts: [{ type: M.AUTH, id: 2, body: m.value }], ending: 'sentinel' };
    }
    case 'frame': {
      const m = mutateFrame(r, frameNow(r, M.AUTH, 2, template(r, M.AUTH, game)), CONTROL_MAX_FRAME);
      return { ...base, desc: `after HELLO: AUTH frame ${m.desc}`, parts: [{ type: M.AUTH, id: 2, bytes: m.value }], ending: endingFor(completeness(m.value, CONTROL_MAX_FRAME), r.u32()) };
    }
    default: {
      const type = r.pick([M.HELLO, ...REQUEST_TYPES, ...OTHER_TYPES]);
      const body = avoidCanary(template(r, type, game));
      return { ...base, desc: `after HELLO, before AUTH: type ${type} ${show(body)}`, parts: [{ type, id: 2, body }], ending: 'sentinel' };
    }
  }
}

function authedCase(r: FuzzRandom, index: number): ControlCase {
  const game = r.chance(0.85) ? 'g' : 'other';
  const base = { index, phase: 'authed' as const, game: game as 'g' | 'other', ending: 'sentinel' as const };
  const id = 16 + index * 4;
  // fatal kinds (a broken frame, an event that fails, a second HELLO/AUTH) end their batch: kept rarer so batches stay long
  switch (r.weighted({ valid: 4, body: 8, frame: 1, event: 0.5, unknown: 0.8 })) {
    case 'valid': {
      const type = r.pick(REQUEST_TYPES);
      const body = template(r, type, game);
      return { ...base, fatal: false, desc: `authed: valid ${type} ${show(body)}`, parts: [{ type, id, body }] };
    }
    case 'body': {
      const type = r.chance(0.95) ? r.pick(REQUEST_TYPES) : r.pick([M.HELLO, M.AUTH]);
      const tpl = template(r, type, game);
      const m = mutateBody(r, tpl);
      const body = m.value && typeof m.value === 'object' && !Array.isArray(m.value)
        ? Object.fromEntries(Object.entries(m.value as Body).map(([k, v]) => [k, avoidCanary(v)]))
        : m.value;
      // a second HELLO or AUTH is refused and the connection closed (client-session.ts): it ends the batch
      const again = type === M.HELLO || type === M.AUTH;
      return { ...base, fatal: again, desc: `authed: ${type} ${m.desc}`, parts: [{ type, id, body }] };
    }
    case 'frame': {
      const type = r.pick(REQUEST_TYPES);
      const m = mutateFrame(r, frameNow(r, type, id, avoidCanary(template(r, type, game))), CONTROL_MAX_FRAME);
      const c = completeness(m.value, CONTROL_MAX_FRAME);
      return { ...base, fatal: true, ending: endingFor(c, r.u32()), desc: `authed: ${type} frame ${m.desc}`, parts: [{ type, id, bytes: m.value }] };
    }
    case 'event': {
      const type = r.pick([...REQUEST_TYPES, ...OTHER_TYPES]);
      const body = r.chance(0.5) ? template(r, type, game) : weirdValue(r);
      return { ...base, fatal: true, desc: `authed: event (id 0) type ${type} ${show(body)}`, parts: [{ type, id: 0, body }] };
    }
    default: {
      const type = r.pick(OTHER_TYPES);
      const body = weirdValue(r);
      return { ...base, fatal: false, desc: `authed: type ${type} with an id, body ${show(body)}`, parts: [{ type, id, body }] };
    }
  }
}

/** Case `index` of the control target under `seed`. */
export function makeControlCase(seed: number, index: number): ControlCase {
  const r = FuzzRandom.forCase(seed, 'control', index);
  const phase = r.weighted({ fresh: 2.2, hello: 0.8, authed: 7 });
  if (phase === 'fresh') return freshCase(r, index);
  if (phase === 'hello') return helloCase(r, index);
  return authedCase(r, index);
}

/** Authenticated cases of one game share a connection, up to `max`, ending at a fatal one; the rest are alone. */
export function groupControl(cases: ControlCase[], max = 24): ControlCase[][] {
  return groupCases(cases, { alone: (c) => c.phase !== 'authed', key: (c) => c.game, fatal: (c) => c.fatal, max });
}
