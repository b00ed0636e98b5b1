/** A routing strategy picks one of a service's online instances. It reads
 * everything it needs from its arguments and subscribes to nothing. */
import type { InstanceRef } from '../message.js';

export interface RouteContext {
  service: string;
  /** The routing key (`consistent-hash`). */
  key?: string | number;
  /** The queue depth (bytes waiting) the agents last reported for an instance; 0 when unknown. */
  load?(ref: InstanceRef): number;
}

export interface Strategy {
  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined;
}
