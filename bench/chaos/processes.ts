/**
 * The real processes of a chaos run, and their cleanup.
 *
 *   Child        one child process (`node --import tsx <script>`): stdout lines, a stderr tail, exit
 *   NsProcess    `rxmesh ns --port 0 --http-port 0 --games FILE`
 *   AgentProcess `rxmesh agent --id chaos-x --shm-dir DIR --listen 127.0.0.1:0 [--advertise PROXY]`
 *                with RXMESH_TEST_HOOKS=1; kill() and start() again on the same id, dir and advertise
 *   AppProcess   bench/chaos/app.ts with its AppConfig; commands on stdin, events on stdout
 *
 * Every child is tracked in one module-level set and SIGKILLed, and every shm
 * dir / temp dir removed, on process exit (including after an uncaught
 * error) and on SIGINT/SIGTERM. Should the harness itself be SIGKILLed (as
 * `npx tsx` does to a child slow to take Ctrl-C), the reaper (reaper.ts) does
 * the same; servers also get --exit-with-parent and apps exit when their
 * stdin closes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AppCommand, AppConfig, AppEvent } from './app.js';
import { reap } from './reaper.js';
import { agentIdOf } from './wire.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const CLI = 'lib/cli/main.ts';
const APP = 'bench/chaos/app.ts';

const live = new Set<ChildProcess>();
const paths = new Set<string>();

/** Remove this path (recursively) when the harness exits, however it exits (the reaper covers a SIGKILL). */
export function removeOnExit(path: string): void {
  paths.add(path);
  reap.path(path);
}

/** SIGKILL every child still running and remove every registered path. Synchronous; idempotent. */
export function cleanupAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  paths.clear();
}

/** Do not remove this path on exit after all. */
export function keepPath(path: string): void {
  paths.delete(path);
  reap.pathGone(path);
}

/** Remove this path now. */
export function forgetPath(path: string): void {
  rmSync(path, { recursive: true, force: true });
  paths.delete(path);
  reap.pathGone(path);
}

process.on('exit', cleanupAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanupAll();
    process.kill(process.pid, signal);
  });
}

export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  stderrTail = '';
  private buffered = '';
  private readonly lineListeners = new Set<(line: string) => void>();

  /** Also append everything it writes on stderr to this file (for --keep-logs). */
  static stderrDir: string | undefined;

  constructor(readonly name: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this.proc);
    const pid = this.proc.pid;
    if (pid) reap.pid(pid);
    this.proc.stdin!.on('error', () => {});
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.buffered += s;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        for (const l of this.lineListeners) l(line);
      }
    });
    const errFile = Child.stderrDir ? `${Child.stderrDir}/${name.replace(/[^\w.-]+/g, '-')}.stderr` : undefined;
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-4000);
      if (errFile) appendFileSync(errFile, s);
    });
    this.exited = new Promise((resolve) => this.proc.once('close', (code, signal) => {
      live.delete(this.proc);
      if (pid) reap.pidGone(pid);
      resolve({ code, signal });
    }));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** The first stdout line that `match` accepts; rejects when the child exits first or after timeoutMs. */
  waitLine(match: (line: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${what} after ${timeoutMs} ms; stderr: ${this.stderrTail}`)), timeoutMs);
      const listener = (line: string): void => {
        if (match(line)) done(undefined, line);
      };
      const done = (err?: Error, line?: string): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        if (err) reject(err);
        else resolve(line!);
      };
      this.lineListeners.add(listener);
      void this.exited.then((e) => done(new Error(`${this.name} exited (${e.signal ?? e.code}) before ${what}; stderr: ${this.stderrTail}`)));
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.proc.kill(sig);
  }

  /** SIGKILL and wait until it is reaped. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

interface ReadyLine {
  /** agent.link is the advertised address; agent.listening (with --advertise) where it really listens. */
  ready: { ns?: { port: number; httpPort: number }; agent?: { socket: string; agentId: string; link?: string; listening?: string } };
}

async function readyOf(child: Child): Promise<ReadyLine['ready']> {
  const line = await child.waitLine((l) => l.includes('"ready"'), 'ready line');
  return (JSON.parse(line) as ReadyLine).ready;
}

export class NsProcess {
  private constructor(readonly child: Child, readonly port: number) {}

  static async start(gamesFile: string, secretFile: string): Promise<NsProcess> {
    const child = new Child('ns', CLI, ['ns', '--port', '0', '--http-port', '0', '--games', gamesFile, '--mesh-secret-file', secretFile, '--exit-with-parent']);
    const ready = await readyOf(child);
    return new NsProcess(child, ready.ns!.port);
  }

  get url(): string {
    return `ns://127.0.0.1:${this.port}`;
  }
}

