/** Shared by the limit specs: what a refusal must look like, a round trip that shows instances still work, the agent's mappings. */
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import * as rxmesh from '../../../lib/index.js';
import type { Instance, MeshError } from '../../../lib/index.js';
import { next } from '../../helpers/wait.js';

/** A LimitError (code LIMIT) whose message names `what` (the flag or sysctl to change). */
export function assertLimit(err: unknown, what: RegExp): void {
  assert.ok(err, 'expected a refusal, got none');
  assert.is((err as MeshError).code, 'LIMIT', `refused with code LIMIT (got ${(err as Error).name}: ${(err as Error).message})`);
  const LimitError = (rxmesh as unknown as Record<string, unknown>)['LimitError'] as (new () => Error) | undefined;
  assert.ok(LimitError && err instanceof LimitError, 'a LimitError');
  assert.match((err as Error).message, what);
}

/** The startup error of `inst`, or null when it started. */
export function startupError(inst: Instance): Promise<Error | null> {
  return next(inst.startup$).then(() => null, (e: Error) => e);
}

/** `a` sends to `b`, `b` answers: both instances still work. */
export async function roundTrip(a: Instance, b: Instance): Promise<void> {
  const sub = b.messages$.subscribe((m) => m.reply(`pong:${String(m.value())}`));
  try {
    const reply = await a.request(b.ref!, 'ping', { timeoutMs: 10_000 });
    assert.is(reply.value(), 'pong:ping');
  } finally {
    sub.unsubscribe();
  }
}

/** Memory mappings of process `pid` (what vm.max_map_count counts). */
export function mappings(pid: number): number {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').length - 1;
}

/** Anonymous memory of process `pid` in KiB (heap, malloc: not shared ring pages). */
export function anonKb(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m?.[1]);
}
