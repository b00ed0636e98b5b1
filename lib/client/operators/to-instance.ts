/**
 * toInstance: sends each source value to one named instance (stateful) and
 * emits that instance's ref once the value is queued.
 *
 * ```
 * source:    --a-----b-----c--|
 * toInstance(inst, scene)
 * result:    --s-----s-----s--|     (s = scene, the same InstanceRef each time)
 * ```
 *
 * A value for an instance that is offline is reported on
 * `inst.undeliverable$` (reason `offline`) by the agent. Cold.
 *
 * Backpressure: when the tx ring is full it waits for it to drain, bounded by
 * `drainTimeoutMs` per value and `maxWaiting` values, then errors with
 * QueueFullError; it never drops and never buffers without limit.
 *
 * ## Example
 * ```ts
 * const scene = await firstValueFrom(gateway.members$('g.scene.1.0').pipe(map((m) => m[0]!)));
 * moves$.pipe(toInstance(gateway, scene)).subscribe();
 * ```
 *
 * @param inst The sending instance (online).
 * @param ref The destination instance.
 * @param opts Backpressure bounds; `headers` for each message (or a function of the value).
 * @return An operator emitting `ref` per value sent.
 */
import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../mesh-api.js';
import type { InstanceRef } from '../message.js';
import { headersFor, sendEach, type BackpressureOptions, type HeadersOption } from './send-each.js';

/** Stateful send of each value to one instance; emits `ref` per value. Backpressure as in toService. */
export function toInstance<T>(inst: Instance, ref: InstanceRef, opts: BackpressureOptions & { headers?: HeadersOption<T> } = {}): OperatorFunction<T, InstanceRef> {
  const { headers } = opts;
  return sendEach(inst, (value: T) => {
    inst.sendTo(ref, value, headers === undefined ? undefined : { headers: headersFor(headers, value) });
    return ref;
  }, opts);
}
