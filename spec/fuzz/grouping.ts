/**
 * How cases become batches (one connection each): cases that need a
 * connection of their own stay alone; the others join the open batch of
 * their kind (e.g. authenticated as game `g`) in index order, skipping over
 * the lone ones between them, until the batch is full or a case that may
 * make the server close the connection ends it. Deterministic: the same
 * cases give the same batches.
 */
import type { FuzzCase } from './harness.js';

export interface Grouping<C> {
  /** A case that needs its own connection. */
  alone(c: C): boolean;
  /** Cases of one key share connections (e.g. the game they authenticate as). */
  key(c: C): string;
  /** The server may close the connection on it: its batch ends with it. */
  fatal(c: C): boolean;
  max: number;
}

export function groupCases<C extends FuzzCase>(cases: C[], g: Grouping<C>): C[][] {
  const out: C[][] = [];
  const open = new Map<string, C[]>();
  for (const c of cases) {
    if (g.alone(c)) {
      out.push([c]);
      continue;
    }
    const k = g.key(c);
    let batch = open.get(k);
    if (!batch) {
      batch = [];
      open.set(k, batch);
      out.push(batch); // placed where its first case is
    }
    batch.push(c);
    if (g.fatal(c) || batch.length >= g.max) open.delete(k);
  }
  return out;
}
