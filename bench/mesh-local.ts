/**
 * One-host mesh benchmark: app → agent → app through a real `rxmesh up` child
 * process, against a Node Unix-domain socket direct between two processes,
 * in the same run (DESIGN.md §8).
 *
 *   npx tsx bench/mesh-local.ts [--quick] [--verbose] [--only PART] [--cpu-prof DIR]
 *
 * 1. Throughput, 64 B one-way: a sender child `sendTo`s as fast as it can
 *    (QueueFullError: back off and retry the same message), a receiver child
 *    counts `messages$` and checks every sequence number. Baseline: the
 *    length-prefixed socket writer of bench/ring.ts (socket-producer.ts) into
 *    this process (receivers.ts). Warm-up runs size the timed runs to ~1.5 s.
 * 2. Ping-pong RTT, 64 B, one message in flight, 10,000 timed round trips
 *    after 2,000 warm-up ones (and one whole untimed run first); the baseline
 *    is a socket ping-pong child pair.
 * 3. Idle CPU: two idle app children (one instance each) on the agent;
 *    utime+stime from /proc/<pid>/stat before and after 10 s.
 *
 * Each part runs 3 times, mesh and socket alternating so that noise on this
 * machine hits both alike, and prints the medians:
 *
 *   mesh-local 64B: N msg/s, unix-socket 64B: M msg/s, ratio R
 *   mesh-local rtt p50 X us p99 Y us, unix-socket rtt p50 X2 us p99 Y2 us
 *   idle: agent X% cpu, apps Y% cpu over 10 s
 *
 * Reading the RTT line on a small VM: a wake-up across vCPUs costs far more
 * than one on the same vCPU (measured on the 2-vCPU dev VM: ~24 µs vs ~5 µs
 * from a doorbell write to the agent's callback), so the socket baseline is
 * bimodal — ~13 µs when the scheduler keeps both processes on one vCPU,
 * ~50 µs when it spreads them — while the mesh's 4 hops measured ~35 µs
 * either way. Compare medians over several invocations, not one line.
 *
 * Everything runs under one private directory in /dev/shm (the agent's shm
 * dir and the baseline's sockets); every child is killed and the directory
 * removed on every way out (done, error, Ctrl-C).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Ring, type RingStats } from '../lib/native/index.js';
import type { AppReady, ArmArg, Call, Hello, PingArg, Reply, RttResult, SendArg, SendResult, SocketPingArg } from './mesh-ipc.js';
import { MessageCounter, SocketReceiver } from './receivers.js';
import type { RunCommand } from './workload.js';

const USAGE = `usage: npx tsx bench/mesh-local.ts [options]
  --quick          tiny counts, 1 run, 2 s idle: a smoke test (numbers are meaningless)
  --verbose        print every run, ring counters and per-process CPU to stderr
  --only PART      only this part: throughput, rtt or idle (repeatable)
  --reps N         runs per part (default 3; the medians are printed)
  --idle-seconds N idle window (default 10)
  --zero-copy      the receiving apps use messages$ with { zeroCopy: true }
  --no-pairs       the agent makes no pair rings (--max-pairs-per-instance 0): every message through it
  --ring-bytes N   the agent's --ring-bytes (every ring's data area, pair rings too; default 1 MiB)
  --cpu-prof DIR   run the agent and the app children with --cpu-prof into DIR
                   (the profiler costs CPU itself: numbers of such a run are not comparable)
  -h, --help       this text`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    reps: { type: 'string' },
    'idle-seconds': { type: 'string' },
    'zero-copy': { type: 'boolean', default: false },
    'no-pairs': { type: 'boolean', default: false },
    'ring-bytes': { type: 'string' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const PARTS = ['throughput', 'rtt', 'idle'] as const;
for (const p of opts.only ?? []) {
  if (!(PARTS as readonly string[]).includes(p)) {
    console.error(`unknown part '${p}'\n${USAGE}`);
    process.exit(2);
  }
}
const runs = (part: (typeof PARTS)[number]): boolean => !opts.only || opts.only.includes(part);

const QUICK = opts.quick;
const REPS = Number(opts.reps ?? (QUICK ? 1 : 3));
const SIZE = 64;
/** Seconds of traffic per timed throughput run. */
const SECONDS = QUICK ? 0.05 : 1.5;
const RTT_COUNT = QUICK ? 200 : 10_000;
const RTT_WARMUP = QUICK ? 50 : 2_000;
const IDLE_SECONDS = Number(opts['idle-seconds'] ?? (QUICK ? 2 : 10));
/** Before the idle window: let startup work (JIT, GC, registry round trips) settle. */
const IDLE_SETTLE_MS = QUICK ? 500 : 2_000;
const MAX_FRAME = 1 << 20;
const TIMEOUT_MS = 120_000;
const verbose = (msg: string): void => {
  if (opts.verbose) process.stderr.write(`${msg}\n`);
};

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const benchFile = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const childNodeArgs = (): string[] => (opts['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', opts['cpu-prof']] : []);

