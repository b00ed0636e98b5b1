/**
 * rxmesh beside its peers, one host, one command: rxmesh through its public
 * API (a real `rxmesh up` child, app children on its rings), a Node
 * Unix-domain socket direct between two processes, NATS (a nats-server child
 * and nats.js) and ZeroMQ (zeromq.js 6 over ipc://), in the same run.
 *
 *   npx tsx bench/compare.ts [--quick] [--reps N] [--only rtt|throughput|idle]... [--pin none|same|cross] [--verbose]
 *   npm run bench:compare -- --pin cross
 *
 * 1. Round trip, 64 B, one message in flight, 20,000 timed round trips after
 *    2,000 warm-up ones (and one whole untimed run per system first), p50 and
 *    p99 in µs: rxmesh request/reply (`inst.request` answered by `msg.reply`),
 *    rxmesh raw (`sendTo` → `msg.reply(msg.data)`), the socket ping-pong,
 *    NATS request/reply, ZeroMQ REQ/REP (compare-rtt.ts).
 * 2. One-way throughput, msg/s, at 64 B, 1 KiB and 64 KiB; the receiver checks
 *    every sequence number: rxmesh `sendTo`, the socket with one write() per
 *    message and with cork()/uncork() around every 64 writes, NATS pub/sub,
 *    ZeroMQ PUSH/PULL. Warm-up runs size each timed run to about 1.2 s
 *    (compare-throughput.ts).
 * 3. Idle CPU: the agent and two idle app children (one instance each),
 *    utime+stime from /proc/<pid>/stat over 10 s windows (compare-idle.ts).
 *
 * Every part runs `--reps` times (default 3), the systems taking turns
 * (rxmesh, socket, NATS, ZeroMQ, rxmesh, ...) so that noise hits them alike,
 * and reports medians. `--pin` places the processes with `taskset -c` when
 * they are spawned (compare-procs.ts): `same`, every process of a measurement
 * on CPU 0 (both apps, the agent, nats-server); `cross`, the requester/sender
 * on CPU 0 and the replier/receiver on CPU 1, the agent and nats-server left
 * to the scheduler; `none` (default), nothing pinned.
 *
 * Output: a Markdown report (in its head the pin mode, date, CPU model, nproc
 * and the 1-minute load average at start → end; then the tables with ratios:
 * for round trips each system's p50 over the socket's and over NATS's, and
 * request/reply over raw; for throughput rxmesh over each other system),
 * printed and written to bench/results/compare-<pin>.md, and the same numbers
 * as a chart, bench/results/compare-<pin>.svg (chart.ts).
 *
 * Reading it: ratios and medians matter, absolute numbers do not (a shared
 * 2-vCPU VM). A round trip is bounded by wake-ups: rxmesh's has four hops
 * (app → agent → app and back) against the socket's two, and on a small VM a
 * wake-up across CPUs costs several times one on the same CPU, so the socket
 * and ZeroMQ numbers are bimodal without pinning (whether the scheduler kept
 * both ends on one CPU); `--pin same` and `--pin cross` show the two cases.
 * The agent and nats-server are each one extra process on the path; the
 * socket and ZeroMQ have none. Compare several invocations, not one line.
 *
 * Everything runs under one private directory in /dev/shm (the agent's rings,
 * every socket); every child is killed and the directory removed on every way
 * out (done, error, Ctrl-C, SIGTERM).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureIdle } from './compare-idle.js';
import { PINS, Procs, type Pin, type Server } from './compare-procs.js';
import { chart, markdown, type Results } from './compare-report.js';
import { measureRtt } from './compare-rtt.js';
import { measureThroughput } from './compare-throughput.js';

const USAGE = `usage: npx tsx bench/compare.ts [options]
  --quick          short runs (1,000 round trips, ~0.1 s throughput runs, 5 s idle): a smoke test
  --reps N         runs per measurement, systems alternating (default 3; medians are reported)
  --only PART      only this part: rtt, throughput or idle (repeatable)
  --pin MODE       none (default), same (everything on CPU 0) or cross (requester/sender on CPU 0,
                   replier/receiver on CPU 1, agent and nats-server unpinned)
  --verbose        print every run to stderr
  -h, --help       this text`;

const PARTS = ['rtt', 'throughput', 'idle'] as const;
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    only: { type: 'string', multiple: true },
    pin: { type: 'string', default: 'none' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
function usage(problem?: string): never {
  if (problem) console.error(`compare: ${problem}`);
  console.log(USAGE);
  process.exit(problem ? 2 : 0);
}
if (opts.help) usage();
for (const p of opts.only ?? []) if (!(PARTS as readonly string[]).includes(p)) usage(`unknown part '${p}'`);
if (!(PINS as readonly string[]).includes(opts.pin)) usage(`unknown pin mode '${opts.pin}'`);
const REPS = Number(opts.reps);
if (!Number.isInteger(REPS) || REPS < 1) usage(`--reps takes a whole number ≥ 1, not '${opts.reps}'`);
const pin = opts.pin as Pin;
const runs = (part: (typeof PARTS)[number]): boolean => !opts.only || opts.only.includes(part);

const QUICK = opts.quick;
const RTT = { count: QUICK ? 1_000 : 20_000, warmup: QUICK ? 200 : 2_000, size: 64 };
const TP_SECONDS = QUICK ? 0.1 : 1.2;
const IDLE = { seconds: QUICK ? 5 : 10, settleMs: QUICK ? 1_000 : 2_000 };
const log = (line: string): void => {
  if (opts.verbose) process.stderr.write(`${line}\n`);
};

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
const nproc = Number(sh('nproc'));
const loadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU';

/** Fail early, with a reason, where a run could only fail later. */
function preflight(): void {
  if (pin !== 'none') {
    try {
      sh('taskset', '-c', '0', 'true');
    } catch {
      usage('--pin needs taskset (Debian: util-linux)');
    }
  }
  if (pin === 'cross' && nproc < 2) usage(`--pin cross needs 2 CPUs, nproc says ${nproc}`);
  if (runs('rtt') || runs('throughput')) {
    try {
      sh('nats-server', '--version');
    } catch {
      usage('needs nats-server on the PATH (Debian: apt-get install nats-server)');
    }
  }
}

