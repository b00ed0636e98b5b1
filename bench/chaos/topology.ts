/**
 * The shape of a chaos run, drawn from the seed: 2 or 3 apps per agent, each
 * with one sender and one receiver, some with a second of either. Senders
 * split the total rate with random weights. Receiver k is named `r<k>` under
 * the receiver service of the agent it starts on; replacements may move it
 * to another app (and agent) later, keeping its name.
 */
import type { InstanceSpec } from './app.js';
import type { Prng } from './prng.js';
import { AGENT_LETTERS } from './wire.js';

export interface AppPlan {
  slot: number;
  agent: number;
  instances: InstanceSpec[];
}

export interface Topology {
  apps: AppPlan[];
  senders: number;
  receivers: number;
}

export function planTopology(rng: Prng, totalRate: number): Topology {
  const apps: AppPlan[] = [];
  let senders = 0;
  let receivers = 0;
  const weights: Array<{ spec: InstanceSpec; w: number }> = [];
  for (let agent = 0; agent < AGENT_LETTERS.length; agent++) {
    const n = rng.chance(0.5) ? 3 : 2;
    for (let i = 0; i < n; i++) {
      const instances: InstanceSpec[] = [];
      const addSender = (): void => {
        const spec: InstanceSpec = { role: 'send', index: senders++, home: agent, conflict: 'reject' };
        weights.push({ spec, w: rng.range(0.5, 1.5) });
        instances.push(spec);
      };
      const addReceiver = (): void => void instances.push({ role: 'recv', index: receivers++, home: agent, conflict: 'reject' });
      addSender();
      addReceiver();
      if (rng.chance(0.3)) (rng.chance(0.5) ? addSender : addReceiver)();
      apps.push({ slot: apps.length, agent, instances });
    }
  }
  const total = weights.reduce((a, b) => a + b.w, 0);
  for (const { spec, w } of weights) spec.rate = Math.max(1, Math.round((totalRate * w) / total));
  return { apps, senders, receivers };
}
