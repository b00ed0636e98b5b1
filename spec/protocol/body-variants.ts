/**
 * Malformed variants of a valid protocol body: for the body itself and for
 * every field in it (into nested maps and the first item of each array), the
 * field missing, of another type, a string far over any limit, a number out
 * of every range, and the value wrapped in one more map or array. None of
 * them is a body a correct peer sends.
 */

export interface Variant {
  /** e.g. `info.localId: a string` */
  what: string;
  /** The field changed ([] for the body itself). */
  path: string[];
  /** What the field holds in the variant (undefined: missing). */
  value: unknown;
  body: unknown;
}

const LONG = 'x'.repeat(5000);

/** Values that stand in for the whole body. */
const NOT_MAPS: Array<[string, unknown]> = [
  ['missing', undefined], ['null', null], ['a number', 5], ['a string', 'body'], ['bytes', new Uint8Array(4)],
];

/** Wrong values for a field that holds `v`, by what `v` is. */
function wrong(v: unknown): Array<[string, unknown]> {
  const nested: Array<[string, unknown]> = [['nested in a map', { v }], ['nested in an array', [v]]];
  if (typeof v === 'string') return [['a number', 5], ['true', true], ['null', null], ['bytes', new Uint8Array(3)], ['5000 characters', LONG], ...nested];
  if (typeof v === 'number') {
    return [['a string', String(v)], ['-1', -1], ['1.5', 1.5], ['2^53', 2 ** 53], ['null', null], ['true', true], ...nested];
  }
  if (v instanceof Uint8Array) return [['a string', 'bytes'], ['a number', 5], ['empty', new Uint8Array(0)], ['5000 bytes', new Uint8Array(5000)], ...nested];
  if (Array.isArray(v)) {
    // items of another kind than its own (an empty array's are taken to be maps)
    const others: [string, unknown] = typeof v[0] === 'number' ? ['an array of strings', ['x']] : ['an array of numbers', [5]];
    return [['a map', {}], ['a string', 'list'], ['a number', 5], ['null', null], others, ['nested in an array', [v]]];
  }
  return [['a number', 5], ['a string', 'map'], ['null', null], ['an empty array', []], ['nested in an array', [v]]];
}

const clone = (v: unknown): unknown => structuredClone(v);

function setAt(body: unknown, path: string[], value: unknown): unknown {
  const copy = clone(body);
  let at = copy as Record<string, unknown>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** The paths of every field in `body` (maps by key, arrays by their first item, `0`). */
function paths(body: unknown, prefix: string[] = []): string[][] {
  if (body instanceof Uint8Array || typeof body !== 'object' || body === null) return [];
  const entries: Array<[string, unknown]> = Array.isArray(body) ? (body.length ? [['0', body[0]]] : []) : Object.entries(body);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

/**
 * Every variant of `valid`. Fields named in `optional` may be missing (or
 * null); every other variant of them is still malformed.
 */
export function variants(valid: unknown, optional: ReadonlySet<string> = new Set()): Variant[] {
  const out: Variant[] = NOT_MAPS.map(([what, body]) => ({ what: `body: ${what}`, path: [], value: body, body }));
  out.push({ what: 'body: nested in an array', path: [], value: [valid], body: [valid] });
  for (const path of paths(valid)) {
    const name = path.join('.');
    const original = path.reduce<unknown>((at, k) => (at as Record<string, unknown>)[k], valid);
    const isOptional = optional.has(path[path.length - 1]!);
    const inArray = /^\d+$/.test(path[path.length - 1]!);
    const values = wrong(original).filter(([, v]) => !(isOptional && v === null));
    if (!isOptional && !inArray) values.unshift(['missing', undefined]);
    for (const [what, value] of values) out.push({ what: `${name}: ${what}`, path, value, body: setAt(valid, path, value) });
  }
  return out;
}
