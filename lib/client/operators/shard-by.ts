/**
 * shardBy: sends each value to the instance of `service` that owns the key
 * `keyFn(value)` on a consistent-hash ring, and emits that instance. The same
 * key keeps going to the same instance while the membership is unchanged;
 * when an instance leaves, only its keys move, and when one joins N, about
 * 1/(N+1) of the keys move (all to it).
 *
 * ```
 * source:    --{p:1}--{p:2}--{p:1}--|
 * shardBy(inst, 'g.scene.1.0', (c) => c.p)
 * result:    --s2-----s1-----s2-----|     (player 1 always on s2)
 * ```
 *
 * It is `toService(inst, service, { strategy: 'consistent-hash', key: keyFn })`:
 * same watch, `null` for no route, and the same bounded backpressure (waits
 * for a full tx ring to drain, then QueueFullError). A `keyFn` that returns
 * no key errors the stream with BadArgumentError. Cold.
 *
 * ## Example
 * ```ts
 * commands$.pipe(shardBy(gateway, 'g.scene.1.0', (cmd) => cmd.player))
 *   .subscribe((scene) => console.log('player handled by', scene?.id));
 * ```
 *
 * @param inst The sending instance (online).
 * @param service The sharded service.
 * @param keyFn The shard key of a value (e.g. a player id).
 * @param opts Backpressure bounds; `headers` for each message (or a function of the value).
 * @return An operator emitting the owning InstanceRef (or null) per value.
 */
import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../mesh-api.js';
import type { InstanceRef } from '../message.js';
import type { BackpressureOptions, HeadersOption } from './send-each.js';
import { toService } from './to-service.js';

/** toService with consistent-hash on `keyFn(value)` (e.g. a player id): a key keeps its instance; emits the owner. */
export function shardBy<T>(inst: Instance, service: string, keyFn: (value: T) => string | number, opts: BackpressureOptions & { headers?: HeadersOption<T> } = {}): OperatorFunction<T, InstanceRef | null> {
  return toService<T>(inst, service, { ...opts, strategy: 'consistent-hash', key: keyFn });
}