/* ------------------------------------------------------------ cleanup */

/** Everything this run leaves on the machine: one private directory and the children. */
const root = mkdtempSync('/dev/shm/rxmesh-bench-mesh-');
chmodSync(root, 0o700);
const agentDir = join(root, 'agent');
const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait for a child to exit; SIGKILL it if it has not within `ms`. */
async function reap(proc: ChildProcess, ms: number): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = once(proc, 'exit');
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
  children.delete(proc);
}

/* ------------------------------------------------------------ children */

/** A benchmark child (`node --import tsx bench/<script>`) driven over IPC (mesh-ipc.ts). */
class Child<R = unknown> {
  readonly proc: ChildProcess;
  readonly ready: Promise<R>;
  private readonly exited: Promise<never>;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;

  constructor(readonly name: string, script: string, args: string[], nodeArgs: string[] = []) {
    this.proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', benchFile(script), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.exited = new Promise<never>((_, reject) => {
      this.proc.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code})`)));
    });
    this.exited.catch(() => {}); // reported through guard() when it matters
    let hello: (info: R) => void;
    this.ready = this.guard(new Promise<R>((resolve) => (hello = resolve)), 'start');
    this.proc.on('message', (msg: Reply | Hello) => {
      if ('ready' in msg) return hello(msg.ready as R);
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`${name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** `promise`, unless the child dies or time runs out first. */
  guard<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(Promise.race([promise, this.exited]), `${this.name} ${what}`);
  }

  call<T>(op: string, arg?: unknown): Promise<T> {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.proc.send({ id, op, arg } satisfies Call);
    return this.guard(result, op);
  }

  /** A raw IPC message (for bench/ring.ts's producers, which speak workload.ts's RunCommand). */
  post(msg: RunCommand): void {
    this.proc.send(msg);
  }

  /** Disconnect (the child exits by itself, writing its --cpu-prof), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.proc.connected) this.proc.disconnect();
    await reap(this.proc, 5_000);
  }
}

interface UpReady {
  ns: { port: number; httpPort: number };
  agent: { socket: string; agentId: string };
}

/** The `rxmesh up` child: a name server and an agent in one process. */
class MeshServer {
  readonly proc: ChildProcess;
  readonly ready: Promise<UpReady>;
  private stderr = '';

  constructor() {
    const args = ['up', '--port', '0', '--http-port', '0', '--shm-dir', agentDir, '--exit-with-parent',
      ...(opts['no-pairs'] ? ['--max-pairs-per-instance', '0'] : []), ...(opts['ring-bytes'] ? ['--ring-bytes', opts['ring-bytes']] : [])];
    this.proc = spawn(process.execPath, [...childNodeArgs(), '--import', 'tsx', join(repoRoot, 'lib/cli/main.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(this.proc);
    let stdout = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
      if (this.stderr.length > 64 * 1024) this.stderr = this.stderr.slice(-32 * 1024);
    });
    this.ready = withTimeout(new Promise<UpReady>((resolve, reject) => {
      this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
        stdout += s;
        const line = stdout.split('\n').find((l) => l.includes('"ready"'));
        if (line) resolve((JSON.parse(line) as { ready: UpReady }).ready);
      });
      this.proc.once('exit', (code, signal) => reject(new Error(`rxmesh up exited (${signal ?? code}): ${this.stderr}`)));
    }), 'rxmesh up');
    // Dying mid-run would leave the apps waiting for messages that never come: fail now.
    this.proc.once('exit', (code, signal) => {
      if (this.stopping) return;
      console.error(`rxmesh up exited during the benchmark (${signal ?? code}): ${this.stderr}`);
      process.exit(1); // the exit handler kills the other children and removes the shm files
    });
  }

  private stopping = false;

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** SIGTERM: instances offline, rings removed, profile written; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    await reap(this.proc, 10_000);
  }
}

