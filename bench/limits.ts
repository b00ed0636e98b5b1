/**
 * Limits bench: what idle instances cost the agent (issue 10). A real name
 * server and a real agent (`rxmesh ns`, `rxmesh agent` through the CLI, as the
 * specs start them: the agent's memory is its own, not the name server's),
 * and this process as the app. It creates 1,000 then 10,000 idle instances
 * (each started and online), then closes them all, and after each step prints
 * the agent's memory as the kernel counts it:
 *
 *   rss    VmRSS of /proc/<pid>/status (everything resident)
 *   anon   Anonymous of /proc/<pid>/smaps_rollup (JS heap, malloc, stacks: the agent's own memory)
 *   file   Pss_File (code, libraries), shmem Pss_Shmem (ring pages it touched, shared with the apps)
 *   maps   lines of /proc/<pid>/maps (vm.max_map_count counts these)
 *   heap   the V8 heap in use after a full GC, from bench/limits-probe.mjs, which this
 *          bench (only) loads into the agent with --expose-gc
 *   per instance: (heap, anon, maps) growth since the baseline divided by the instances
 *
 * After close it samples once the rings are unmapped, `--close-settle` ms
 * later, and after one full GC (the probe): what the GC gives back was garbage
 * and spare heap V8 had kept, not memory held for instances.
 *
 * Targets (issue 10, DESIGN §8): ≤ 16 KB of agent heap per idle instance,
 * ≤ 300 MB agent VmRSS at 10,000 instances, one mapping per ring (2 per
 * instance), memory given back after close. Rings are files allocated up
 * front, so the agent runs with small rings (`--ring-bytes`, default here
 * 16 KiB: 10,000 instances take 400 MB of /dev/shm; the default 1 MiB rings
 * would take 20 GB). See DESIGN-NOTES, "Limits and what an instance costs".
 *
 *   npx tsx bench/limits.ts [--counts 1000,10000] [--runs 3] [--ring-bytes 16384] [--concurrency 128]
 *                           [--settle 2000] [--close-settle 10000] [--agent-args "--more --agent flags"]
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstValueFrom } from 'rxjs';
import type { Instance, Mesh } from '../lib/index.js';
import { cleanupShm } from '../spec/helpers/shm.js';
import { startAgent, startNs, type MeshProcess } from '../spec/helpers/mesh.js';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '1000,10000' },
    runs: { type: 'string', default: '3' },
    'ring-bytes': { type: 'string', default: '16384' },
    concurrency: { type: 'string', default: '128' },
    settle: { type: 'string', default: '2000' },
    'close-settle': { type: 'string', default: '10000' },
    'agent-args': { type: 'string', default: '' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: limits.ts [--counts 1000,10000] [--runs 3] [--ring-bytes 16384] [--concurrency 128] [--settle MS] [--close-settle MS] [--agent-args "--flag v ..."]');
  process.exit(0);
}
const COUNTS = values.counts!.split(',').map(Number);
const RUNS = Number(values.runs);
const RING_BYTES = Number(values['ring-bytes']);
const CONCURRENCY = Number(values.concurrency);
const SETTLE_MS = Number(values.settle);
const CLOSE_SETTLE_MS = Number(values['close-settle']);
const AGENT_ARGS = values['agent-args']!.split(' ').filter(Boolean);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  rssKb: number;
  anonKb: number;
  fileKb: number;
  shmemKb: number;
  maps: number;
  /** V8 heap in use after a full GC (the probe), KB; NaN when not probed. */
  heapKb: number;
}

/** The agent's V8 heap after a full GC, through bench/limits-probe.mjs (loaded into the agent only here). */
const PROBE = fileURLToPath(new URL('./limits-probe.mjs', import.meta.url));
const PROBE_OUT = `/tmp/rxmesh-limits-probe-${process.pid}.jsonl`;

async function probeHeapKb(pid: number): Promise<number> {
  const before = existsSync(PROBE_OUT) ? readFileSync(PROBE_OUT, 'utf8').length : 0;
  process.kill(pid, 'SIGWINCH');
  const end = performance.now() + 10_000;
  while (performance.now() < end) {
    const text = existsSync(PROBE_OUT) ? readFileSync(PROBE_OUT, 'utf8') : '';
    if (text.length > before && text.endsWith('\n')) return (JSON.parse(text.slice(before)) as { heapUsed: number }).heapUsed / 1024;
    await sleep(20);
  }
  return Number.NaN;
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** The kernel's numbers first, then (unless `heap` is false) the probe's full GC and heap. */
async function measure(pid: number, heap = true): Promise<Sample> {
  const s = sample(pid);
  if (heap) s.heapKb = await probeHeapKb(pid);
  return s;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  return {
    rssKb: field(status, 'VmRSS'),
    anonKb: field(rollup, 'Anonymous'),
    fileKb: field(rollup, 'Pss_File'),
    shmemKb: field(rollup, 'Pss_Shmem'),
    maps: maps.split('\n').length - 1,
    heapKb: Number.NaN,
  };
}

interface Step {
  label: string;
  instances: number;
  sample: Sample;
  createMs?: number;
}

/** Create instances `from`..`to`-1, CONCURRENCY at a time, each started and online. */
async function create(mesh: Mesh, into: Instance[], from: number, to: number): Promise<number> {
  const t0 = performance.now();
  let next = from;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < to; i = next++) {
      const inst = mesh.instance(`g.idle.${i % 16}.0`, { userData: `u${i}` });
      await firstValueFrom(inst.startup$);
      into[i] = inst;
    }
  }));
  return performance.now() - t0;
}

