/**
 * The checks every protocol's body decoders get in spec/protocol (control,
 * name server, link handshake), run on bodies a tap took from real ends: each
 * decodes to itself; every malformed variant of each (body-variants.ts) is
 * refused with the error the protocol says; fields a decoder does not know
 * are left out of the copy it returns.
 */
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { variants, type Variant } from './body-variants.js';

export type Decoder = (value: unknown) => unknown;
export type ErrorClass = new (...args: never[]) => Error;

/** A body a tap saw: its kind (request, answer, event, or a link frame's name) and message type. */
export interface Sample {
  kind: string;
  type: number;
  body: unknown;
}

export interface Decoders<T extends Sample> {
  /** The decoder of a body, or undefined for one that has none (a FAILURE, say). */
  of(t: T): Decoder | undefined;
  /** The error a malformed variant of `t` must be refused with. */
  refusal(t: T, v: Variant): ErrorClass;
  /** Fields of `t` that may be missing (or null). */
  optional(t: T): ReadonlySet<string>;
}

/** Decoders by a body's kind and type. */
export type ByKind = Readonly<Record<string, Readonly<Record<number, Decoder>>>>;

/** The decoder of a body in `byKind` (undefined: none, as for a FAILURE). */
export const decoderIn = (byKind: ByKind) => (t: Sample): Decoder | undefined => byKind[t.kind]?.[t.type];

/** A body of every kind and type `byKind` has a decoder for went by. */
export function assertEachType(seen: readonly Sample[], byKind: ByKind): void {
  for (const [kind, decoders] of Object.entries(byKind)) {
    for (const type of Object.keys(decoders)) assert.ok(seen.some((t) => t.kind === kind && t.type === Number(type)), `a ${kind} of type ${type}`);
  }
}

const sizeOf = (body: unknown): number => JSON.stringify(body)?.length ?? 0;

/** Every body with a decoder decodes to itself; returns how many were decoded. */
export function decodeAll<T extends Sample>(seen: readonly T[], d: Decoders<T>): number {
  let decoded = 0;
  for (const t of seen) {
    const decode = d.of(t);
    if (!decode) continue;
    assert.equal(decode(t.body), t.body, `${t.kind} of type ${t.type}`);
    decoded++;
  }
  return decoded;
}

/** One sample of each (kind, type): the one with the most in it (a WATCH answer with instances, say). */
export function samples<T extends Sample>(seen: readonly T[], d: Decoders<T>): T[] {
  const best = new Map<string, T>();
  for (const t of seen) {
    if (!d.of(t)) continue;
    const key = `${t.kind} ${t.type}`;
    const prev = best.get(key);
    if (!prev || sizeOf(t.body) > sizeOf(prev.body)) best.set(key, t);
  }
  return [...best.values()];
}

/** Every malformed variant of each sample is refused with its error; returns how many were checked. */
export function refuseVariants<T extends Sample>(picked: readonly T[], d: Decoders<T>): number {
  let checked = 0;
  for (const t of picked) {
    const decode = d.of(t)!;
    for (const v of variants(t.body, d.optional(t))) {
      const Expected = d.refusal(t, v);
      assert.throws(() => decode(v.body), (e: unknown) => e instanceof Expected, `${t.kind} of type ${t.type}, ${v.what}: expected ${Expected.name}`);
      checked++;
    }
  }
  return checked;
}

/** A field no decoder knows is left out of the copy it returns, and the copy is not the body itself. */
export function leaveOutExtras<T extends Sample>(picked: readonly T[], d: Decoders<T>): void {
  for (const t of picked) {
    const decode = d.of(t)!;
    const extra = decode({ ...(t.body as object), extra: { deep: [1, 2] } });
    assert.equal(extra, decode(t.body), `${t.kind} of type ${t.type}`);
    assert.is.not(decode(t.body), t.body, 'a copy, not the body itself');
  }
}

/**
 * The two checks that read only the samples, as tests of `test`: every
 * malformed variant refused (at least `minVariants` of them; `refused` says
 * with what, for the title), and unknown fields left out.
 */
export function sampleTests<T extends Sample>(test: Test, what: string, seen: () => readonly T[], d: Decoders<T>, o: { minVariants: number; refused: string }): void {
  test(`${what} - every malformed variant of each body is refused, with ${o.refused}`, () => {
    const checked = refuseVariants(samples(seen(), d), d);
    assert.ok(checked > o.minVariants, `${checked} variants checked`);
  });
  test(`${what} - fields no decoder knows are left out of the copy it returns`, () => {
    leaveOutExtras(samples(seen(), d), d);
  });
}
