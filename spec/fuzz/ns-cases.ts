/**
 * Cases for the name server's TCP port (lib/ns/server.ts, session.ts, and
 * the decoders it runs, lib/protocol/ns-bodies.ts). They start from the requests a real agent sends (HELLO,
 * HEARTBEAT, REGISTER, STARTUP, DEREGISTER, WATCH, UNWATCH, VERIFY_GAME;
 * built with the project's encoders) and mutate them:
 *   fresh   a new connection: HELLO with confused bodies or broken frames,
 *           requests before HELLO, garbage, drips, floods, half-closes
 *   leased  after a valid HELLO (a fuzz agent id with a short lease, or a
 *           resumed lease): valid requests (answered, the connection stays)
 *           then at most one mutated request or broken frame, which the
 *           server may answer with PROTOCOL and close on (it ends the batch)
 * The fuzz agents are `fuzz-agent-N`, never the real agent, and their names
 * never the canary's: taking either over would be the protocol working.
 */
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { avoidCanary } from './control-cases.js';
import { completeness, endingFor, type Ending } from './framed.js';
import { transportCase, type TransportKind } from './fresh-cases.js';
import { groupCases } from './grouping.js';
import type { FuzzCase } from './harness.js';
import { encodeBody, mutateBody, mutateFrame, rawFrame, show, type Body } from './mutate.js';
import { FuzzRandom } from './prng.js';
import { weirdValue } from './values.js';

/** The name server's request frame limit (server.ts NS_MAX_REQUEST_FRAME). */
export const NS_MAX_FRAME = 1024 * 1024;

/** A field the driver fills in at run time from its connection's lease. */
export class LeaseRef {
  constructor(readonly what: 'agentId' | 'leaseId' | 'address' | 'watch', readonly k = 0) {}
  toJSON(): string {
    return `<${this.what}>`;
  }
}

export interface NsPart {
  type: number;
  id: number;
  body?: unknown;
  bytes?: Buffer;
}

export interface NsCase extends FuzzCase {
  phase: 'fresh' | 'leased';
  /** For leased batches: HELLO as this fuzz agent, resuming the lane's last lease when asked. */
  agent: number;
  resume: boolean;
  ttlMs: number;
  parts: NsPart[];
  fatal: boolean;
  ending: Ending;
  drip?: { chunk: number; delayMs: number };
  special?: { kind: 'flood'; count: number; prefix: number } | { kind: 'half-close'; afterHello: boolean };
}

const N = NsMessage;
const ALL_TYPES = [N.HELLO, N.HEARTBEAT, N.REGISTER, N.STARTUP, N.DEREGISTER, N.WATCH, N.UNWATCH, N.VERIFY_GAME] as const;
const OTHER_TYPES = [0, 1, 2, 18, 19, N.ONLINE, N.OFFLINE, N.KICKED, 0x7777, 0xffff];
const REASONS = ['closed', 'crashed', 'replaced', 'agent_lost'];

function key(r: FuzzRandom): Body {
  const game = r.chance(0.9) ? 'g' : 'other';
  return { gameId: game, service: `${game}.nsfuzz${r.below(4)}.${r.below(2)}.0`, userData: `n${r.below(5)}` };
}

/** A valid body for a request type, as NsRegistry builds it. */
function template(r: FuzzRandom, type: number): Body {
  switch (type) {
    case N.HELLO: return { agentId: `fuzz-agent-${r.below(8)}`, address: r.pick(['', '127.0.0.1:1']), ttlMs: r.pick([100, 500, 1000]) };
    case N.HEARTBEAT: return { leaseId: new LeaseRef('leaseId') };
    case N.REGISTER: {
      const instance: Body = { ...key(r), agentId: new LeaseRef('agentId'), address: new LeaseRef('address'), localId: r.int(1, 50), epoch: r.int(1, 3), online: false };
      if (r.chance(0.3)) instance['meta'] = { zone: 'z', [`k${r.below(3)}`]: 'v' };
      return { instance, conflict: r.pick(['reject', 'replace']) };
    }
    case N.STARTUP: return { key: key(r) };
    case N.DEREGISTER: return { key: key(r), reason: r.pick(REASONS) };
    case N.WATCH: return { gameId: 'g', pattern: r.pick(['g.nsfuzz0.*.*', 'g.*.*.*', 'g.nsfuzz1.0.0']) };
    case N.UNWATCH: return { watchId: new LeaseRef('watch', r.below(3)) };
    case N.VERIFY_GAME: return { gameId: r.pick(['g', 'other', 'nosuchgame']), nonce: new Uint8Array(r.bytes(32)), proof: new Uint8Array(r.bytes(32)) };
    default: return {};
  }
}

/** The refs in a body as fixed values: byte-level mutations need bytes at generation. */
function frameNow(r: FuzzRandom, type: number, id: number, body: Body): Buffer {
  const fix = (v: unknown): unknown => (v instanceof LeaseRef ? (v.what === 'watch' ? 1 : v.what === 'address' ? '' : 'fuzz-agent-0') : v);
  const fixed = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v && typeof v === 'object' && !(v instanceof LeaseRef) && !(v instanceof Uint8Array)
    ? Object.fromEntries(Object.entries(v as Body).map(([k2, v2]) => [k2, fix(v2)]))
    : fix(v)]));
  return rawFrame(type, id, encodeBody(r, fixed));
}