async function closeAll(all: Instance[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < all.length; i = next++) await all[i]!.close();
  }));
}

/** Wait until the agent's mappings are back near the baseline (its rings unmapped), then settle. */
async function afterClose(pid: number, base: Sample): Promise<void> {
  const end = performance.now() + 20_000;
  while (sample(pid).maps > base.maps + 16 && performance.now() < end) await sleep(100);
  await sleep(SETTLE_MS);
}

async function oneRun(run: number): Promise<Step[]> {
  let ns: MeshProcess | undefined;
  let agent: MeshProcess | undefined;
  const steps: Step[] = [];
  try {
    ns = await startNs();
    process.env['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --expose-gc --import ${PROBE}`;
    process.env['RXMESH_BENCH_PROBE'] = PROBE_OUT;
    try {
      agent = await startAgent(ns.nsUrl, { args: ['--ring-bytes', String(RING_BYTES), ...AGENT_ARGS] });
    } finally {
      delete process.env['NODE_OPTIONS'];
      delete process.env['RXMESH_BENCH_PROBE'];
    }
    const pid = agent.fixture.pid;
    const mesh = await agent.connect();
    await sleep(SETTLE_MS);
    const base = await measure(pid);
    steps.push({ label: 'baseline', instances: 0, sample: base });
    const all: Instance[] = [];
    let have = 0;
    for (const n of COUNTS) {
      const ms = await create(mesh, all, have, n);
      have = n;
      await sleep(SETTLE_MS);
      steps.push({ label: `${n} idle`, instances: n, sample: await measure(pid), createMs: ms });
    }
    await closeAll(all);
    await afterClose(pid, base);
    steps.push({ label: 'after close', instances: 0, sample: sample(pid) });
    await sleep(CLOSE_SETTLE_MS);
    steps.push({ label: `close+${CLOSE_SETTLE_MS / 1000}s`, instances: 0, sample: sample(pid) });
    await probeHeapKb(pid); // a full GC: what V8 still holds after it is garbage or spare heap, not instances
    await sleep(SETTLE_MS);
    steps.push({ label: 'close+full GC', instances: 0, sample: await measure(pid) });
    for (const s of steps) print(run, s, base);
    return steps;
  } finally {
    await agent?.stop().catch(() => {});
    await ns?.stop().catch(() => {});
    cleanupShm();
    rmSync(PROBE_OUT, { force: true });
  }
}

const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

function perInstance(s: Sample, base: Sample, n: number): string {
  if (n === 0) return '';
  return `  per instance: heap ${((s.heapKb - base.heapKb) / n).toFixed(1)} KB, anon ${((s.anonKb - base.anonKb) / n).toFixed(1)} KB, maps ${((s.maps - base.maps) / n).toFixed(2)}`;
}

const heap = (s: Sample): string => (Number.isNaN(s.heapKb) ? '' : `  heap ${mb(s.heapKb)}`);

function print(run: number, step: Step, base: Sample): void {
  const s = step.sample;
  const time = step.createMs === undefined ? '' : `  created in ${(step.createMs / 1000).toFixed(1)} s (${Math.round(step.instances * 1000 / step.createMs)}/s)`;
  console.log(`run ${run} ${step.label.padEnd(14)} rss ${mb(s.rssKb)}  anon ${mb(s.anonKb)}  file ${mb(s.fileKb)}  shmem ${mb(s.shmemKb)}  maps ${s.maps}${heap(s)}` +
    `${perInstance(s, base, step.instances)}${time}`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`limits bench: ${COUNTS.join(', ')} idle instances, rings of ${RING_BYTES} bytes, ${RUNS} run(s), concurrency ${CONCURRENCY}`);
const runs: Step[][] = [];
for (let r = 1; r <= RUNS; r++) runs.push(await oneRun(r));

console.log(`\nmedian of ${RUNS} run(s):`);
for (let i = 0; i < runs[0]!.length; i++) {
  const at = runs.map((steps) => steps[i]!);
  const m = (f: (s: Sample) => number): number => median(at.map((st) => f(st.sample)));
  const n = at[0]!.instances;
  const anonPer = n ? median(at.map((st) => (st.sample.anonKb - runs[at.indexOf(st)]![0]!.sample.anonKb) / n)) : 0;
  const heapPer = n ? median(at.map((st) => (st.sample.heapKb - runs[at.indexOf(st)]![0]!.sample.heapKb) / n)) : 0;
  const mapsPer = n ? median(at.map((st) => (st.sample.maps - runs[at.indexOf(st)]![0]!.sample.maps) / n)) : 0;
  const created = at[0]!.createMs === undefined ? '' : `  create ${(median(at.map((st) => st.createMs!)) / 1000).toFixed(1)} s`;
  const h = m((s) => s.heapKb);
  console.log(`  ${at[0]!.label.padEnd(14)} rss ${mb(m((s) => s.rssKb))}  anon ${mb(m((s) => s.anonKb))}  file ${mb(m((s) => s.fileKb))}  shmem ${mb(m((s) => s.shmemKb))}  maps ${m((s) => s.maps)}` +
    (Number.isNaN(h) ? '' : `  heap ${mb(h)}`) + (n ? `  per instance: heap ${heapPer.toFixed(1)} KB, anon ${anonPer.toFixed(1)} KB, maps ${mapsPer.toFixed(2)}` : '') + created);
}
process.exit(0);
