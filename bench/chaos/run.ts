/**
 * One chaos run (one seed), in phases:
 *   1. plan: topology, rates and the fault schedule, all from the seed's Prng
 *   2. start: ns, proxies, 3 agents, every app (fresh processes, fresh dirs)
 *   3. traffic for `durationMs`, faults firing on schedule
 *   4. settle: traffic off, running faults finish their undo, then wait until
 *      every accepted message of a live sender has an outcome, or `settleMs`
 *   5. classify (classify.ts), then stop every process and remove every dir
 */
import { BAD, classify, describe, outstanding, type Tally } from './classify.js';
import { Cluster } from './cluster.js';
import { describeFault, planFaults, runFault, type FaultKind } from './faults.js';
import { agentSupportsAdvertise } from './processes.js';
import { Prng } from './prng.js';
import { planTopology } from './topology.js';

export interface RunOptions {
  seed: number;
  durationMs: number;
  settleMs: number;
  faults: readonly FaultKind[];
  /** Messages per second over all senders. */
  rate: number;
  /** 'auto': proxies when the agent takes --advertise. */
  proxies: 'auto' | 'on' | 'off';
  requestTimeoutMs?: number;
  verbose?: boolean;
  keepLogs?: boolean;
  /** Where verbose lines and warnings go (default stderr). */
  out?: (line: string) => void;
}

export interface RunResult {
  tally: Tally;
  /** Verbose report lines: schedule, fault outcomes, examples of bad classes. */
  notes: string[];
  proxies: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Decide whether proxies can be used; warns loudly when they cannot. */
export function useProxies(mode: RunOptions['proxies'], warn: (line: string) => void): boolean {
  if (mode === 'off') return false;
  const ok = agentSupportsAdvertise();
  if (!ok) {
    const msg = '`rxmesh agent` does not take --advertise yet: running WITHOUT link proxies (peers dial the agents directly; ' +
      'reset-link falls back to the agents\' SIGUSR2 link cut, stall-link is skipped)';
    if (mode === 'on') throw new Error(msg.replace('running WITHOUT', 'cannot run with'));
    warn(`\n*** WARNING: ${msg} ***\n`);
  }
  return ok;
}

export async function runSeed(o: RunOptions, proxies: boolean): Promise<RunResult> {
  const out = o.out ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const notes: string[] = [];
  const note = (l: string): void => {
    notes.push(l);
    if (o.verbose) out(`  [seed ${o.seed}] ${l}`);
  };
  const rng = new Prng(o.seed);
  const topology = planTopology(rng.fork(1), o.rate);
  const schedule = planFaults(rng.fork(2), o.faults, o.durationMs, { apps: topology.apps.length, senders: topology.senders, receivers: topology.receivers });
  note(`topology: ${topology.apps.map((a) => `app ${a.slot}@${'abc'[a.agent]}[${a.instances.map((i) => `${i.role === 'send' ? 's' : 'r'}${i.index}${i.rate ? `:${i.rate}/s` : ''}`).join(' ')}]`).join(' ')}`);
  for (const f of schedule) note(`schedule ${(f.at / 1000).toFixed(1)}s ${f.kind}: ${describeFault(f)}`);

  const cluster = await Cluster.start({ seed: o.seed, proxies, requestTimeoutMs: o.requestTimeoutMs ?? 3000, log: note, keepLogs: o.keepLogs ?? false }, topology);
  const poller = setInterval(() => cluster.poll(), 500);
  try {
    await sleep(500); // let the senders' watches see every receiver
    const t0 = performance.now();
    cluster.setTraffic(true);
    note(`traffic on at t=${cluster.now()} ms (schedule times count from here; log times t= from the cluster start)`);
    const running: Array<Promise<void>> = [];
    const fired: Array<{ t: number; kind: string; skipped?: boolean }> = [];
    for (const f of schedule) {
      await sleep(Math.max(0, f.at - (performance.now() - t0)));
      const entry: (typeof fired)[number] = { t: cluster.now(), kind: f.kind };
      fired.push(entry);
      const at = `${(f.at / 1000).toFixed(1)}s (t=${cluster.now()} ms)`;
      running.push(runFault(f, cluster).then(
        (r) => {
          entry.skipped = r.startsWith('skipped');
          note(`fault ${at} ${f.kind}: ${r}`);
        },
        (err: Error) => note(`fault ${at} ${f.kind}: FAILED ${err.message}`),
      ));
    }
    await sleep(Math.max(0, o.durationMs - (performance.now() - t0)));
    cluster.setTraffic(false);
    note(`traffic off at t=${cluster.now()} ms; waiting for ${running.length} fault(s) to finish`);
    await Promise.all(running);
    cluster.setTraffic(false); // an app restarted by a late fault started with traffic off already; say it again anyway

    const deadline = performance.now() + o.settleMs;
    while (performance.now() < deadline) {
      cluster.poll();
      if (outstanding(cluster.acc) === 0) break;
      await sleep(500);
    }
    await sleep(1000); // a late duplicate or second report shows up here
    cluster.poll();
    cluster.acc.resolveLedger();
    note(`settled at t=${cluster.now()} ms (${outstanding(cluster.acc)} accepted messages of live senders without an outcome)`);
    if (outstanding(cluster.acc) > 0 && o.keepLogs) await cluster.dumpStatus();
    // each bad message is put down to the last fault fired before it was accepted (a hint, not a proof)
    const blame = new Map<string, Map<string, number>>();
    const tally = classify(cluster.acc, (m, cls) => {
      if (!(BAD as readonly string[]).includes(cls)) return;
      const f = fired.filter((x) => !x.skipped && x.t <= m.t).pop();
      const byKind = blame.get(cls) ?? new Map<string, number>();
      blame.set(cls, byKind);
      byKind.set(f?.kind ?? 'before any fault', (byKind.get(f?.kind ?? 'before any fault') ?? 0) + 1);
    });
    for (const [cls, byKind] of blame) note(`${cls} by the last fault before acceptance: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const s of cluster.slots) if (s.crashes) note(`app ${s.slot} exited by itself ${s.crashes} time(s)`);
    if (cluster.acc.badLines) note(`${cluster.acc.badLines} log lines did not parse`);
    if (cluster.ledgerUnreadable) note(`${cluster.ledgerUnreadable} ledger lines did not parse (format changed? see ledger.ts)`);
    if (Object.keys(tally.reasons).length) note(`bounced by reason: ${Object.entries(tally.reasons).map(([r, n]) => `${r} ${n}`).join(', ')}`);
    for (const [cls, ids] of Object.entries(tally.examples)) {
      for (const id of ids) note(`example ${cls}: ${describe(cluster.acc, id)}`);
    }
    if (proxies) note(`proxies: ${cluster.proxies.map((p, i) => `${'abc'[i]} ${p!.counts.accepted} conns, ${p!.connections} open`).join('; ')}`);
    return { tally, notes, proxies };
  } finally {
    clearInterval(poller);
    await cluster.close();
  }
}
