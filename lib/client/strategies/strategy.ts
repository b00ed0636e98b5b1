/** A routing strategy picks one of a service's online instances. */
import type { InstanceRef } from '../message.js';

export interface RouteContext {
  service: string;
  key?: string | number;
}

export interface Strategy {
  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined;
}
