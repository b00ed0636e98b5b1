/**
 * Finds the shmq.so this process should load, in this order:
 *
 *   1. RXMESH_SHMQ_LIB, if set: that file and nothing else (an explicit choice
 *      is never silently replaced by another binary).
 *   2. The prebuilt binary for this platform, shipped in the package:
 *      prebuilds/linux-{x64,arm64}-{glibc,musl}/shmq.so.
 *   3. A local build, lib/native/shmq.so (`make` in the package; npm install
 *      runs it when no prebuilt binary fits and a compiler exists).
 *
 * Each file of 2 and 3 that exists is test-loaded (dlopen through koffi), so a
 * prebuild that cannot load here falls back to a local build. A local build
 * next to a prebuild that loads is not used unless RXMESH_SHMQ_LIB names it.
 * Paths are relative to this module (lib/native, or dist/native once
 * compiled: both two levels below the package root), never the working
 * directory. What was tried is kept for NativeLoadError's message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

export type Libc = 'glibc' | 'musl';
export type LibrarySource = 'RXMESH_SHMQ_LIB' | 'prebuilt' | 'local build';

/** The platforms prebuilds/ holds a binary for. */
export const PREBUILT_PLATFORMS = ['linux-x64-glibc', 'linux-x64-musl', 'linux-arm64-glibc', 'linux-arm64-musl'] as const;

export interface Attempt {
  readonly path: string;
  readonly source: LibrarySource;
  /** 'loaded', 'not found' or the loader's error. */
  readonly outcome: string;
}

export interface Located {
  /** The library to load: the first that loaded, else the first that exists, else the first candidate. */
  readonly path: string;
  readonly source: LibrarySource;
  readonly loaded: boolean;
  readonly attempts: readonly Attempt[];
}

/** The package root: lib/native/../.. or dist/native/../.. */
export const packageRoot = join(fileURLToPath(new URL('../../', import.meta.url)), '.');

let last: Located | undefined;

/** glibc or musl: Node reports the glibc version it runs on, and none on musl. */
export function libc(): Libc {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** This process's platform as prebuilds/ names it, e.g. 'linux-x64-glibc'. */
export function platformTag(): string {
  return process.platform === 'linux' ? `linux-${process.arch}-${libc()}` : `${process.platform}-${process.arch}`;
}

/** The files to try, in order (see the module comment). */
export function candidates(env: NodeJS.ProcessEnv = process.env): { path: string; source: LibrarySource }[] {
  const override = env['RXMESH_SHMQ_LIB'];
  if (override) return [{ path: override, source: 'RXMESH_SHMQ_LIB' }];
  const tag = platformTag();
  const prebuilt = (PREBUILT_PLATFORMS as readonly string[]).includes(tag)
    ? [{ path: join(packageRoot, 'prebuilds', tag, 'shmq.so'), source: 'prebuilt' as const }]
    : [];
  return [...prebuilt, { path: join(packageRoot, 'lib', 'native', 'shmq.so'), source: 'local build' }];
}

/** 'loaded' or why not. A bare RXMESH_SHMQ_LIB name (no slash) is left to dlopen's search path. */
function tryLoad(path: string): string {
  if (path.includes('/') && !existsSync(path)) return 'not found';
  try {
    koffi.load(path);
    return 'loaded';
  } catch (err) {
    return (err as Error).message;
  }
}

/** Picks the library (see the module comment) and remembers what it tried. */
export function findLibrary(env: NodeJS.ProcessEnv = process.env): Located {
  const attempts: Attempt[] = [];
  const list = candidates(env);
  for (const c of list) {
    const outcome = tryLoad(c.path);
    attempts.push({ ...c, outcome });
    if (outcome === 'loaded') return (last = { ...c, loaded: true, attempts });
  }
  const first = list.find((c) => existsSync(c.path)) ?? list[0]!;
  return (last = { ...first, loaded: false, attempts });
}

/** NativeLoadError's text: every path tried and what happened, and the two ways out. */
export function loadFailureMessage(path: string): string {
  const lines = [`cannot load the shared-memory ring library at ${path}`];
  if (last && last.path === path && last.attempts.length > 0) {
    lines.push(`tried, in order (${platformTag()}):`);
    for (const a of last.attempts) lines.push(`  ${a.source}: ${a.path}: ${a.outcome}`);
  }
  lines.push(
    `Build it: run \`make\` in ${packageRoot} (needs make and a C compiler), ` +
      'or set RXMESH_SHMQ_LIB to the path of a shmq.so built for this machine.',
  );
  return lines.join('\n');
}
