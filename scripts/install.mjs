#!/usr/bin/env node
// npm's install step for rxmesh. It never fails the install: it exits 0 whatever happens.
//
// - A prebuilt shmq.so for this platform that loads (or RXMESH_SHMQ_LIB's): nothing to do.
// - Otherwise, with `make` and a C compiler: builds lib/native/shmq.so (`make -s` here;
//   an earlier local build is brought up to date).
// - Otherwise: says how to build; the app's first ring use would throw NativeLoadError saying the same.
//
// In a source checkout npm runs this before `prepare` has compiled dist/, so the
// loader is not there yet: then it just builds.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function say(line) {
  process.stderr.write(`rxmesh: ${line}\n`);
}

/** What the loader would pick (dist/native/locate.js), or undefined without a compiled loader. */
async function located() {
  try {
    const { findLibrary } = await import('../dist/native/locate.js');
    return findLibrary();
  } catch {
    return undefined; // a source checkout before `prepare`
  }
}

function has(command) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

function howToBuild() {
  say(`to build it: install make and a C compiler, then run \`make\` in ${root}`);
  say('or set RXMESH_SHMQ_LIB to the path of a shmq.so built for this machine');
}

async function main() {
  const found = await located();
  if (found?.loaded && found.source !== 'local build') return;
  const cc = process.env['CC'] || 'cc';
  if (!has('make') || !has(cc)) {
    if (found?.loaded) return; // an earlier local build still loads
    say(`no prebuilt shmq.so fits this platform (${found?.attempts.map((a) => `${a.path}: ${a.outcome}`).join('; ') ?? 'no loader'})`);
    say(`and \`make\` or \`${cc}\` is missing: not building it`);
    howToBuild();
    return;
  }
  const make = spawnSync('make', ['-s'], { cwd: root, stdio: 'inherit' });
  if (make.status !== 0) {
    say(`building shmq.so failed (make exited ${make.status ?? make.signal})`);
    howToBuild();
  }
}

try {
  await main();
} catch (err) {
  say(`install step: ${err?.message ?? err}`);
  howToBuild();
}
process.exitCode = 0;
