/**
 * sendEach: the shared core of the sending operators (toService, toInstance,
 * shardBy). Not an operator of its own: it sends each source value with
 * `send` and emits what `send` returns, in order, with bounded backpressure.
 *
 * When `send` throws QueueFullError (the instance's tx ring and its batch are
 * full), the value is kept and retried once the ring drained
 * (`whenWritable`); values that arrive meanwhile wait behind it, in order.
 * Both waits are bounded: one value waits at most `drainTimeoutMs`, and at
 * most `maxWaiting` values wait; past either the stream errors with
 * QueueFullError. Nothing is dropped and nothing buffers without limit.
 */
import { Observable, Subject, takeUntil, type OperatorFunction } from 'rxjs';
import { QueueFullError } from '../../protocol/errors.js';
import type { Headers } from '../../protocol/headers.js';

/** Backpressure bounds of the sending operators. */
export interface BackpressureOptions {
  /** How long one value may wait for a full tx ring to drain (ms). Default 5000. */
  drainTimeoutMs?: number;
  /** How many values may wait while the ring is full. Default 1024. */
  maxWaiting?: number;
}

/** Headers for each value sent: fixed, or a function of the value (see SendOptions.headers). */
export type HeadersOption<T> = Headers | ((value: T) => Headers | undefined);

/** The headers `opt` gives `value`. */
export const headersFor = <T>(opt: HeadersOption<T> | undefined, value: T): Headers | undefined => (typeof opt === 'function' ? opt(value) : opt);

/** What sendEach needs from an instance. */
export interface WritablePort {
  whenWritable(timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

export function sendEach<T, R>(
  port: WritablePort,
  send: (value: T) => R,
  opts: BackpressureOptions = {},
  prepare?: () => Promise<() => void>,
): OperatorFunction<T, R> {
  const drainTimeoutMs = opts.drainTimeoutMs ?? 5000;
  const maxWaiting = opts.maxWaiting ?? 1024;
  return (source) =>
    new Observable<R>((subscriber) => {
      const abort = new AbortController();
      // ends the subscription to the source at once, even in the middle of a synchronous source
      const stop = new Subject<void>();
      const fail = (err: unknown): void => {
        subscriber.error(err); // first: the source's completion that follows is then ignored
        stop.next();
      };
      const queue: T[] = [];
      let ready = !prepare;
      let draining = false;
      let sourceDone = false;

      const drain = async (): Promise<void> => {
        if (draining || !ready) return;
        draining = true;
        try {
          while (queue.length > 0 && !subscriber.closed) {
            let out: R;
            try {
              out = send(queue[0]!);
            } catch (err) {
              if (!(err instanceof QueueFullError)) throw err;
              await port.whenWritable(drainTimeoutMs, abort.signal);
              continue;
            }
            queue.shift();
            subscriber.next(out);
          }
          if (sourceDone) subscriber.complete();
        } catch (err) {
          fail(err);
        } finally {
          draining = false;
        }
      };

      let release: (() => void) | undefined;
      prepare?.().then((r) => {
        if (subscriber.closed) return r();
        release = r;
        ready = true;
        void drain();
      }, fail);

      const sub = source.pipe(takeUntil(stop)).subscribe({
        next: (value) => {
          if (ready && !draining && queue.length === 0) {
            try {
              return subscriber.next(send(value));
            } catch (err) {
              if (!(err instanceof QueueFullError)) return fail(err);
            }
          }
          if (queue.length >= maxWaiting) return fail(new QueueFullError(`more than ${maxWaiting} values waiting for the tx ring to drain`));
          queue.push(value);
          void drain();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (ready && !draining && queue.length === 0) subscriber.complete();
        },
      });

      return () => {
        stop.next();
        sub.unsubscribe();
        abort.abort();
        queue.length = 0;
        release?.();
        release = undefined;
      };
    });
}
