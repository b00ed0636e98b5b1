/** round-robin (the default): each service's candidates in turn. */
import type { InstanceRef } from '../message.js';
import type { RouteContext, Strategy } from './strategy.js';

export class RoundRobinStrategy implements Strategy {
  private readonly next = new Map<string, number>();

  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined {
    if (candidates.length === 0) return undefined;
    const i = (this.next.get(ctx.service) ?? 0) % candidates.length;
    this.next.set(ctx.service, i + 1);
    return candidates[i];
  }
}
