/**
 * The chaos bench, short: one seed, 5 s of traffic, the faults that recover
 * quickly. Seed 2 draws an app SIGKILL and an agent SIGKILL (both restarted)
 * among the faults allowed here (no 3 s stalls or SIGSTOPs). Real processes:
 * ns, 3 agents, 7 apps; about 20-30 s. The full run is `npx tsx bench/chaos.ts --seeds 10`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BAD, formatTally } from '../../bench/chaos/classify.js';
import { runSeed, useProxies } from '../../bench/chaos/run.js';

const Chaos = suite('chaos');

Chaos('chaos - seed 2: nothing lost, duplicated or misdelivered', async () => {
  const proxies = useProxies('auto', (l) => process.stderr.write(`${l}\n`));
  const r = await runSeed({
    seed: 2,
    durationMs: 5000,
    settleMs: 8000,
    faults: ['kill-agent', 'kill-app', 'reset-link', 'close', 'replace', 'stop-reading'],
    rate: 1500,
    proxies: 'auto',
    out: () => {},
  }, proxies);
  const t = r.tally;
  const report = `chaos seed 2: ${formatTally(t)}\n  ${r.notes.join('\n  ')}`;
  assert.ok(t.accepted > 1000, `traffic flowed: ${report}`);
  assert.equal(BAD.filter((k) => t[k] > 0), [], report);
});

Chaos.run();
