/**
 * One fuzz spec: a uvu suite that opens a target (targets.ts), runs
 * FUZZ_CASES seeded cases (FUZZ_SEED) on it with the canary checked after
 * every 500, prints the report, asserts the server survived, and stops
 * everything it started in `after`, whatever happened.
 */
import { suite } from 'uvu';
import { cleanupShm } from '../helpers/shm.js';
import { fuzzCases, fuzzSeed } from './config.js';
import { runFuzz } from './harness.js';
import { assertSurvived } from './survival.js';
import { LANES, openTarget, type OpenTarget, type TargetName } from './targets.js';

export function fuzzSuite(target: TargetName, title: string, what: string): void {
  const Fuzz = suite(title);
  let open: OpenTarget | undefined;

  Fuzz.before(async () => {
    open = await openTarget(target);
  });

  Fuzz.after(async () => {
    await open?.stop();
    cleanupShm();
  });

  Fuzz(what, async () => {
    const t = open!;
    const report = await runFuzz(t.driver, t.env.server, { seed: fuzzSeed(), cases: fuzzCases(), lanes: LANES[target], checkEvery: 500, canary: t.env.canary });
    for (const line of t.extra()) process.stdout.write(`  ${line}\n`);
    await assertSurvived(report, t.env);
  });

  Fuzz.run();
}
