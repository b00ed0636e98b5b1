/** random: a uniformly random candidate. */
import type { InstanceRef } from '../message.js';
import type { Strategy } from './strategy.js';

export class RandomStrategy implements Strategy {
  select(candidates: readonly InstanceRef[]): InstanceRef | undefined {
    return candidates.length === 0 ? undefined : candidates[Math.floor(Math.random() * candidates.length)];
  }
}
