/**
 * Part 3 of bench/compare.ts: what an idle mesh costs. Two app children with
 * one instance each (placed as requester and replier by compare-procs.ts)
 * stay online and send nothing; after a settling pause, utime+stime of the
 * agent (`rxmesh up`, which also holds the name server) and of the two apps
 * are read from /proc/<pid>/stat before and after each window of `seconds`.
 * The result is the median over `reps` windows, as % of one CPU.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Procs, Server } from './compare-procs.js';
import { median } from './mesh-ipc.js';

export interface IdleOptions {
  seconds: number;
  settleMs: number;
  reps: number;
  log(line: string): void;
}

export interface IdleResult {
  seconds: number;
  /** % of one CPU. */
  agent: number;
  /** Both apps together, % of one CPU. */
  apps: number;
}

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds a process has used (all its threads): fields 14 and 15 of /proc/<pid>/stat. */
function cpuTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [utime, stime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number); // after "pid (comm) "
  return (utime! + stime!) / ticksPerSecond;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureIdle(procs: Procs, agent: Server, agentSocket: string, o: IdleOptions): Promise<IdleResult> {
  const apps = [
    procs.child('idle app a', 'mesh-app.ts', [agentSocket, 'idle-a'], 'requester'),
    procs.child('idle app b', 'mesh-app.ts', [agentSocket, 'idle-b'], 'replier'),
  ];
  try {
    for (const app of apps) {
      await app.ready;
      await app.call('idle');
    }
    await sleep(o.settleMs);
    const pids = [agent.pid, ...apps.map((a) => a.pid)];
    const agentPct: number[] = [];
    const appsPct: number[] = [];
    for (let rep = 1; rep <= o.reps; rep++) {
      const before = pids.map(cpuTime);
      const t0 = performance.now();
      await sleep(o.seconds * 1000);
      const wall = (performance.now() - t0) / 1000;
      const pct = pids.map((pid, i) => ((cpuTime(pid) - before[i]!) / wall) * 100);
      agentPct.push(pct[0]!);
      appsPct.push(pct[1]! + pct[2]!);
      o.log(`  idle run ${rep} (${wall.toFixed(1)} s): agent ${pct[0]!.toFixed(2)}%, apps ${pct[1]!.toFixed(2)}% + ${pct[2]!.toFixed(2)}%`);
    }
    return { seconds: o.seconds, agent: median(agentPct), apps: median(appsPct) };
  } finally {
    await Promise.allSettled(apps.map((a) => a.stop()));
  }
}
