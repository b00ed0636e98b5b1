/**
 * Fuzz bench: the fuzz specs' targets (spec/fuzz/targets.ts) for longer runs,
 * replays and triage. The same seed gives the same cases as `npm test`.
 *
 *   npx tsx bench/fuzz.ts [--target all|control|ns-tcp|ns-http|link|rings] [--cases 100000]
 *                         [--seed S] [--first I] [--check-every 500] [--keep-going] [--show [--detail]]
 *
 * --show          print the cases (index and what each does) and run nothing; with --detail,
 *                 every field of each case too (frames and bodies in hex), for an exact repro
 * --first I       start at case I (replay the range a spec named)
 * --keep-going    when the server dies or hangs, note it, start a fresh one and go on with
 *                 the next chunk, so one run finds every distinct crash (listed at the end)
 * --skip-ring-fields rx.head,tx.data.pad,tx.header.pad   (rings) leave out these header-field
 *                 writes (ring.field), data fills (ring.data.fill) or lying record headers
 *                 (tx.header[.pad]), to look past a failure already known (the cases change:
 *                 this is for triage only)
 *
 * Exit code 1 when a server died or hung, or the canary failed.
 */
import { parseArgs } from 'node:util';
import { cleanupShm } from '../spec/helpers/shm.js';
import { killChildren } from '../spec/helpers/process.js';
import { parseCases, parseSeed } from '../spec/fuzz/config.js';
import { formatReport, runFuzz, type RunReport } from '../spec/fuzz/harness.js';
import { LANES, MAKE_CASE, openTarget, TARGETS, type TargetName } from '../spec/fuzz/targets.js';

const { values: opts } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    cases: { type: 'string' },
    seed: { type: 'string' },
    first: { type: 'string', default: '0' },
    'check-every': { type: 'string', default: '500' },
    'keep-going': { type: 'boolean', default: false },
    show: { type: 'boolean', default: false },
    detail: { type: 'boolean', default: false },
    'skip-ring-fields': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const out = (s: string): void => void process.stdout.write(`${s}\n`);

/** Every field of a case as JSON, bytes in hex (what --detail prints). */
function detail(c: object): string {
  return JSON.stringify(c, (_k, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v instanceof Map) return { Map: [...v] };
    if (v instanceof Set) return { Set: [...v] };
    return v;
  });
}

/** The error line and first frame of a crash, from the end of a server's stderr. */
function signature(stderr: string): string {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /^\w*(Error|Exception)\b.*:/.test(l));
  if (i < 0) return lines.filter((l) => l.trim()).slice(-2).join(' / ').slice(0, 200);
  const frames = lines.slice(i + 1).filter((l) => l.trim().startsWith('at '));
  const frame = frames.find((l) => l.includes('/lib/')) ?? frames[0] ?? '';
  return `${lines[i]!.slice(0, 160)} ${frame.trim()}`;
}

async function runTarget(target: TargetName, seed: number, first: number, cases: number): Promise<boolean> {
  const events: string[] = [];
  let at = first;
  const end = first + cases;
  let healthy = true;
  while (at < end) {
    const t = await openTarget(target);
    let report: RunReport;
    try {
      report = await runFuzz(t.driver, t.env.server, {
        seed, first: at, cases: end - at, lanes: LANES[target], checkEvery: Number(opts['check-every']), canary: t.env.canary,
        log: (l) => out(l),
      });
      out(formatReport(report));
      for (const l of t.extra()) out(`  ${l}`);
    } finally {
      await t.stop();
    }
    const stalled = report.stalled ?? (report.hung.length ? { from: at, to: at + report.cases - 1 } : undefined);
    const bad = report.died ?? (stalled ? { ...stalled, stderrTail: `server stopped serving (canary failed${report.hung.length ? `; hung batches ${report.hung.join(', ')}` : ''}), CPU ${report.serverCpuS.toFixed(0)} s during the run` } : undefined);
    if (!bad) break;
    healthy = false;
    events.push(`cases ${bad.from}..${bad.to}: ${report.died ? signature(bad.stderrTail) : bad.stderrTail}`);
    if (!opts['keep-going']) break;
    at += Math.max(1, report.cases); // on with the chunk after the one that failed
  }
  if (events.length) {
    out(`fuzz ${target}: ${events.length} failure(s), seed ${seed}:`);
    for (const e of events) out(`  ${e}`);
  }
  return healthy;
}

async function main(): Promise<number> {
  if (opts.help) {
    out('usage: npx tsx bench/fuzz.ts [--target all|control|ns-tcp|ns-http|link|rings] [--cases N] [--seed S] [--first I] [--check-every N] [--keep-going] [--show [--detail]]');
    return 0;
  }
  const targets = opts.target === 'all' ? [...TARGETS] : (opts.target!.split(',') as TargetName[]);
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target '${t}' (known: ${TARGETS.join(', ')})`);
  if (opts['skip-ring-fields']) process.env['FUZZ_RING_SKIP'] = opts['skip-ring-fields']; // read by ring-cases.ts, here and in the scribblers
  const seed = parseSeed(opts.seed ?? process.env['FUZZ_SEED']);
  const cases = parseCases(opts.cases ?? process.env['FUZZ_CASES']);
  const first = Number(opts.first);
  if (opts.show) {
    for (const t of targets) {
      for (let i = first; i < first + cases; i++) {
        const c = MAKE_CASE[t](seed, i);
        out(`${t} ${i}: ${c.desc}`);
        if (opts.detail) out(`  ${detail(c)}`);
      }
    }
    return 0;
  }
  let ok = true;
  for (const t of targets) ok = (await runTarget(t, seed, first, cases)) && ok;
  return ok ? 0 : 1;
}

const code = await main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  return 2;
});
await killChildren();
cleanupShm();
process.exit(code);
