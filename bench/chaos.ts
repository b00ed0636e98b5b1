/**
 * Chaos bench: is every accepted message delivered once or reported once,
 * under real failures? Three agents (behind TCP proxies the bench controls,
 * once agents take --advertise), a name server and several app processes
 * sending with `sendTo`, `send` and `request`; at seeded random times an
 * agent or an app is SIGKILLed and restarted, a link is reset or stalled, an
 * agent is SIGSTOPped, an instance with a backlog is closed or replaced, a
 * receiver stops reading. Afterwards every accepted message is classified
 * (bench/chaos/classify.ts) and FIFO per pair is checked.
 *
 *   npx tsx bench/chaos.ts [--seeds 10 | --seed 7] [--duration 20] [--settle 30]
 *                          [--faults all|none|kind,kind] [--rate 3000] [--proxy auto|on|off] [--verbose] [--keep-logs]
 *
 * Fault kinds: kill-agent, kill-app, reset-link, stall-link, stop-agent, close, replace, stop-reading.
 * Prints one line per seed and a total:
 *
 *   chaos seed 7: accepted 312400, delivered 310115, bounced 2285, in_doubt 0, both 0, neither 0, twice 0, misdelivered 0, fifo 0, orphaned 0
 *   chaos total: ...
 *
 * Exit code 1 if both, neither, twice, misdelivered, fifo (or phantom, corrupt) is non-zero
 * on any seed, or a run failed. `--verbose` prints the topology and fault schedule of each
 * seed, what each fault did, the bounce reasons, and examples of each bad class with
 * where each message was last seen.
 */
import { parseArgs } from 'node:util';
import { addTally, emptyTally, formatTally, isBad } from './chaos/classify.js';
import { FAULT_KINDS, type FaultKind } from './chaos/faults.js';
import { cleanupAll } from './chaos/processes.js';
import { runSeed, useProxies } from './chaos/run.js';

const { values: opts } = parseArgs({
  options: {
    seeds: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string', default: '20' },
    settle: { type: 'string', default: '30' },
    faults: { type: 'string', default: 'all' },
    rate: { type: 'string', default: '3000' },
    proxy: { type: 'string', default: 'auto' },
    verbose: { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function parseFaults(spec: string): FaultKind[] {
  if (spec === 'all') return [...FAULT_KINDS];
  if (spec === 'none') return [];
  const kinds = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault '${k}' (known: ${FAULT_KINDS.join(', ')})`);
  return kinds as FaultKind[];
}

async function main(): Promise<number> {
  if (opts.help) {
    process.stdout.write('usage: npx tsx bench/chaos.ts [--seeds N | --seed S] [--duration SEC] [--settle SEC] [--faults all|none|k,k] [--rate MSG/S] [--proxy auto|on|off] [--verbose] [--keep-logs]\n' +
      `faults: ${FAULT_KINDS.join(', ')}\n`);
    return 0;
  }
  const seeds = opts.seed !== undefined ? [Number(opts.seed)] : Array.from({ length: Number(opts.seeds ?? 10) }, (_, i) => i + 1);
  const faults = parseFaults(opts.faults!);
  const mode = opts.proxy as 'auto' | 'on' | 'off';
  if (!['auto', 'on', 'off'].includes(mode)) throw new Error(`--proxy must be auto, on or off`);
  const proxies = useProxies(mode, (l) => process.stderr.write(`${l}\n`));
  const total = emptyTally();
  let failed = false;
  for (const seed of seeds) {
    try {
      const r = await runSeed({
        seed, durationMs: Number(opts.duration) * 1000, settleMs: Number(opts.settle) * 1000, faults, rate: Number(opts.rate),
        proxies: mode, verbose: opts.verbose!, keepLogs: opts['keep-logs']!,
      }, proxies);
      console.log(`chaos seed ${seed}: ${formatTally(r.tally)}`);
      addTally(total, r.tally);
      failed ||= isBad(r.tally);
    } catch (err) {
      console.log(`chaos seed ${seed}: run failed: ${(err as Error).message}`);
      failed = true;
    }
  }
  console.log(`chaos total: ${formatTally(total)}${proxies ? '' : ' (no link proxies)'}`);
  return failed ? 1 : 0;
}

main().then((code) => {
  cleanupAll();
  process.exit(code);
}, (err: Error) => {
  console.error(`chaos: ${err.stack ?? err.message}`);
  cleanupAll();
  process.exit(1);
});
