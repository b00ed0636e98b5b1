/**
 * Mutators. Structure-aware ones start from a valid request body (a map
 * built like the real client builds it) and confuse its types, drop or add
 * fields; byte-level ones start from a valid encoded frame (frame.ts:
 * u32 length | u16 type | u32 id | body) and flip bits, truncate, lie in the
 * length field, claim huge lengths, or swap the body for garbage CBOR. Each
 * returns the bytes plus a short description, printed when a case is shown.
 */
import { encodeValue } from '../../lib/protocol/cbor.js';
import { FRAME_HEADER, FRAME_PREFIX } from '../../lib/protocol/frame.js';
import type { FuzzRandom } from './prng.js';
import { evilCbor, weirdNumber, weirdString, weirdValue } from './values.js';

export type Body = Record<string, unknown>;

export interface Mutated<T> {
  value: T;
  desc: string;
}

/** Confuse one aspect of a request body; `fields` lists the keys the server reads. */
export function mutateBody(r: FuzzRandom, body: Body, fields: readonly string[] = Object.keys(body)): Mutated<unknown> {
  const out: Body = { ...body };
  const field = fields.length ? r.pick(fields) : 'x';
  switch (r.weighted({ type: 5, edge: 2, text: 2, drop: 2, extra: 1, whole: 2, wrap: 1, many: 1 })) {
    case 'type':
      out[field] = weirdValue(r);
      return { value: out, desc: `${field} := ${show(out[field])}` };
    case 'edge':
      out[field] = r.chance(0.5) ? weirdNumber(r) : weirdString(r);
      return { value: out, desc: `${field} := ${show(out[field])}` };
    case 'text': {
      const v = out[field];
      out[field] = typeof v === 'string' ? mutateText(r, v) : weirdString(r);
      return { value: out, desc: `${field} := ${show(out[field])}` };
    }
    case 'drop':
      delete out[field];
      return { value: out, desc: `without ${field}` };
    case 'extra': {
      const k = weirdString(r);
      out[k] = weirdValue(r);
      return { value: out, desc: `extra ${show(k)}` };
    }
    case 'whole': {
      const v = weirdValue(r);
      return { value: v, desc: `body := ${show(v)}` };
    }
    case 'wrap':
      return r.chance(0.5) ? { value: [out], desc: 'body in an array' } : { value: { body: out }, desc: 'body in a map' };
    default: {
      for (const f of fields) if (r.chance(0.5)) out[f] = weirdValue(r, 1);
      return { value: out, desc: `several fields: ${show(out)}` };
    }
  }
}

/** A string edited the way a fuzzer edits names: a character changed, cut, doubled, or wildcarded. */
export function mutateText(r: FuzzRandom, s: string): string {
  if (s.length === 0) return weirdString(r);
  const i = r.below(s.length);
  switch (r.below(6)) {
    case 0: return s.slice(0, i) + String.fromCharCode(r.below(256)) + s.slice(i + 1);
    case 1: return s.slice(0, i);
    case 2: return s + s;
    case 3: return `${s.slice(0, i)}*${s.slice(i)}`;
    case 4: return s.replace(/\./g, r.pick(['', '..', '/', '*', '\u0000']));
    default: return s + 'x'.repeat(r.pick([1, 64, 128, 256]));
  }
}

/** The project's encoder, or hostile raw CBOR when the value cannot be encoded. */
export function encodeBody(r: FuzzRandom, value: unknown): Buffer {
  try {
    return Buffer.from(encodeValue(value));
  } catch {
    return evilCbor(r);
  }
}

/** A frame with a body of raw bytes (encodeFrame copies; so does this). */
export function rawFrame(type: number, id: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_PREFIX + FRAME_HEADER + body.length);
  out.writeUInt32BE(FRAME_HEADER + body.length, 0);
  out.writeUInt16BE(type & 0xffff, 4);
  out.writeUInt32BE(id >>> 0, 6);
  out.set(body, FRAME_PREFIX + FRAME_HEADER);
  return out;
}

/** Break a valid encoded frame at the byte level. `maxFrame` is the server's limit. */
export function mutateFrame(r: FuzzRandom, frame: Buffer, maxFrame: number): Mutated<Buffer> {
  const b = Buffer.from(frame);
  const len = b.length - FRAME_PREFIX;
  switch (r.weighted({ flip: 4, bytes: 2, truncate: 3, lenLie: 4, huge: 2, short: 1, type: 1, body: 3, extend: 1, dup: 1, splice: 1 })) {
    case 'flip': {
      const n = r.int(1, 8);
      for (let i = 0; i < n; i++) b[r.below(b.length)]! ^= 1 << r.below(8);
      return { value: b, desc: `${n} bit(s) flipped` };
    }
    case 'bytes': {
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) b[r.below(b.length)] = r.pick([0, 0xff, 0x7f, 0x80, 0x1f, 0x9f, 0xbf, r.below(256)]);
      return { value: b, desc: `${n} byte(s) overwritten` };
    }
    case 'truncate': {
      const at = r.below(b.length);
      return { value: b.subarray(0, at), desc: `truncated to ${at} of ${b.length} bytes` };
    }
    case 'lenLie': {
      const lie = r.pick([len - 1, len + 1, len + r.int(2, 64), len - r.int(1, Math.max(1, len - FRAME_HEADER)), Math.floor(len / 2), len * 2]);
      b.writeUInt32BE(Math.max(0, lie) >>> 0, 0);
      return { value: b, desc: `length field ${Math.max(0, lie)} (really ${len})` };
    }
    case 'huge': {
      const lie = r.pick([maxFrame, maxFrame + 1, 0x7fffffff, 0x80000000, 0xffffffff, maxFrame - 1, 64 * 1024 * 1024]);
      b.writeUInt32BE(lie >>> 0, 0);
      return { value: b, desc: `length field ${lie}` };
    }
    case 'short': {
      const lie = r.int(0, FRAME_HEADER - 1);
      b.writeUInt32BE(lie, 0);
      return { value: b, desc: `length field ${lie} (< header)` };
    }
    case 'type': {
      const t = r.pick([0, 1, 2, 3, 0xffff, r.below(0x10000), r.below(64)]);
      b.writeUInt16BE(t, 4);
      return { value: b, desc: `type field ${t}` };
    }
    case 'body': {
      const body = r.chance(0.6) ? evilCbor(r) : r.bytes(r.size(512));
      const out = rawFrame(b.readUInt16BE(4), b.readUInt32BE(6), body);
      return { value: out, desc: `body := ${body.length} bytes of garbage (${body.subarray(0, 12).toString('hex')}...)` };
    }
    case 'extend': {
      const extra = r.bytes(r.int(1, 64));
      return { value: Buffer.concat([b, extra]), desc: `${extra.length} random bytes appended` };
    }
    case 'dup':
      return { value: Buffer.concat([b, b, b]), desc: 'sent three times' };
    default: {
      const at = r.below(b.length);
      const ins = r.bytes(r.int(1, 16));
      return { value: Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]), desc: `${ins.length} bytes inserted at ${at}` };
    }
  }
}

/** A short printable rendering of a value (for case descriptions). */
export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return `${x}n`;
      if (x instanceof Uint8Array) return `<${x.length} bytes>`;
      if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
      if (x instanceof Set) return `<Set ${x.size}>`;
      if (x instanceof Map) return `<Map ${x.size}>`;
      return x;
    }) ?? typeof v;
  } catch {
    s = Array.isArray(v) ? '<deeply nested array>' : `<${typeof v}>`;
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