export interface AgentSetup {
  index: number;
  registry: string;
  shmDir: string;
  secretFile: string;
  /** The address peers should dial (the proxy), or undefined to advertise the real listen address. */
  advertise: string | undefined;
}

export class AgentProcess {
  child: Child | undefined;
  socket = '';
  /** The real peer-link address of the current process (what the proxy forwards to). */
  link = '';
  starts = 0;

  constructor(readonly setup: AgentSetup) {}

  get id(): string {
    return agentIdOf(this.setup.index);
  }

  get running(): boolean {
    return this.child?.running ?? false;
  }

  async start(): Promise<void> {
    const s = this.setup;
    const args = ['agent', '--registry', s.registry, '--id', this.id, '--shm-dir', s.shmDir, '--listen', '127.0.0.1:0',
      '--mesh-secret-file', s.secretFile, ...(s.advertise ? ['--advertise', s.advertise] : []), '--exit-with-parent'];
    this.child = new Child(`agent ${this.id}`, CLI, args, { RXMESH_TEST_HOOKS: '1' });
    this.starts++;
    const ready = await readyOf(this.child);
    this.socket = ready.agent!.socket;
    this.link = ready.agent!.listening || ready.agent!.link || '';
    if (s.advertise && this.link === s.advertise) {
      throw new Error(`${this.id}: its ready line gives only the advertised address ${s.advertise}, not where it listens ` +
        `(expected agent.listening); cannot point the proxy at it`);
    }
  }

  async kill(): Promise<void> {
    await this.child?.kill();
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.signal(sig);
  }
}

export class AppProcess {
  readonly child: Child;
  readonly events: AppEvent[] = [];

  constructor(readonly config: AppConfig) {
    this.child = new Child(`app ${config.app}.${config.inc}`, APP, [JSON.stringify(config)]);
    this.child.onLine((l) => {
      if (!l.startsWith('{')) return;
      try {
        this.events.push(JSON.parse(l) as AppEvent);
      } catch { /* a partial line from a dying app */ }
    });
  }

  ready(timeoutMs = 60_000): Promise<unknown> {
    return this.child.waitLine((l) => l.startsWith('{"ev":"ready"'), 'ready', timeoutMs);
  }

  send(c: AppCommand): void {
    if (this.child.running && this.child.proc.stdin?.writable) this.child.proc.stdin.write(`${JSON.stringify(c)}\n`);
  }

  get running(): boolean {
    return this.child.running;
  }

  kill(): Promise<void> {
    return this.child.kill();
  }
}

let advertiseSupport: boolean | undefined;

/**
 * Does `rxmesh agent` take --advertise (the address it registers for peers to
 * dial)? Asked once by running `agent --advertise 127.0.0.1:1 --help`: the CLI
 * parses strictly, so an unknown flag fails and a known one prints the usage.
 */
export function agentSupportsAdvertise(): boolean {
  if (advertiseSupport === undefined) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'agent', '--advertise', '127.0.0.1:1', '--help'], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
    advertiseSupport = r.status === 0 && !/unknown option/i.test(`${r.stdout}${r.stderr}`);
  }
  return advertiseSupport;
}
