/**
 * local-first: an instance on this app's own agent (`node === 0`) when there
 * is one, round-robin among those; otherwise round-robin over all candidates.
 */
import type { InstanceRef } from '../message.js';
import { RoundRobinStrategy } from './round-robin.js';
import type { RouteContext, Strategy } from './strategy.js';

export class LocalFirstStrategy implements Strategy {
  private readonly local = new RoundRobinStrategy();
  private readonly any = new RoundRobinStrategy();

  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined {
    const local = candidates.filter((c) => c.node === 0);
    return local.length > 0 ? this.local.select(local, ctx) : this.any.select(candidates, ctx);
  }
}