/** Mutate a body (the nested instance or key, sometimes) and keep canary names out. */
function confuse(r: FuzzRandom, body: Body): { value: unknown; desc: string } {
  const nested = Object.keys(body).find((k) => k === 'instance' || k === 'key');
  if (nested && r.chance(0.6)) {
    const m = mutateBody(r, body[nested] as Body);
    return { value: { ...body, [nested]: clean(m.value) }, desc: `${nested}.${m.desc}` };
  }
  const m = mutateBody(r, body);
  return { value: clean(m.value), desc: m.desc };
}

function clean(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return avoidCanary(v);
  return Object.fromEntries(Object.entries(v as Body).map(([k, x]) => [k, avoidCanary(x)]));
}

function freshCase(r: FuzzRandom, base: Omit<NsCase, 'desc' | 'parts' | 'fatal' | 'ending' | 'phase'>): NsCase {
  const b = { ...base, phase: 'fresh' as const, fatal: true };
  const kind = r.weighted({ helloBody: 4, helloFrame: 3, early: 4, garbage: 2, drip: 1, flood: 0.2, halfClose: 0.6, big: 0.3 });
  switch (kind) {
    case 'helloBody': {
      const m = confuse(r, template(r, N.HELLO));
      return { ...b, desc: `fresh: HELLO ${m.desc}`, parts: [{ type: N.HELLO, id: 1, body: m.value }], ending: 'sentinel' };
    }
    case 'helloFrame': {
      const m = mutateFrame(r, frameNow(r, N.HELLO, 1, template(r, N.HELLO)), NS_MAX_FRAME);
      return { ...b, desc: `fresh: HELLO frame ${m.desc}`, parts: [{ type: N.HELLO, id: 1, bytes: m.value }], ending: endingFor(completeness(m.value, NS_MAX_FRAME), r.u32()) };
    }
    case 'early': {
      const type = r.pick([...ALL_TYPES.filter((t) => t !== N.HELLO), ...OTHER_TYPES]);
      const id = r.pick([0, 1, 0xffffffff]);
      const body = r.chance(0.6) ? template(r, type) : weirdValue(r);
      return { ...b, desc: `fresh: type ${type} id ${id} before HELLO, body ${show(body)}`, parts: [{ type, id, body }], ending: 'sentinel' };
    }
    case 'garbage':
    case 'drip':
    case 'flood':
    case 'halfClose':
    default:
      return { ...b, ...transportCase(r, kind === 'big' ? 'big' : kind as TransportKind, {
        helloType: N.HELLO, hello: () => frameNow(r, N.HELLO, 1, template(r, N.HELLO)), maxFrame: NS_MAX_FRAME, bigTypes: [N.HELLO, N.REGISTER, 0x7777], bigSize: 200 * 1024,
      }) };
  }
}

function leasedCase(r: FuzzRandom, base: Omit<NsCase, 'desc' | 'parts' | 'fatal' | 'ending' | 'phase'>): NsCase {
  const b = { ...base, phase: 'leased' as const, ending: 'sentinel' as const };
  const id = 16 + base.index * 4;
  switch (r.weighted({ valid: 7, body: 4, frame: 1, event: 0.3, unknown: 0.3 })) {
    case 'valid': {
      const type = r.pick(ALL_TYPES.filter((t) => t !== N.HELLO));
      const body = template(r, type);
      return { ...b, fatal: false, desc: `leased: valid ${type} ${show(body)}`, parts: [{ type, id, body }] };
    }
    case 'body': {
      const type = r.pick(ALL_TYPES);
      const m = confuse(r, template(r, type));
      return { ...b, fatal: true, desc: `leased: ${type} ${m.desc}`, parts: [{ type, id, body: m.value }] };
    }
    case 'frame': {
      const type = r.pick(ALL_TYPES);
      const m = mutateFrame(r, frameNow(r, type, id, template(r, type)), NS_MAX_FRAME);
      return { ...b, fatal: true, ending: endingFor(completeness(m.value, NS_MAX_FRAME), r.u32()), desc: `leased: ${type} frame ${m.desc}`, parts: [{ type, id, bytes: m.value }] };
    }
    case 'event': {
      const type = r.pick([...ALL_TYPES, ...OTHER_TYPES]);
      const body = r.chance(0.5) ? template(r, type) : weirdValue(r);
      return { ...b, fatal: true, desc: `leased: event (id 0) type ${type} ${show(body)}`, parts: [{ type, id: 0, body }] };
    }
    default: {
      const type = r.pick(OTHER_TYPES);
      const body = weirdValue(r);
      return { ...b, fatal: true, desc: `leased: type ${type} with an id, body ${show(body)}`, parts: [{ type, id, body }] };
    }
  }
}

/** Case `index` of the name-server TCP target under `seed`. */
export function makeNsCase(seed: number, index: number): NsCase {
  const r = FuzzRandom.forCase(seed, 'ns-tcp', index);
  const base = { index, agent: r.below(8), resume: r.chance(0.25), ttlMs: r.pick([100, 300, 1000, 3000]) };
  return r.chance(0.35) ? freshCase(r, base) : leasedCase(r, base);
}

/** Leased cases share a connection (the first case's agent and lease), up to `max`, ending at a fatal one; fresh ones are alone. */
export function groupNs(cases: NsCase[], max = 16): NsCase[][] {
  return groupCases(cases, { alone: (c) => c.phase === 'fresh', key: () => 'leased', fatal: (c) => c.fatal, max });
}
