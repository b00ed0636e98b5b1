/**
 * The processes of one bench/compare.ts run and what they leave on the
 * machine: one private directory under /dev/shm (the agent's rings and every
 * Unix and ipc:// socket of the run) and the children, each placed on a CPU
 * with `taskset -c` when the pin mode asks (taskset execs the program, so the
 * child's pid is the program's). Every child is killed and the directory
 * removed on every way out: done, error, Ctrl-C, SIGTERM; and, by a detached
 * janitor process that outlives this one, even when this process is killed
 * before its own handlers can run (SIGKILL; or `npx tsx`, whose wrapper
 * SIGKILLs a script that has not reported a relayed Ctrl-C within ~60 ms).
 *
 * Pin modes: `same` puts every process of a measurement on CPU 0; `cross` the
 * requester/sender on CPU 0, the replier/receiver on CPU 1 and leaves the
 * servers (the agent, nats-server) to the scheduler; `none` pins nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel } from './mesh-ipc.js';

export const PINS = ['none', 'same', 'cross'] as const;
export type Pin = (typeof PINS)[number];
/** What a process is to the measurement, which decides its CPU. */
export type Role = 'requester' | 'replier' | 'server';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const START_MS = 60_000;

/**
 * The janitor (sh, its own session, so a Ctrl-C does not reach it): reads the
 * pids of this run's children on stdin; when stdin closes (this process ended,
 * however) it SIGKILLs those still there and removes the directory ($0).
 */
const JANITOR = 'pids=; while read -r pid; do pids="$pids $pid"; done; [ -z "$pids" ] || kill -KILL $pids 2>/dev/null; rm -rf -- "$0"';

/** Resolves with the first line of `proc`'s stdout or stderr that matches `pattern`; rejects if it exits first. */
function lineOf(proc: ChildProcess, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not ready after ${START_MS / 1000} s: ${seen.slice(-2000)}`)), START_MS);
    const look = (chunk: string): void => {
      seen = (seen + chunk).slice(-64 * 1024);
      const match = pattern.exec(seen);
      if (!match) return;
      clearTimeout(timer);
      resolve(match);
    };
    proc.stdout!.setEncoding('utf8').on('data', look);
    proc.stderr!.setEncoding('utf8').on('data', look);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? code}): ${seen.slice(-2000)}`));
    });
  });
}

/** A long-lived server child (the agent, nats-server): its death mid-run ends the benchmark. */
export class Server {
  private stopping = false;

  constructor(readonly name: string, readonly proc: ChildProcess) {
    proc.once('exit', (code, signal) => {
      if (this.stopping) return;
      console.error(`${name} exited during the benchmark (${signal ?? code})`);
      process.exit(1); // the exit handler kills the other children and removes the directory
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** SIGTERM (the agent removes its rings), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { proc } = this;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

export class Procs {
  /** The run's private directory under /dev/shm. */
  readonly root = mkdtempSync('/dev/shm/rxmesh-bench-compare-');
  private readonly children = new Set<ChildProcess>();

  private readonly janitor: ChildProcess;

  constructor(readonly pin: Pin) {
    chmodSync(this.root, 0o700);
    this.janitor = spawn('sh', ['-c', JANITOR, this.root], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    this.janitor.unref();
    (this.janitor.stdin as unknown as { unref(): void }).unref();
    process.on('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        console.error(`\ncompare: ${signal}, stopping`);
        process.exit(130); // runs the exit handler
      });
    }
  }

  /** A path inside the private directory. */
  path(name: string): string {
    return join(this.root, name);
  }

  /** The CPU list for `taskset -c`, or undefined: unpinned. */
  cpuOf(role: Role): string | undefined {
    if (this.pin === 'same') return '0';
    if (this.pin === 'cross' && role !== 'server') return role === 'requester' ? '0' : '1';
    return undefined;
  }

  /** Spawn `cmd args`, under taskset when `role` is pinned; the child is killed on every way out. */
  spawn(cmd: string, args: string[], role: Role, ipc: boolean): ChildProcess {
    const cpu = this.cpuOf(role);
    const [file, argv] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]];
    const proc = spawn(file, argv, { cwd: repoRoot, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['pipe', 'pipe', 'pipe'] }); // stdin: rxmesh's --exit-with-parent watches it
    this.children.add(proc);
    if (proc.pid !== undefined) this.janitor.stdin!.write(`${proc.pid}\n`);
    proc.once('exit', () => this.children.delete(proc));
    return proc;
  }

  /** A bench/<script> child (`node --import tsx`) driven over IPC (mesh-ipc.ts). */
  child<R = unknown>(name: string, script: string, args: string[], role: Role): Channel<R> {
    const file = fileURLToPath(new URL(script, import.meta.url));
    return new Channel<R>(name, this.spawn(process.execPath, ['--import', 'tsx', file, ...args], role, true));
  }

  /** `rxmesh up` (a name server and an agent in one process) with its rings in the private directory. */
  async rxmesh(): Promise<{ server: Server; socket: string }> {
    const shmDir = this.path('agent');
    mkdirSync(shmDir, { mode: 0o700 });
    const cli = join(repoRoot, 'lib/cli/main.ts');
    const args = ['--import', 'tsx', cli, 'up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--exit-with-parent'];
    const proc = this.spawn(process.execPath, args, 'server', false);
    const [, line] = await lineOf(proc, /^(.*"ready".*)\n/m, 'rxmesh up');
    const ready = (JSON.parse(line!) as { ready: { agent: { socket: string } } }).ready;
    return { server: new Server('rxmesh up', proc), socket: ready.agent.socket };
  }

  /** nats-server on a free loopback port. */
  async nats(): Promise<{ server: Server; url: string }> {
    const proc = this.spawn('nats-server', ['-a', '127.0.0.1', '-p', '-1'], 'server', false);
    const [, port] = await lineOf(proc, /client connections on 127\.0\.0\.1:(\d+)[\s\S]*Server is ready/, 'nats-server');
    return { server: new Server('nats-server', proc), url: `nats://127.0.0.1:${port}` };
  }

  /** Synchronous, so that it can run in the exit handler: SIGKILL every child, remove the directory. */
  killAll(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}
