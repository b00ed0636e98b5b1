#!/usr/bin/env node
// Checks what `npm pack` would put in the tarball (npm test runs it): exactly
// the files a consumer needs, nothing a local build or a spec run leaves behind.
//
// Allowed: package.json README.md LICENSE CHANGELOG.md Makefile bin/rxmesh.js
// scripts/install.mjs, the four prebuilds/<platform>/shmq.so, lib/**/*.ts and
// lib/native/*.{c,h} (sources: the fallback build and the source maps), and
// dist/**/*.{js,js.map,d.ts} compiled from a lib/ file that exists.
// Required: all of the fixed files, the four prebuilds, every C source and
// header of lib/native, and a dist/ file for every lib/ module.
// Anything else (lib/native/shmq.so, build/, spec/, ...) fails the check.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const FIXED = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'Makefile', 'bin/rxmesh.js', 'scripts/install.mjs'];
const PLATFORMS = ['linux-x64-glibc', 'linux-x64-musl', 'linux-arm64-glibc', 'linux-arm64-musl'];
const PREBUILT = PLATFORMS.map((p) => `prebuilds/${p}/shmq.so`);

/** npm pack --dry-run --json; its lifecycle scripts (prepack, prepare) print before the JSON. */
function packList() {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const start = out.startsWith('[') ? 0 : out.indexOf('\n[\n') + 1;
  if (start === 0 && !out.startsWith('[')) throw new Error(`no JSON in npm pack's output:\n${out}`);
  const [pack] = JSON.parse(out.slice(start));
  return pack;
}

function libModules(dir = 'lib') {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? libModules(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

function why(path) {
  if (FIXED.includes(path) || PREBUILT.includes(path)) return undefined;
  if (/^lib\/.+\.ts$/.test(path) || /^lib\/native\/[^/]+\.[ch]$/.test(path)) return undefined;
  const compiled = /^dist\/(.+)\.(js|js\.map|d\.ts)$/.exec(path);
  if (compiled) return existsSync(join(root, 'lib', `${compiled[1]}.ts`)) ? undefined : 'compiled from a lib/ file that no longer exists';
  if (path.endsWith('.so')) return 'a local build: only prebuilds/<platform>/shmq.so ships';
  return 'not part of the package';
}

const pack = packList();
const paths = new Set(pack.files.map((f) => f.path));
const problems = [];
for (const path of paths) {
  const reason = why(path);
  if (reason) problems.push(`unexpected ${path}: ${reason}`);
}
const nativeSources = readdirSync(join(root, 'lib/native')).filter((f) => /\.[ch]$/.test(f)).map((f) => `lib/native/${f}`);
const compiled = libModules().map((f) => f.replace(/^lib\/(.+)\.ts$/, 'dist/$1.js'));
for (const path of [...FIXED, ...PREBUILT, ...nativeSources, ...compiled]) {
  if (!paths.has(path)) problems.push(`missing ${path}`);
}

const kB = (n) => `${(n / 1024).toFixed(0)} kB`;
console.log(`check-pack: ${pack.filename}: ${paths.size} files, ${kB(pack.size)} packed, ${kB(pack.unpackedSize)} unpacked`);
for (const p of problems) console.log(`  ${p}`);
if (problems.length) {
  console.log('check-pack: the tarball is not fit to publish (see package.json "files")');
  process.exitCode = 1;
}
