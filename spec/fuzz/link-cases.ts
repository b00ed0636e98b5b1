/**
 * Cases for the agent's peer-link port (lib/agent/links/link-server.ts,
 * inbound-session.ts). The fuzzer plays a peer agent: it reads the agent's
 * CHALLENGE and answers with the project's own HELLO (linkProof with the mesh
 * secret), then sends SOURCE, DATA and PING frames built with link-frames.ts
 * and envelope.ts.
 *   fresh   before the handshake: HELLO with confused bodies, wrong proofs,
 *           broken frames, other frame types, garbage, drips, floods
 *   linked  after a valid handshake: DATA records of every kind, fragment
 *           and size (to a victim instance, to nobody, to stale epochs),
 *           duplicates and gaps in the sequence, re-announced or mistyped
 *           SOURCEs, broken frames; fatal ones end the batch
 * Numbers that exist only at run time (the agent's epoch, the peer's next
 * sequence number, the victim's local id) are named here and filled in by
 * the driver.
 */
import { Frag, recordType } from '../../lib/native/index.js';
import { ENVELOPE_BYTES, Flag, RecordKind } from '../../lib/protocol/envelope.js';
import { LinkFrame } from '../../lib/protocol/link-frames.js';
import { completeness, endingFor, type Ending } from './framed.js';
import { groupCases } from './grouping.js';
import type { FuzzCase } from './harness.js';
import { encodeBody, mutateBody, mutateFrame, rawFrame, show, type Body } from './mutate.js';
import { FuzzRandom } from './prng.js';
import { weirdValue } from './values.js';

/** The link frame limit (link-frames.ts LINK_MAX_FRAME). */
export const LINK_MAX = 4 * 1024 * 1024;

/** A DATA record, described so the driver can fill in what only exists at run time. */
export interface RecordSpec {
  /** 'next': the next sequence number; 'dup': one already sent; 'gap': one past the next; 'zero'; or a number. */
  seq: 'next' | 'dup' | 'gap' | 'zero' | number;
  type: number;
  /** Envelope: source local id on the peer; destination: the victim, nobody, 0, or a number. */
  src: number;
  dest: 'victim' | 'nobody' | number;
  flags: number;
  corr: number;
  /** The agent's epoch, another, or 0. */
  epoch: 'agent' | 'stale' | number;
  aux: number;
  payload: Buffer;
  /** Cut the record short of its envelope (then the record is `payload` only). */
  short?: boolean;
}

export type LinkPart =
  | { kind: 'record'; rec: RecordSpec }
  | { kind: 'source'; body: unknown }
  | { kind: 'ping'; id: number }
  | { kind: 'frame'; bytes: Buffer };

export interface LinkCase extends FuzzCase {
  phase: 'fresh' | 'linked';
  /** Fresh cases: how HELLO is mangled ('body' or 'frame' mutations, a wrong proof, or none of those). */
  hello?: { mutate: 'body' | 'proof' | 'frame' | 'other-type' | 'garbage'; body?: unknown; bytes?: Buffer };
  /** Linked batches: start a new incarnation of the peer, claim another `next`, impersonate the agent itself. */
  setup: { reincarnate: boolean; next: 'same' | 'skip' | 'rewind'; self: boolean; address: string };
  parts: LinkPart[];
  fatal: boolean;
  ending: Ending;
  drip?: { chunk: number; delayMs: number };
  special?: { kind: 'flood'; count: number; prefix: number } | { kind: 'half-close' };
}


/**
 * A record a peer with the secret could send: any kind a link carries (DATA,
 * BOUNCE), fragment, taken bit, size (past the ring's largest record too),
 * destination, epoch, flags and aux. With `bad`, one thing the agent must
 * close the link for: a sequence gap, a kind no link carries, a random type,
 * an unannounced source, a record short of its envelope.
 */
