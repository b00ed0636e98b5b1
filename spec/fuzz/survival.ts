/**
 * The processes a fuzz spec starts, and what it asserts at the end: the
 * server (a real `rxmesh up`: agent plus name server) must still run, must
 * not have hung, and the canary must have kept (and still make) its round
 * trips. Stopping is bounded: a hung server is SIGKILLed, so a bug found
 * never keeps the spec run from ending.
 */
import * as assert from 'uvu/assert';
import { startUp, type AgentSpecOptions, type MeshProcess } from '../helpers/mesh.js';
import { Canary } from './canary.js';
import { formatReport, rssMb, type RunReport, type Server } from './harness.js';
import { within } from './wire.js';

/** Server memory may grow while fuzzing (caches, pools); growth past this is reported as unbounded. */
export const RSS_GROWTH_LIMIT_MB = 400;

export interface FuzzEnv {
  proc: MeshProcess;
  server: Server;
  canary: Canary;
}

/** `rxmesh up` (with `opts`) and a canary pair on its agent. */
export async function startFuzzEnv(opts: { leaseTtlMs?: number } & AgentSpecOptions = {}): Promise<FuzzEnv> {
  const proc = await startUp(opts);
  const server: Server = {
    pid: proc.fixture.pid,
    alive: () => proc.fixture.child.exitCode === null && proc.fixture.child.signalCode === null,
    stderr: () => proc.fixture.stderr,
  };
  try {
    return { proc, server, canary: await Canary.start(proc) };
  } catch (err) {
    await proc.kill();
    throw err;
  }
}

/** Stop everything the env started. SIGKILL: how the server shuts down is not what is fuzzed, and a hung one would not stop. */
export async function stopFuzzEnv(env: FuzzEnv | undefined): Promise<void> {
  if (!env) return;
  await within(env.canary.close(), 2000, undefined);
  await env.proc.kill();
}

/** Print the report; then assert the server survived and the canary kept working, before and now. */
export async function assertSurvived(report: RunReport, env: FuzzEnv, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<void> {
  let finalOk = 0;
  for (let i = 0; i < 3 && env.server.alive(); i++) if (await env.canary.check()) finalOk++;
  const rss = rssMb(env.server.pid);
  out(`${formatReport(report)}\n  after the run: ${finalOk}/3 canary round trips; server ${env.server.alive() ? `up, RSS ${rss} MiB` : 'DOWN'}`);
  const t = env.canary.tally;
  assert.not.ok(report.died, `the server died during cases ${report.died?.from}..${report.died?.to} (replay: FUZZ_SEED=${report.seed} npx tsx bench/fuzz.ts --target ${report.target} --first ${report.died?.from} --cases ${(report.died?.to ?? 0) - (report.died?.from ?? 0) + 1})`);
  assert.ok(env.server.alive(), 'the server is still running after the run');
  assert.not.ok(report.stalled, `the canary failed after cases ${report.stalled?.from}..${report.stalled?.to}: the server hangs or stopped serving (${t.errors.join('; ')}; replay: FUZZ_SEED=${report.seed} npx tsx bench/fuzz.ts --target ${report.target} --first ${report.stalled?.from} --cases ${(report.stalled?.to ?? 0) - (report.stalled?.from ?? 0) + 1})`);
  assert.equal(report.hung, [], 'no batch hung');
  assert.is(report.cases, report.requested, 'every case ran');
  assert.is(finalOk, 3, `the canary round-trips after the run (${t.errors.join('; ')})`);
  assert.is(report.canaryFailed, 0, `the canary round-tripped after every chunk (${t.errors.join('; ')})`);
  assert.is(t.lost, 0, 'the canary never lost its agent connection');
  assert.ok(rss - report.rssBeforeMb < RSS_GROWTH_LIMIT_MB, `server memory grew by ${rss - report.rssBeforeMb} MiB (limit ${RSS_GROWTH_LIMIT_MB})`);
}
