/** Hang guards for specs (not timing assertions): wait for a stream value or fail after a generous bound. */
import { filter, firstValueFrom, timeout, type Observable } from 'rxjs';

export const GUARD_MS = 10_000;

export function next<T>(source: Observable<T>, predicate: (v: T) => boolean = () => true, ms = GUARD_MS): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate), timeout({ first: ms })));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns something truthy; fail after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Poll `cond` until true (or fail after `ms`). */
export async function until(cond: () => boolean, ms = GUARD_MS, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The error `p` rejects with; fails when it resolves (a request that should have been refused was served). */
export async function refusal<E extends Error = Error & { code: string }>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (err) {
    return err as E;
  }
  throw new Error('the request was served');
}