function record(r: FuzzRandom, bad: boolean): RecordSpec {
  const frag = r.pick([Frag.COMPLETE, Frag.COMPLETE, Frag.BEGIN, Frag.MIDDLE, Frag.END]);
  const kind = r.chance(0.9) ? RecordKind.DATA : RecordKind.BOUNCE;
  let type = recordType(kind, frag);
  if (r.chance(0.05)) type = (type | (1 << 30)) >>> 0; // the taken bit, which only a reader sets
  const size = r.pick([0, 1, 8, 64, r.size(2048), r.size(16 * 1024), 16 * 1024 - ENVELOPE_BYTES, 16 * 1024 - ENVELOPE_BYTES + 1, r.pick([20_000, 20_000, 64 * 1024, 300 * 1024])]);
  const payload = r.chance(0.3) ? encodeBody(r, weirdValue(r)) : r.bytes(size);
  let flags = r.chance(0.6) ? 0 : r.pick([Flag.CBOR, Flag.REQUEST, Flag.REQUEST | Flag.CBOR, Flag.REPLY, Flag.ERROR_REPLY | Flag.REPLY, Flag.ABORT, r.u32()]);
  if (kind === RecordKind.BOUNCE) flags = (flags & 0xffff) | (r.int(0, 9) << 16);
  const rec: RecordSpec = {
    seq: r.chance(0.95) ? 'next' : r.pick(['dup', 'zero'] as const),
    type,
    src: r.int(1, 4),
    dest: r.chance(0.7) ? 'victim' : r.pick(['nobody', 0, 0xffffffff] as const),
    flags,
    corr: r.chance(0.5) ? 0 : r.u32(),
    epoch: r.chance(0.85) ? 'agent' : r.pick(['stale', 0, 0xffffffff] as const),
    aux: frag === Frag.COMPLETE && kind === RecordKind.DATA ? (r.chance(0.9) ? 0 : r.u32()) : r.pick([0, payload.length, 256 * 1024, 256 * 1024 + 1, r.u32(), 1]),
    payload,
  };
  if (!bad) return rec;
  switch (r.below(5)) {
    case 0: return { ...rec, seq: r.pick(['gap', 0xffffffff] as const) };
    case 1: return { ...rec, type: recordType(r.pick([0, 3, 0xffffff]), frag) };
    case 2: return { ...rec, type: r.u32() };
    case 3: return { ...rec, type: recordType(RecordKind.DATA, frag), src: r.pick([0, 5, 99, 0xffffffff]) };
    default: return { ...rec, short: true };
  }
}

/** Should the agent close the link on it? (A sequence gap, a record no agent writes, an unannounced source.) */
function recordIsFatal(rec: RecordSpec): boolean {
  const kind = rec.type & 0x00ffffff;
  const dataOrBounce = kind === RecordKind.DATA || kind === RecordKind.BOUNCE;
  const otherBits = (rec.type & ~0x03ffffff) !== 0; // bits past kind and fragment (the taken bit...): no agent writes them
  return rec.seq === 'gap' || rec.seq === 0xffffffff || rec.short === true || !dataOrBounce || otherBits || (kind === RecordKind.DATA && (rec.src === 0 || rec.src > 4));
}

/** A SOURCE body the agent takes (link-bodies.ts): a u32 local id and a game id; anything else closes the link. */
function isSource(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const { local, game } = v as Body;
  return Number.isInteger(local) && (local as number) >= 0 && (local as number) <= 0xffffffff && typeof game === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(game);
}

function setup(r: FuzzRandom): LinkCase['setup'] {
  return {
    reincarnate: r.chance(0.05),
    next: r.chance(0.9) ? 'same' : r.pick(['skip', 'rewind'] as const),
    self: r.chance(0.02),
    address: r.chance(0.9) ? '127.0.0.1:1' : r.pick(['', 'not-an-address', '[::1]:0', `127.0.0.1:${r.int(1, 65535)}`, 'x'.repeat(300)]),
  };
}

function freshCase(r: FuzzRandom, index: number): LinkCase {
  const base = { index, phase: 'fresh' as const, setup: setup(r), parts: [], fatal: true };
  const helloBody: Body = { v: 2, agentId: 'fuzz-peer-x', epoch: 1, address: '127.0.0.1:1', next: 1, nonce: new Uint8Array(32), proof: new Uint8Array(32) };
  switch (r.weighted({ body: 4, proof: 2, frame: 3, other: 2, garbage: 2, drip: 0.5, flood: 0.2, halfClose: 0.5 })) {
    case 'body': {
      const m = mutateBody(r, helloBody);
      return { ...base, desc: `fresh: HELLO ${m.desc}`, hello: { mutate: 'body', body: m.value }, ending: 'sentinel' };
    }
    case 'proof':
      return { ...base, desc: 'fresh: HELLO with a proof made without the secret', hello: { mutate: 'proof' }, ending: 'sentinel' };
    case 'frame': {
      const m = mutateFrame(r, rawFrame(LinkFrame.HELLO, 0, encodeBody(r, helloBody)), LINK_MAX);
      return { ...base, desc: `fresh: HELLO frame ${m.desc}`, hello: { mutate: 'frame', bytes: m.value }, ending: endingFor(completeness(m.value, LINK_MAX), r.u32()) };
    }
    case 'other': {
      const type = r.pick([LinkFrame.CHALLENGE, LinkFrame.WELCOME, LinkFrame.DATA, LinkFrame.ACK, LinkFrame.SOURCE, LinkFrame.PING, LinkFrame.PONG, 0, 0xffff]);
      const bytes = rawFrame(type, r.pick([0, 1, 0xffffffff]), encodeBody(r, weirdValue(r)));
      return { ...base, desc: `fresh: frame type ${type} before HELLO`, hello: { mutate: 'other-type', bytes }, ending: 'sentinel' };
    }
    case 'garbage': {
      const bytes = r.bytes(r.size(4096));
      return { ...base, desc: `fresh: ${bytes.length} random bytes`, hello: { mutate: 'garbage', bytes }, ending: endingFor(completeness(bytes, LINK_MAX), r.u32()) };
    }
    case 'drip':
      return { ...base, fatal: false, desc: 'fresh: a valid HELLO dripped a byte at a time', ending: 'sentinel', drip: { chunk: r.int(1, 4), delayMs: r.int(1, 2) } };
    case 'flood': {
      const count = r.pick([8, 16, 32, 70, 100]); // past 64 unauthenticated ones the oldest are closed (admission.ts)
      return { ...base, desc: `fresh: ${count} connections at once, holding`, ending: 'destroy', special: { kind: 'flood', count, prefix: r.int(0, 9) } };
    }
    default:
      return { ...base, desc: 'fresh: half-close right after CHALLENGE', ending: 'end', special: { kind: 'half-close' } };
  }
}

