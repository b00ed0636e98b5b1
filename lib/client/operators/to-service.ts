/**
 * toService: sends each source value to one instance of `service`, stateless,
 * chosen by a strategy, and emits the instance it was routed to.
 *
 * ```
 * source:    --a-----b-----c--|
 * toService(inst, 'g.scene.1.0')
 * result:    --r1----r2----r3-|     (round-robin: r1, r2, r3 are InstanceRefs)
 * ```
 *
 * Emits `null` for a value no instance was online for: that value is reported
 * on `inst.undeliverable$` (reason `no_route`), as `inst.send` does. While
 * subscribed it holds a watch on `service` (released on unsubscribe), so the
 * service need not be watched beforehand; values that arrive before the watch
 * is ready wait for it. Cold: nothing is sent before subscription.
 *
 * Backpressure: when the tx ring is full it waits for it to drain, bounded by
 * `drainTimeoutMs` per value and `maxWaiting` values, then errors with
 * QueueFullError; it never drops and never buffers without limit. Other send
 * errors (ClosedError, BadArgumentError, ...) error the stream with their
 * MeshError code.
 *
 * ## Example
 * ```ts
 * commands$.pipe(toService(gateway, 'g.scene.1.0', { strategy: 'least-loaded' }))
 *   .subscribe((ref) => console.log('routed to', ref?.id));
 * ```
 *
 * @param inst The sending instance (online).
 * @param service The service to route to.
 * @param opts Strategy, `key` (a value or a function of the value), `via`, and backpressure bounds.
 * @return An operator emitting the routed InstanceRef (or null) per value.
 */
import type { OperatorFunction } from 'rxjs';
import type { SendOptions } from '../instance-options.js';
import { internals } from '../internals.js';
import type { Instance } from '../mesh-api.js';
import type { InstanceRef } from '../message.js';
import { headersFor, sendEach, type BackpressureOptions, type HeadersOption } from './send-each.js';

/** toService's options: those of `send` (with `key` possibly a function of the value) and the backpressure bounds. */
export interface ToServiceOptions<T> extends Omit<SendOptions, 'key' | 'headers'>, BackpressureOptions {
  /** The routing key, or a function taking it from each value (consistent-hash). */
  key?: string | number | ((value: T) => string | number);
  /** Headers for each message, or a function taking them from each value. */
  headers?: HeadersOption<T>;
}

/**
 * Stateless send of each value to an instance of `service` (any strategy), watching the service while
 * subscribed; emits the routed instance, or null when none is online (reported on undeliverable$).
 * A full ring is waited out (bounded: BackpressureOptions), then errors with QueueFullError.
 */
export function toService<T>(inst: Instance, service: string, opts: ToServiceOptions<T> = {}): OperatorFunction<T, InstanceRef | null> {
  const { key, headers, drainTimeoutMs, maxWaiting, ...send } = opts;
  const keyOf = typeof key === 'function' ? key : () => key;
  const bounds: BackpressureOptions = {};
  if (drainTimeoutMs !== undefined) bounds.drainTimeoutMs = drainTimeoutMs;
  if (maxWaiting !== undefined) bounds.maxWaiting = maxWaiting;
  return sendEach(
    inst,
    (value: T) => {
      const k = keyOf(value);
      const h = headersFor(headers, value);
      return inst.send(service, value, k === undefined && h === undefined ? send : { ...send, key: k, headers: h });
    },
    bounds,
    () => internals(inst).holdWatch(service),
  );
}
