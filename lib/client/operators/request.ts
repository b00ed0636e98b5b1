/**
 * request: turns each source value into a request to `target` (a service,
 * routed by a strategy, or one instance) and emits its reply Message.
 *
 * ```
 * source:  --a-----------b-----------|
 * request(inst, 'g.scene.1.0', { timeoutMs: 1000 })
 * result:  ------A'----------B'------|    (A' = reply to a)
 * source:  --c----------
 * result:  ------------#                  TimeoutError (code TIMEOUT) after 1000 ms
 * ```
 *
 * Cold: nothing is sent before subscription. With `concurrency` 1 (default)
 * one request is in flight at a time and replies come in source order; more
 * runs them in parallel (replies in completion order). Errors propagate as
 * MeshError codes: TIMEOUT, NO_ROUTE (no instance online, or bounced as
 * undeliverable), REMOTE (the handler answered with an error), CLOSED.
 * Unsubscribing cancels pending requests with their timers and releases the
 * watch it holds on a service target.
 *
 * Backpressure: when the tx ring is full, a request waits for it to drain, up
 * to `drainTimeoutMs`, then errors with QueueFullError; it never drops and
 * never buffers without limit beyond the `concurrency` requests in flight.
 *
 * ## Example
 * ```ts
 * of({ op: 'join' }, { op: 'move' }).pipe(request(gate, 'g.scene.1.0', { timeoutMs: 2000 }))
 *   .subscribe((r) => console.log(r.value()));
 * ```
 *
 * @param inst The requesting instance (online).
 * @param target A service name (routed; watched while subscribed) or an InstanceRef.
 * `key` may be a function of each value (routing by key with `consistent-hash`;
 * shardRequest() is that, named).
 *
 * @param opts `timeoutMs` per request, strategy options, `concurrency`, `drainTimeoutMs`, `headers`.
 * @return An operator emitting one reply Message per value.
 */
import { mergeMap, Observable, type OperatorFunction } from 'rxjs';
import { QueueFullError } from '../../protocol/errors.js';
import type { RequestOptions } from '../instance-options.js';
import { internals } from '../internals.js';
import type { Instance } from '../mesh-api.js';
import type { InstanceRef, Message } from '../message.js';
import { headersFor, type HeadersOption } from './send-each.js';

/** request()'s options: a request's (routing, timeout), `concurrency`, and backpressure bounds. */
export interface RequestOperatorOptions<T = unknown> extends Omit<RequestOptions, 'signal' | 'key' | 'headers'> {
  /** The routing key, or a function taking it from each value (consistent-hash). */
  key?: string | number | ((value: T) => string | number);
  /** Headers for each request, or a function taking them from each value. */
  headers?: HeadersOption<T>;
  concurrency?: number;
  /** How long one request may wait for a full tx ring to drain (ms). Default 5000. */
  drainTimeoutMs?: number;
}

/**
 * Each value becomes a request to `target` (a service, routed as `send` routes, or an instance); emits each
 * reply Message. Cold; `concurrency` requests in flight (default 1). Errors as Instance.request rejects.
 */
export function request<T>(inst: Instance, target: string | InstanceRef, opts: RequestOperatorOptions<T> = {}): OperatorFunction<T, Message> {
  const { concurrency = 1, drainTimeoutMs = 5000, key, headers, ...reqOpts } = opts;
  const keyOf = typeof key === 'function' ? key : () => key;
  const one = (value: T, ready: Promise<unknown>) =>
    new Observable<Message>((subscriber) => {
      const abort = new AbortController();
      const run = async (): Promise<Message> => {
        await ready;
        for (;;) {
          try {
            const k = keyOf(value);
            const h = headersFor(headers, value);
            return await inst.request(target, value, { ...reqOpts, signal: abort.signal, ...(k === undefined ? {} : { key: k }), ...(h === undefined ? {} : { headers: h }) });
          } catch (err) {
            if (!(err instanceof QueueFullError) || abort.signal.aborted) throw err;
            await inst.whenWritable(drainTimeoutMs, abort.signal);
          }
        }
      };
      run().then((m) => { subscriber.next(m); subscriber.complete(); }, (err: unknown) => subscriber.error(err));
      return () => abort.abort();
    });
  return (source) =>
    new Observable<Message>((subscriber) => {
      let release: (() => void) | undefined;
      const held = typeof target === 'string' ? internals(inst).holdWatch(target) : Promise.resolve(() => {});
      // a failed watch is reported through the first request
      held.then((r) => (subscriber.closed ? r() : (release = r)), () => {});
      const sub = source.pipe(mergeMap((v) => one(v, held), concurrency)).subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        release?.();
        release = undefined;
      };
    });
}