type App = Child<AppReady>;

async function startApps(socket: string, ...names: string[]): Promise<App[]> {
  const flags = opts['zero-copy'] ? ['--zero-copy'] : [];
  const apps = names.map((name) => new Child<AppReady>(`app ${name}`, 'mesh-app.ts', [socket, name, ...flags], childNodeArgs()));
  await Promise.all(apps.map((a) => a.ready));
  return apps;
}

async function stopAll(children: { stop(): Promise<void> }[]): Promise<void> {
  await Promise.allSettled(children.map((c) => c.stop()));
}

/* ------------------------------------------------------------ measuring */

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Counters of one instance's rings, read through observer handles on the agent's files. */
class RingWatch {
  private readonly tx: Ring;
  private readonly rx: Ring;

  constructor(readonly ref: AppReady['ref']) {
    this.tx = Ring.open(join(agentDir, `i${ref.localId}.tx`), 'observer');
    this.rx = Ring.open(join(agentDir, `i${ref.localId}.rx`), 'observer');
  }

  stats(): { tx: RingStats; rx: RingStats } {
    return { tx: this.tx.stats(), rx: this.rx.stats() };
  }

  close(): void {
    this.tx.close();
    this.rx.close();
  }
}

interface Transport {
  readonly name: string;
  measure(count: number): Promise<number>;
  close(): Promise<void>;
}

async function meshThroughput(socket: string): Promise<Transport> {
  const [receiver, sender] = await startApps(socket, 'recv', 'send');
  const recvRef = (await receiver!.ready).ref;
  const watches = [new RingWatch((await sender!.ready).ref), new RingWatch(recvRef)];
  return {
    name: 'mesh-local',
    async measure(count) {
      const before = watches.map((w) => w.stats());
      await receiver!.call('arm', { count, size: SIZE } satisfies ArmArg);
      const t0 = performance.now();
      const sent = sender!.call<SendResult>('send', { to: recvRef, count, size: SIZE } satisfies SendArg);
      sent.catch(() => {}); // awaited below; if the receiver fails first, its error is the one reported
      const recvSeconds = await receiver!.call<number>('wait');
      const rate = count / ((performance.now() - t0) / 1000);
      const s = await sent;
      const [tx, rx] = watches.map((w, i) => {
        const a = before[i]!;
        const b = w.stats();
        const delta = (side: 'tx' | 'rx') => ({
          wakeups: b[side].wakeups - a[side].wakeups,
          full: b[side].fullCount - a[side].fullCount,
          space: b[side].spaceWakeups - a[side].spaceWakeups,
        });
        return { tx: delta('tx'), rx: delta('rx') };
      });
      verbose(`    mesh: ${count} msgs, sender loop ${s.seconds.toFixed(3)} s (QueueFull ${s.queueFull}, sleeps ${s.sleeps}), ` +
        `receiver first→last ${recvSeconds.toFixed(3)} s; agent woken by sender ${tx!.tx.wakeups}x, ` +
        `receiver woken ${rx!.rx.wakeups}x, sender tx full ${tx!.tx.full}x, receiver rx full ${rx!.rx.full}x, space bells to sender ${tx!.tx.space}x, to agent ${rx!.rx.space}x`);
      return rate;
    },
    async close() {
      for (const w of watches) w.close();
      await stopAll([sender!, receiver!]);
    },
  };
}

async function socketThroughput(): Promise<Transport> {
  const path = join(root, 'throughput.sock');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const producer = new Child('socket-producer', 'socket-producer.ts', [path, String(SIZE)]);
  let receiver: SocketReceiver;
  try {
    const [socket] = (await producer.guard(once(server, 'connection'), 'connect')) as [Socket];
    receiver = new SocketReceiver(socket, new MessageCounter(), MAX_FRAME);
    await producer.ready;
  } catch (err) {
    await producer.stop();
    throw err;
  } finally {
    server.close(); // one connection is all we take; closing also removes the socket file
  }
  return {
    name: 'unix-socket',
    async measure(count) {
      const t0 = performance.now();
      producer.post({ run: count });
      await producer.guard(receiver.run(count, SIZE), `run of ${count}`);
      return count / ((performance.now() - t0) / 1000);
    },
    async close() {
      await producer.stop();
      receiver.close();
    },
  };
}