function linkedCase(r: FuzzRandom, index: number): LinkCase {
  const base = { index, phase: 'linked' as const, setup: setup(r), ending: 'sentinel' as const };
  switch (r.weighted({ records: 8, source: 0.6, frame: 1, other: 0.4, ping: 0.3 })) {
    case 'records': {
      const recs = Array.from({ length: r.pick([1, 1, 1, 2, 3, 8, 16]) }, () => record(r, false));
      if (r.chance(0.12)) recs.push(record(r, true)); // at most one, last: the link closes there
      const fatalAt = recs.findIndex(recordIsFatal);
      const kept = fatalAt < 0 ? recs : recs.slice(0, fatalAt + 1);
      const d = kept.map((x) => `${x.type.toString(16)}/${x.payload.length}B${x.seq === 'next' ? '' : ` seq ${x.seq}`}${x.dest === 'victim' ? '' : ` to ${x.dest}`}${x.epoch === 'agent' ? '' : ` epoch ${x.epoch}`}`);
      return { ...base, fatal: fatalAt >= 0, desc: `linked: DATA ${d.join(', ').slice(0, 200)}`, parts: kept.map((rec) => ({ kind: 'record' as const, rec })) };
    }
    case 'source': {
      const m = mutateBody(r, { local: r.int(1, 4), game: r.pick(['g', 'g', 'other', 'nosuchgame']) });
      const ok = isSource(m.value);
      return { ...base, fatal: !ok, desc: `linked: SOURCE ${m.desc}`, parts: [{ kind: 'source', body: m.value }] };
    }
    case 'frame': {
      const rec = record(r, false);
      const m = mutateFrame(r, rawFrame(LinkFrame.DATA, 1, Buffer.concat([Buffer.alloc(4), Buffer.alloc(ENVELOPE_BYTES), rec.payload.subarray(0, 256)])), LINK_MAX);
      return { ...base, fatal: true, ending: endingFor(completeness(m.value, LINK_MAX), r.u32()), desc: `linked: DATA frame ${m.desc}`, parts: [{ kind: 'frame', bytes: m.value }] };
    }
    case 'other': {
      const type = r.pick([LinkFrame.HELLO, LinkFrame.CHALLENGE, LinkFrame.WELCOME, LinkFrame.ACK, LinkFrame.PONG, 0, 0xffff]);
      const body = encodeBody(r, weirdValue(r));
      return { ...base, fatal: type !== LinkFrame.PONG, desc: `linked: frame type ${type} ${show(body.subarray(0, 16))}`, parts: [{ kind: 'frame', bytes: rawFrame(type, r.u32(), body) }] };
    }
    default:
      return { ...base, fatal: false, desc: 'linked: PINGs', parts: Array.from({ length: r.int(1, 50) }, () => ({ kind: 'ping' as const, id: r.u32() })) };
  }
}

/** Case `index` of the peer-link target under `seed`. */
export function makeLinkCase(seed: number, index: number): LinkCase {
  const r = FuzzRandom.forCase(seed, 'link', index);
  return r.chance(0.3) ? freshCase(r, index) : linkedCase(r, index);
}

/** Linked cases share one handshake (the first case's setup), up to `max`, ending at a fatal one; fresh ones are alone. */
export function groupLink(cases: LinkCase[], max = 24): LinkCase[][] {
  return groupCases(cases, { alone: (c) => c.phase === 'fresh', key: () => 'linked', fatal: (c) => c.fatal, max });
}