async function main(): Promise<void> {
  preflight();
  const results: Results = {
    pin, date: new Date(), cpu: cpuModel, nproc, load: [loadAverage(), 0], reps: REPS,
    command: ['npx tsx bench/compare.ts', ...process.argv.slice(2)].join(' '),
  };
  const procs = new Procs(pin);
  const mesh = await procs.rxmesh();
  log(`compare: pin ${pin}, ${REPS} run(s) per measurement, private dir ${procs.root}, agent pid ${mesh.server.pid}`);
  let nats: { server: Server; url: string } | undefined;
  if (runs('rtt') || runs('throughput')) nats = await procs.nats();
  if (runs('rtt')) {
    const rows = await measureRtt(procs, mesh.socket, nats!.url, { ...RTT, reps: REPS, log });
    results.rtt = { rows, ...RTT };
  }
  if (runs('throughput')) {
    const rows = await measureThroughput(procs, mesh.socket, nats!.url, { seconds: TP_SECONDS, reps: REPS, log });
    results.throughput = { rows, seconds: TP_SECONDS };
  }
  await nats?.server.stop();
  if (runs('idle')) results.idle = await measureIdle(procs, mesh.server, mesh.socket, { ...IDLE, reps: REPS, log });
  await mesh.server.stop();
  results.load[1] = loadAverage();

  const report = markdown(results);
  console.log(report);
  const dir = fileURLToPath(new URL('results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}compare-${pin}.md`, report);
  writeFileSync(`${dir}compare-${pin}.svg`, chart(results));
  console.log(`written: bench/results/compare-${pin}.md, bench/results/compare-${pin}.svg`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`compare: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