/** Warm up (JIT, ring pages) and pick the message count for ~SECONDS per run. */
async function calibrate(t: Transport): Promise<number> {
  let count = QUICK ? 2_000 : 100_000;
  for (const seconds of [SECONDS / 5, SECONDS]) {
    const rate = await t.measure(count);
    verbose(`  ${t.name} warm-up: ${Math.round(rate)} msg/s (${count} msgs)`);
    count = Math.max(count, Math.round(rate * seconds));
  }
  return count;
}

async function throughput(socket: string): Promise<{ mesh: number; unix: number }> {
  const transports: Transport[] = [];
  try {
    transports.push(await meshThroughput(socket));
    transports.push(await socketThroughput());
    const counts: number[] = [];
    for (const t of transports) counts.push(await calibrate(t));
    const rates: number[][] = transports.map(() => []);
    for (let rep = 1; rep <= REPS; rep++) {
      for (const [i, t] of transports.entries()) {
        const rate = await t.measure(counts[i]!);
        rates[i]!.push(rate);
        verbose(`  ${t.name} 64B run ${rep}: ${Math.round(rate)} msg/s (${counts[i]} msgs)`);
      }
    }
    return { mesh: median(rates[0]!), unix: median(rates[1]!) };
  } finally {
    await stopAll(transports.map((t) => ({ stop: () => t.close() })));
  }
}

interface Rtt {
  p50: number;
  p99: number;
}

async function rtt(socket: string): Promise<{ mesh: Rtt; unix: Rtt }> {
  const all: { stop(): Promise<void> }[] = [];
  try {
    const apps = await startApps(socket, 'pong', 'ping');
    all.push(...apps);
    const [pong, ping] = apps as [App, App];
    const pongRef = (await pong.ready).ref;
    await pong.call('pong');
    const watches = [new RingWatch((await ping.ready).ref), new RingWatch(pongRef)];
    all.push({ stop: async () => watches.forEach((w) => w.close()) });

    const path = join(root, 'pingpong.sock');
    const spong = new Child('socket pong', 'socket-pingpong.ts', ['pong', path]);
    all.push(spong);
    await spong.ready;
    const sping = new Child('socket ping', 'socket-pingpong.ts', ['ping', path]);
    all.push(sping);
    await sping.ready;

    // An untimed run each first: the first ~12,000 mesh round trips after the apps
    // start measured up to 2x slower than the later ones (startup transients: JIT,
    // background compilation and GC, the same ones that show in the first idle window).
    const meshArg: PingArg = { to: pongRef, count: RTT_COUNT, warmup: RTT_WARMUP, size: SIZE };
    const unixArg: SocketPingArg = { count: RTT_COUNT, warmup: RTT_WARMUP, size: SIZE };
    const w = await ping.call<RttResult>('ping', meshArg);
    const wu = await sping.call<RttResult>('ping', unixArg);
    verbose(`  warm-up: mesh-local rtt p50 ${w.p50.toFixed(1)} us, unix-socket rtt p50 ${wu.p50.toFixed(1)} us`);
    const mesh: RttResult[] = [];
    const unix: RttResult[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      const before = watches.map((w) => w.stats());
      const m = await ping.call<RttResult>('ping', meshArg);
      const after = watches.map((w) => w.stats());
      const d = (i: number, side: 'tx' | 'rx'): number => after[i]![side].wakeups - before[i]![side].wakeups;
      mesh.push(m);
      verbose(`  mesh-local rtt run ${rep}: p50 ${m.p50.toFixed(1)} us p99 ${m.p99.toFixed(1)} us max ${m.max.toFixed(0)} us; ` +
        `${RTT_COUNT + RTT_WARMUP} round trips, doorbell rings: ping→agent ${d(0, 'tx')}, agent→pong ${d(1, 'rx')}, ` +
        `pong→agent ${d(1, 'tx')}, agent→ping ${d(0, 'rx')}`);
      const u = await sping.call<RttResult>('ping', unixArg);
      unix.push(u);
      verbose(`  unix-socket rtt run ${rep}: p50 ${u.p50.toFixed(1)} us p99 ${u.p99.toFixed(1)} us max ${u.max.toFixed(0)} us`);
    }
    const med = (rs: RttResult[]): Rtt => ({ p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) });
    return { mesh: med(mesh), unix: med(unix) };
  } finally {
    await stopAll(all);
  }
}

