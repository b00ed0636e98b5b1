/**
 * Values for type confusion: what a hostile peer puts where a decoder expects
 * a string, a number or a map. `weirdValue` returns JS values the project's
 * own CBOR encoder can write (numbers at every boundary, strings that look
 * like names or are huge, byte strings, deep nesting, maps with prototype
 * keys, typed arrays, dates, sets); `evilCbor` returns raw CBOR that no
 * encoder writes (lengths far beyond the data, unterminated indefinite
 * items, reserved bytes, unknown tags).
 */
import type { FuzzRandom } from './prng.js';

const NUMBERS = [
  0, -0, 1, -1, 2, 7, 8, 255, 256, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
  2 ** 40, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -(2 ** 31), -(2 ** 63), 1.5, -1.5, 0.1, 1e308, -1e308, 5e-324,
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY,
];

const NAMEISH = [
  '', ' ', '*', '.', '..', '...', 'g', 'g.x.1.0', 'g.*.*.*', '*.*.*.*', 'other.svc.1.0', 'other.*.*.*',
  'g.fuzz.1.0', 'g.fuzz.*.*', 'g.a.b.c.d', 'g..1.0', 'g.bad name.1.0', 'g.caf\u00e9.1.0', 'g\u0000.x.1.0',
  'reject', 'replace', 'closed', 'crashed', 'replaced', 'agent_lost', '__proto__', 'constructor', 'toString',
  '\ud800', '\uffff', '\u202e', '%s%s%n', '../../../etc/passwd', '/dev/shm/x', 'NaN', '-1', '1e9999',
];

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'then'];

/** A string: name-like, random, or long. */
export function weirdString(r: FuzzRandom): string {
  switch (r.below(6)) {
    case 0:
    case 1:
      return r.pick(NAMEISH);
    case 2:
      return r.bytes(r.size(64)).toString('latin1');
    case 3:
      return r.pick(['a', 'x', '.', '*', '\u00e9', '\ud83d\ude00']).repeat(r.pick([63, 64, 65, 127, 128, 129, 256, 257, 1024, 65536]));
    case 4:
      return `g.${r.bytes(r.size(8)).toString('hex')}.${r.int(0, 9)}.${r.int(0, 9)}`;
    default:
      return String.fromCharCode(...Array.from({ length: r.size(16) }, () => r.below(0x10000)));
  }
}

/** A number at a boundary, or random, or a bigint. */
export function weirdNumber(r: FuzzRandom): number | bigint {
  switch (r.below(4)) {
    case 0:
      return r.pick([-1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n]);
    case 1:
      return r.u32() * (r.chance(0.5) ? 1 : -1);
    default:
      return r.pick(NUMBERS);
  }
}

/** Any value, nested up to `depth`. */
export function weirdValue(r: FuzzRandom, depth = 2): unknown {
  const kind = r.below(depth > 0 ? 16 : 10);
  switch (kind) {
    case 0: return undefined;
    case 1: return null;
    case 2: return r.chance(0.5);
    case 3:
    case 4: return weirdNumber(r);
    case 5:
    case 6: return weirdString(r);
    case 7: return new Uint8Array(r.bytes(r.pick([0, 1, 16, 31, 32, 33, 64, 1025, r.size(4096)])));
    case 8: return r.pick([new Date(r.u32() * 1000), new Float64Array([r.float(), Number.NaN]), new Uint16Array([1, 2, 3]), new Int32Array([-1])]);
    case 9: return r.chance(0.5) ? [] : {};
    case 10: return Array.from({ length: r.size(8) }, () => weirdValue(r, depth - 1));
    case 11: {
      const o: Record<string, unknown> = {};
      for (let i = r.size(6); i > 0; i--) o[r.chance(0.3) ? r.pick(PROTO_KEYS) : weirdString(r)] = weirdValue(r, depth - 1);
      return o;
    }
    case 12: return nested(r.pick([10, 100, 1000, 5000]), r.chance(0.5));
    case 13: return new Set([weirdValue(r, depth - 1), 1]);
    case 14: return new Map<unknown, unknown>([[weirdValue(r, 0), weirdValue(r, depth - 1)], [1, 2]]);
    default: return { [r.pick(PROTO_KEYS)]: weirdValue(r, depth - 1) };
  }
}

/** An array (or map) nested `levels` deep: stresses recursive decoders. */
function nested(levels: number, asMap: boolean): unknown {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = asMap ? { a: v } : [v];
  return v;
}

/** CBOR heads and items no well-behaved encoder writes. */
const EVIL: readonly number[][] = [
  [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // byte string of 2^64-1 bytes
  [0x7a, 0x7f, 0xff, 0xff, 0xff], // text string of 2^31-1 bytes
  [0x9a, 0xff, 0xff, 0xff, 0xff], // array of 2^32-1 items
  [0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // array of 2^32 items
  [0xba, 0x7f, 0xff, 0xff, 0xff], // map of 2^31-1 pairs
  [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // map of 2^64-1 pairs
  [0x9f, 0x01, 0x02], // unterminated indefinite array
  [0xbf, 0x61, 0x61], // unterminated indefinite map, key without value
  [0x5f, 0x41, 0x00, 0x61, 0x61, 0xff], // indefinite byte string with a text chunk
  [0x7f, 0x41, 0x00, 0xff], // indefinite text string with a byte chunk
  [0x1c], [0x1d], [0x1e], [0x1f], [0xff], [0xfc], [0xf8, 0x10], // reserved / break outside indefinite
  [0xd8, 0x69, 0x80], // tag 105 (cbor-x record definition) on an empty array
  [0xd9, 0xdf, 0xff, 0x80], // tag 57343 (cbor-x record) on an array
  [0xda, 0x52, 0x58, 0x4d, 0x51, 0xa0], // a 32-bit tag on a map
  [0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00], // a 64-bit tag
  [0xc2, 0x5a, 0x00, 0x10, 0x00, 0x00], // bignum whose bytes are missing
  [0xd8, 0x1c, 0xa0], // tag 28 (shared value) on a map
  [0xd8, 0x1d, 0x00], // tag 29 (shared reference) to nothing
  [0xd9, 0x01, 0x02, 0x9f, 0xd9, 0x01, 0x02, 0x80, 0xff], // sets of sets
  [0xd8, 0x40, 0x5a, 0x7f, 0xff, 0xff, 0xff], // typed-array tag, 2 GiB claimed
  [0xd8, 0x25, 0x63, 0x61, 0x2a, 0x28], // tag 37 (uuid) on text
  [0xd8, 0x23, 0x63, 0x28, 0x3f, 0x3d], // tag 35 (regexp) on a broken pattern
  [0xd8, 0x1b, 0x82, 0x61, 0x41, 0x80], // tag 27 (object with a constructor name)
  [0xa1, 0x69, 0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f, 0xa1, 0x61, 0x78, 0x01], // {"__proto__": {"x": 1}}
  [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], // a duplicate key
  [0xf9, 0x7c, 0x01], // half-float NaN with payload
  [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1], // double NaN with payload
];

/** Raw CBOR bytes that are malformed or hostile, optionally after a valid map head. */
export function evilCbor(r: FuzzRandom): Buffer {
  const evil = Buffer.from(r.pick(EVIL));
  switch (r.below(4)) {
    case 0: return evil;
    case 1: return Buffer.concat([Buffer.from([0xa1, 0x67]), Buffer.from('service'), evil]); // {"service": <evil>}
    case 2: return Buffer.concat([evil, r.bytes(r.size(32))]);
    default: return Buffer.concat([Buffer.from([0x82]), evil, evil]); // two of them in an array
  }
}
