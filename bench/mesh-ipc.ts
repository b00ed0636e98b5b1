/**
 * The command channel between bench/mesh-local.ts and its children (Node IPC).
 *
 * A child reports `{ ready: info }` once it is set up, then answers each
 * `{ id, op, arg }` with exactly one `{ id, result }` or `{ id, error }`.
 * Commands may overlap (a receiver's `wait` is pending while the parent starts
 * the sender). A child exits as soon as the parent disconnects (the parent is
 * done with it, or died), so no child outlives a benchmark run.
 */
import type { InstanceRef } from '../lib/index.js';

/** The game `rxmesh up` serves by default, and the service the app children register. */
export const BENCH_GAME = 'demo';
export const BENCH_KEY = 'demo-key';
export const BENCH_SERVICE = `${BENCH_GAME}.bench.1.0`;

/** The arguments and results of mesh-app.ts's commands. */
export interface AppReady { ref: InstanceRef; pid: number }
export interface SendArg { to: InstanceRef; count: number; size: number }
export interface SendResult { seconds: number; queueFull: number; sleeps: number }
export interface ArmArg { count: number; size: number }
export interface PingArg { to: InstanceRef; count: number; warmup: number; size: number }
/** socket-pingpong.ts's ping command. */
export interface SocketPingArg { count: number; warmup: number; size: number }

export interface Call {
  id: number;
  op: string;
  arg?: unknown;
}

export interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export interface Hello {
  ready: unknown;
}

export type Handler = (arg: never) => unknown;

/** Child side: report `ready`, then serve calls with `handlers`. */
export function serve(ready: unknown, handlers: Record<string, Handler>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('this script is a benchmark child: start it through bench/mesh-local.ts');
  process.on('message', (msg: Call) => {
    const handler = handlers[msg.op] as ((arg: unknown) => unknown) | undefined;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown op '${msg.op}'`);
        return handler(msg.arg);
      })
      .then(
        (result) => send({ id: msg.id, result } satisfies Reply),
        (err: unknown) => send({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Reply),
      );
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready } satisfies Hello);
}

/** Exit when the parent goes away, for children that cannot serve yet (still connecting). */
export function exitWithParentIpc(): void {
  process.on('disconnect', () => process.exit(0));
}

/** p50/p99 of round trips in µs. */
export interface RttResult {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** The q-th quantile (0..1) of samples sorted ascending, as the samples' nearest rank. */
export function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function summarize(rtts: Float64Array): RttResult {
  const sorted = Float64Array.from(rtts).sort();
  return { count: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 };
}
