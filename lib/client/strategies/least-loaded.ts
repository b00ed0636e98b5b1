/**
 * least-loaded: the candidate with the fewest bytes queued for it, as its
 * agent last reported (`ctx.load`); ties (e.g. all idle) are broken at random
 * so an idle service still spreads. Reports lag by up to ~100 ms, so a burst
 * sent within one report interval can pile onto the same instance.
 */
import type { InstanceRef } from '../message.js';
import type { RouteContext, Strategy } from './strategy.js';

export class LeastLoadedStrategy implements Strategy {
  constructor(private readonly random: () => number = Math.random) {}

  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined {
    let best: InstanceRef | undefined;
    let bestDepth = Infinity;
    let ties = 0;
    for (const c of candidates) {
      const d = ctx.load?.(c) ?? 0;
      if (d < bestDepth) {
        best = c;
        bestDepth = d;
        ties = 1;
      } else if (d === bestDepth && this.random() * ++ties < 1) {
        best = c; // reservoir sampling: each tied candidate wins with probability 1/ties
      }
    }
    return best;
  }
}
