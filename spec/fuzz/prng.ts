/**
 * FuzzRandom: the fuzzer's seeded random source (xoshiro128**, its state
 * filled by splitmix32 from a string key). Every case gets its own generator,
 * keyed by (seed, target, case index), so case i is the same whatever ran
 * before it, in whichever lane, and can be rebuilt alone to reproduce it.
 */

/** splitmix32 step: a well-mixed 32-bit word from a 32-bit counter. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit hash of a string (FNV-1a, then mixed). */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return splitmix32(h);
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

export class FuzzRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for `key` (any string: seed, target and case index joined). */
  constructor(readonly key: string) {
    let s = hashKey(key);
    this.a = s = splitmix32(s);
    this.b = s = splitmix32(s);
    this.c = s = splitmix32(s);
    this.d = splitmix32(s) || 1;
  }

  /** The generator of case `index` of `target` under `seed`. */
  static forCase(seed: number, target: string, index: number): FuzzRandom {
    return new FuzzRandom(`${seed >>> 0}/${target}/${index}`);
  }

  /** A uniformly random 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    return result;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n) (n >= 1). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** One key of a weight table, with probability proportional to its weight. */
  weighted<K extends string>(table: Readonly<Record<K, number>>): K {
    const entries = Object.entries(table) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let x = this.float() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (w >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** A length skewed towards small values (most inputs are short; a few are long). */
  size(max: number): number {
    const bits = this.below(Math.max(1, Math.ceil(Math.log2(max + 1))) + 1);
    return Math.min(max, this.below(2 ** bits));
  }
}