/* ------------------------------------------------------------ idle CPU */

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields 3.. (comm may hold spaces)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 utime, 15 stime
}

/** Time on the CPU of a process's threads in ns (/proc/<pid>/task/<tid>/schedstat): a finer cross-check. */
function schedNs(pid: number): number {
  let total = 0;
  try {
    for (const tid of execFileSync('ls', [`/proc/${pid}/task`], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch { /* thread ended */ }
    }
  } catch { /* no schedstat */ }
  return total;
}

async function idle(server: MeshServer, socket: string): Promise<{ agent: number; apps: number }> {
  const apps = await startApps(socket, 'idle-a', 'idle-b');
  const watches: RingWatch[] = [];
  try {
    for (const a of apps) {
      await a.call('idle');
      watches.push(new RingWatch((await a.ready).ref));
    }
    await sleep(IDLE_SETTLE_MS);
    const pids = [server.pid, ...apps.map((a) => a.pid)];
    const agent: number[] = [];
    const appPct: number[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      const wake0 = watches.map((w) => w.stats()).reduce((n, s) => n + s.tx.wakeups + s.rx.wakeups, 0);
      const c0 = pids.map(cpuSeconds);
      const s0 = pids.map(schedNs);
      const t0 = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      const wall = (performance.now() - t0) / 1000;
      const pct = pids.map((pid, i) => ((cpuSeconds(pid) - c0[i]!) / wall) * 100);
      const fine = pids.map((pid, i) => ((schedNs(pid) - s0[i]!) / 1e9 / wall) * 100);
      const wakeups = watches.map((w) => w.stats()).reduce((n, s) => n + s.tx.wakeups + s.rx.wakeups, 0) - wake0;
      agent.push(pct[0]!);
      appPct.push(pct.slice(1).reduce((a, b) => a + b, 0));
      verbose(`  idle run ${rep} (${wall.toFixed(1)} s): /proc stat agent ${pct[0]!.toFixed(2)}%, apps ${pct.slice(1).map((p) => p.toFixed(2) + '%').join(' + ')}; ` +
        `schedstat agent ${fine[0]!.toFixed(3)}%, apps ${fine.slice(1).map((p) => p.toFixed(3) + '%').join(' + ')}; doorbell rings ${wakeups}`);
    }
    return { agent: median(agent), apps: median(appPct) };
  } finally {
    for (const w of watches) w.close();
    await stopAll(apps);
  }
}

/* ------------------------------------------------------------ main */

async function main(): Promise<void> {
  mkdirSync(agentDir, { mode: 0o700 });
  const server = new MeshServer();
  try {
    const { agent } = await server.ready;
    verbose(`rxmesh up pid ${server.pid}, agent socket ${agent.socket}; ${REPS} run(s) per part`);
    if (runs('throughput')) {
      const r = await throughput(agent.socket);
      console.log(`mesh-local 64B: ${Math.round(r.mesh)} msg/s, unix-socket 64B: ${Math.round(r.unix)} msg/s, ratio ${(r.mesh / r.unix).toFixed(2)}`);
    }
    if (runs('rtt')) {
      const r = await rtt(agent.socket);
      const f = (x: number): string => x.toFixed(1);
      console.log(`mesh-local rtt p50 ${f(r.mesh.p50)} us p99 ${f(r.mesh.p99)} us, unix-socket rtt p50 ${f(r.unix.p50)} us p99 ${f(r.unix.p99)} us`);
    }
    if (runs('idle')) {
      const r = await idle(server, agent.socket);
      console.log(`idle: agent ${r.agent.toFixed(2)}% cpu, apps ${r.apps.toFixed(2)}% cpu over ${IDLE_SECONDS} s`);
    }
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
