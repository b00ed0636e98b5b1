/**
 * The fuzz loop shared by every target. A Driver turns (seed, index) into a
 * case, groups consecutive cases into batches (one connection each, as many
 * cases as the protocol lets one connection carry) and runs a batch. The loop
 * runs batches in a few concurrent lanes, and after every `checkEvery` cases
 * checks that the server process still runs and that the canary still makes
 * a round trip. It stops at the first dead server and says which cases ran
 * since the last good check: the culprit is among them.
 */
import { readFileSync } from 'node:fs';
import type { Canary } from './canary.js';
import { hexSeed } from './config.js';
import { Tally } from './tally.js';

export interface FuzzCase {
  index: number;
  /** What the case does, in a line (printed by bench/fuzz.ts --show). */
  desc: string;
}

export interface Driver<C extends FuzzCase> {
  readonly target: string;
  make(seed: number, index: number): C;
  /** Consecutive cases grouped into batches; every case in exactly one. */
  group(cases: C[]): C[][];
  runBatch(batch: C[], tally: Tally): Promise<void>;
}

/** The process under test, as the loop sees it. */
export interface Server {
  pid: number;
  /** Still running? */
  alive(): boolean;
  /** Its stderr so far (the reason it died, when it did). */
  stderr(): string;
}

export interface RunOptions {
  seed: number;
  cases: number;
  /** Index of the first case (default 0): a range can be replayed alone. */
  first?: number;
  lanes?: number;
  checkEvery?: number;
  canary?: Canary;
  log?: (line: string) => void;
}

export interface RunReport {
  target: string;
  seed: number;
  first: number;
  /** Cases asked for, and cases run (fewer only when the server died). */
  requested: number;
  cases: number;
  ms: number;
  tally: Tally;
  canaryChecks: number;
  canaryFailed: number;
  /** What the failed canary round trips got (first few). */
  canaryErrors: string[];
  /** Set when the server died: the range of cases since the last good check. */
  died?: { from: number; to: number; stderrTail: string };
  /** Set when the canary failed after a chunk (the server hangs or lost its way): that chunk's range. */
  stalled?: { from: number; to: number };
  /** A batch that did not finish within the guard. */
  hung: string[];
  rssBeforeMb: number;
  rssAfterMb: number;
  rssPeakMb: number;
  /** CPU seconds the server spent during the run. */
  serverCpuS: number;
}

const BATCH_GUARD_MS = 30_000;

/** User + system CPU seconds a process has used (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** Resident memory of a process in MiB (0 when it is gone). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export async function runFuzz<C extends FuzzCase>(driver: Driver<C>, server: Server, o: RunOptions): Promise<RunReport> {
  const first = o.first ?? 0;
  const lanes = o.lanes ?? 4;
  const checkEvery = o.checkEvery ?? 500;
  const tally = new Tally();
  const cases: C[] = [];
  for (let i = first; i < first + o.cases; i++) cases.push(driver.make(o.seed, i));
  const batches = driver.group(cases);
  const report: RunReport = {
    target: driver.target, seed: o.seed, first, requested: o.cases, cases: 0, ms: 0, tally, canaryChecks: 0, canaryFailed: 0, canaryErrors: [], hung: [],
    rssBeforeMb: rssMb(server.pid), rssAfterMb: 0, rssPeakMb: 0, serverCpuS: 0,
  };
  const cpu0 = cpuSeconds(server.pid);
  report.rssPeakMb = report.rssBeforeMb;
  const t0 = performance.now();
  let next = 0;
  while (next < batches.length) {
    // one chunk: batches up to `checkEvery` cases, spread over the lanes
    const chunk: C[][] = [];
    let n = 0;
    while (next < batches.length && n < checkEvery) {
      chunk.push(batches[next]!);
      n += batches[next++]!.length;
    }
    // the cases this chunk ran (batches gather cases of their kind, so a chunk's cases need not be contiguous)
    let from = Infinity;
    let to = -1;
    for (const b of chunk) {
      for (const c of b) {
        from = Math.min(from, c.index);
        to = Math.max(to, c.index);
      }
    }
    await runLanes(chunk, lanes, (b) => guarded(driver, b, tally, report));
    report.cases += n;
    tally.cases += n;
    report.rssPeakMb = Math.max(report.rssPeakMb, rssMb(server.pid));
    if (!server.alive()) {
      report.died = { from, to, stderrTail: server.stderr().slice(-4000) };
      break;
    }
    if (o.canary) {
      report.canaryChecks++;
      if (!(await o.canary.check())) {
        // a hung or wedged server: later chunks would only time out; the culprit is in this chunk
        report.canaryFailed++;
        report.stalled = { from, to };
        break;
      }
    }
    o.log?.(`  ${driver.target}: ${report.cases} cases, ${Math.round(performance.now() - t0)} ms, rss ${rssMb(server.pid)} MiB`);
  }
  report.ms = Math.round(performance.now() - t0);
  report.rssAfterMb = rssMb(server.pid);
  report.serverCpuS = Math.max(0, cpuSeconds(server.pid) - cpu0);
  report.canaryErrors = [...(o.canary?.tally.errors ?? [])];
  return report;
}

async function guarded<C extends FuzzCase>(driver: Driver<C>, batch: C[], tally: Tally, report: RunReport): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), BATCH_GUARD_MS)));
  try {
    const r = await Promise.race([driver.runBatch(batch, tally).then(() => 'ok' as const), guard]);
    if (r === 'hung') report.hung.push(`cases ${batch[0]!.index}..${batch[batch.length - 1]!.index}`);
  } catch (err) {
    tally.add('driver error');
    tally.note(`driver error`, `cases ${batch[0]!.index}..${batch[batch.length - 1]!.index}: ${(err as Error).stack ?? String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Run `work` on every item with at most `lanes` at a time. */
export async function runLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let at = 0;
  const lane = async (): Promise<void> => {
    while (at < items.length) await work(items[at++]!);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
}

/** The report as the lines a spec prints and a human reads. */
export function formatReport(r: RunReport): string {
  const lines = [
    `fuzz ${r.target}: seed ${hexSeed(r.seed)} (FUZZ_SEED=${r.seed}), cases ${r.first}..${r.first + r.cases - 1}: ${r.cases} of ${r.requested} run in ${(r.ms / 1000).toFixed(1)} s (server CPU ${r.serverCpuS.toFixed(1)} s), ${r.tally.connections} connections`,
    `  outcomes: ${r.tally.format() || 'none'}`,
    `  canary: ${r.canaryChecks - r.canaryFailed}/${r.canaryChecks} round trips during the run; server RSS ${r.rssBeforeMb} -> ${r.rssAfterMb} MiB (peak ${r.rssPeakMb})`,
  ];
  for (const [k, v] of r.tally.notes) lines.push(`  note (${k}): ${v}`);
  if (r.hung.length) lines.push(`  HUNG batches: ${r.hung.join(', ')}`);
  if (r.stalled) lines.push(`  CANARY FAILED after cases ${r.stalled.from}..${r.stalled.to}: the server stopped serving (stopped the run there): ${r.canaryErrors.join('; ')}`);
  if (r.died) lines.push(`  SERVER DIED during cases ${r.died.from}..${r.died.to}; its stderr ends:\n${r.died.stderrTail}`);
  return lines.join('\n');
}
