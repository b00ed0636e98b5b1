/**
 * shardRequest: requests each value from the instance of `service` that owns
 * the key `keyFn(value)` on a consistent-hash ring, and emits its reply: what
 * shardBy is for sends, for requests. The same key keeps going to the same
 * instance while the membership is unchanged; when one leaves, only its keys
 * move.
 *
 * ```
 * source:    --{p:1}--{p:2}--{p:1}--|
 * shardRequest(gate, 'g.scene.1.0', (c) => c.p)
 * result:    ----R1------R2------R1'-|   (player 1's requests always answered by the same scene)
 * ```
 *
 * It is `request(inst, service, { ...opts, strategy: 'consistent-hash', key: keyFn })`:
 * same watch held while subscribed, same `concurrency` (default 1: one request
 * in flight, replies in source order), same errors (TIMEOUT, NO_ROUTE, REMOTE,
 * CLOSED) and bounded backpressure. Cold.
 *
 * ## Example
 * ```ts
 * commands$.pipe(shardRequest(gateway, 'g.scene.1.0', (cmd) => cmd.player, { concurrency: 64 }))
 *   .subscribe((reply) => console.log(reply.from.userData, reply.value()));
 * ```
 *
 * @param inst The requesting instance (online).
 * @param service The sharded service.
 * @param keyFn The shard key of a value (e.g. a player id).
 * @param opts `timeoutMs`, `concurrency`, `drainTimeoutMs`.
 * @return An operator emitting one reply Message per value.
 */
import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../mesh-api.js';
import type { Message } from '../message.js';
import { request, type RequestOperatorOptions } from './request.js';

/** shardRequest's options: request's, less the routing it decides itself. */
export type ShardRequestOptions = Omit<RequestOperatorOptions, 'strategy' | 'key' | 'via'>;

/** `request` with consistent-hash on `keyFn(value)`: each key's requests are answered by the instance that owns it. */
export function shardRequest<T>(inst: Instance, service: string, keyFn: (value: T) => string | number, opts: ShardRequestOptions = {}): OperatorFunction<T, Message> {
  return request<T>(inst, service, { ...opts, strategy: 'consistent-hash', key: keyFn });
}
