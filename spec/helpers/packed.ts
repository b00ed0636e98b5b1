/**
 * rxmesh as a consumer gets it: `npm pack` of this checkout (its prepack and
 * prepare scripts included), installed with `npm install --ignore-scripts`
 * into a fresh temporary project. Made once per spec process and shared by
 * the install specs. Commands run with a bounded time, in an environment
 * without npm's own npm_* variables (so a nested npm does not take this
 * checkout for its project) and without RXMESH_SHMQ_LIB. Every temporary
 * directory is removed when the process exits; processes are tracked by
 * startCommand (SIGKILLed at exit).
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, startCommand, type Exit } from './process.js';

export interface Ran extends Exit {
  stdout: string;
  stderr: string;
}

export interface Installed {
  /** The consumer project: package.json and node_modules. */
  project: string;
  /** project/node_modules/rxmesh */
  pkg: string;
  tarball: string;
}

const dirs = new Set<string>();

/** A new temporary directory, removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}
process.on('exit', removeTempDirs);
// An interrupted run skips 'exit': clean up, then die of the same signal (as shm.ts does).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeTempDirs();
    process.kill(process.pid, signal);
  });
}

/** process.env less npm's npm_* variables and RXMESH_SHMQ_LIB, plus `extra`. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'RXMESH_SHMQ_LIB'));
  return { ...env, ...extra };
}

/** Run a command to completion; SIGKILLed after `timeoutMs`. */
export async function run(
  command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Ran> {
  const f = startCommand(command, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv() });
  const timer = setTimeout(() => void f.kill(), opts.timeoutMs ?? 60_000);
  try {
    const exit = await f.exited;
    return { ...exit, stdout: f.stdout, stderr: f.stderr };
  } finally {
    clearTimeout(timer);
  }
}

function check(what: string, r: Ran): Ran {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

async function packAndInstall(): Promise<Installed> {
  const packDir = tempDir('rxmesh-pack-');
  check('npm pack', await run('npm', ['pack', '--pack-destination', packDir], { cwd: repoRoot, timeoutMs: 240_000 }));
  const name = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack wrote no tarball into ${packDir}`);
  const tarball = join(packDir, name);
  const project = tempDir('rxmesh-consumer-');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'rxmesh-consumer', private: true, type: 'module' }));
  const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball];
  check('npm install', await run('npm', args, { cwd: project, timeoutMs: 300_000 }));
  return { project, pkg: join(project, 'node_modules', 'rxmesh'), tarball };
}

let installed: Promise<Installed> | undefined;

/** The packed and installed package (made on first call). */
export function installedPackage(): Promise<Installed> {
  installed ??= packAndInstall();
  return installed;
}

/** A private copy of the installed project, for a spec that changes it. */
export async function copyOfInstalled(): Promise<Installed> {
  const original = await installedPackage();
  const project = tempDir('rxmesh-consumer-copy-');
  cpSync(original.project, project, { recursive: true, verbatimSymlinks: true });
  return { ...original, project, pkg: join(project, 'node_modules', 'rxmesh') };
}

/** Copy the round-trip fixture into `project` and run it there with plain Node against `shmDir`. */
export async function roundTrip(project: string, shmDir: string): Promise<Ran & { result?: RoundTripResult }> {
  cpSync(join(repoRoot, 'spec/install/fixtures/roundtrip.mjs'), join(project, 'roundtrip.mjs'));
  const r = await run(process.execPath, ['roundtrip.mjs', shmDir], { cwd: project, timeoutMs: 45_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { ...r, result: r.code === 0 ? (JSON.parse(line) as RoundTripResult) : undefined };
}

export interface RoundTripResult {
  value: unknown;
  /** shmq.so files mapped by the app process and by `rxmesh up`. */
  app: string[];
  agent: string[];
  upExit: number | string;
}
