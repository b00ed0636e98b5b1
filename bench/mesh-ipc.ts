/**
 * The command channel between bench/mesh-local.ts (and bench/compare.ts) and
 * their children (Node IPC).
 *
 * A child reports `{ ready: info }` once it is set up, then answers each
 * `{ id, op, arg }` with exactly one `{ id, result }` or `{ id, error }`.
 * Commands may overlap (a receiver's `wait` is pending while the parent starts
 * the sender). A child exits as soon as the parent disconnects (the parent is
 * done with it, or died), so no child outlives a benchmark run.
 */
import type { ChildProcess } from 'node:child_process';
import type { InstanceRef } from '../lib/index.js';
import { makePayload, readSeq, writeSeq } from './workload.js';

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

/** The median of a few runs' results (the upper one of an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export function summarize(rtts: Float64Array): RttResult {
  const sorted = Float64Array.from(rtts).sort();
  return { count: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 };
}

/**
 * Time `warmup + count` round trips of `size` bytes, one in flight, as a
 * requester that awaits each answer: `trip` sends the payload (numbered i,
 * workload.ts) and resolves with the answer, which must carry the same number
 * and size. Returns p50/p99 of the last `count` in µs.
 */
export async function timeRoundTrips(
  { count, warmup, size }: SocketPingArg,
  trip: (payload: Uint8Array) => Promise<Uint8Array>,
): Promise<RttResult> {
  const payload = makePayload(size);
  const rtts = new Float64Array(count);
  for (let i = 0; i < warmup + count; i++) {
    writeSeq(payload, 0, i);
    const sentAt = performance.now();
    const answer = await trip(payload);
    const took = performance.now() - sentAt;
    if (readSeq(answer, 0) !== i || answer.length !== size) {
      throw new Error(`round trip ${i}: answer numbered ${readSeq(answer, 0)}, ${answer.length} bytes (want ${size})`);
    }
    if (i >= warmup) rtts[i - warmup] = took * 1000;
  }
  return summarize(rtts);
}

/**
 * Parent side of the channel, for one child spawned with an 'ipc' stdio slot:
 * `ready` is its `{ ready }` report, `call` one command and its answer. Both
 * reject if the child exits first or stays silent for `timeoutMs`.
 */
export class Channel<R = unknown> {
  readonly ready: Promise<R>;
  private readonly exited: Promise<never>;
  private readonly answers = new Map<number, (reply: Reply) => void>();
  private lastId = 0;

  constructor(readonly name: string, readonly proc: ChildProcess, private readonly timeoutMs = 120_000) {
    this.exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code})`)));
    });
    this.exited.catch(() => {}); // surfaces through within() when someone waits
    let hello: (info: R) => void = () => {};
    this.ready = this.within(new Promise<R>((resolve) => (hello = resolve)), 'start');
    proc.on('message', (msg: Reply | Hello) => {
      if ('ready' in msg) hello(msg.ready as R);
      else this.answers.get(msg.id)?.(msg);
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** `promise`, unless the child exits or the time runs out first. */
  within<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} ${what}: nothing after ${this.timeoutMs / 1000} s`)), this.timeoutMs);
    });
    return Promise.race([promise, this.exited, late]).finally(() => clearTimeout(timer));
  }

  call<T>(op: string, arg?: unknown): Promise<T> {
    const id = ++this.lastId;
    const answer = new Promise<T>((resolve, reject) => {
      this.answers.set(id, (reply) => {
        this.answers.delete(id);
        if (reply.error !== undefined) reject(new Error(`${this.name}: ${reply.error}`));
        else resolve(reply.result as T);
      });
    });
    this.proc.send({ id, op, arg } satisfies Call);
    return this.within(answer, op);
  }

  /** A message outside the call protocol (workload.ts's RunCommand for the socket producer). */
  post(msg: object): void {
    this.proc.send(msg);
  }

  /** Disconnect (the child exits by itself); SIGKILL if it has not gone within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const { proc } = this;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    if (proc.connected) proc.disconnect();
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
