#!/usr/bin/env node
// Checks the four prebuilt libraries npm pack ships, with objdump (npm test and prepack run it):
//
//   node scripts/check-glibc-floor.mjs [dir]     dir: default prebuilds/, holding <platform>/shmq.so
//
// - each one is an ELF shared object for its architecture (objdump -f);
// - glibc builds: no symbol (objdump -T) and no version reference (objdump -p) newer
//   than GLIBC_2.17, and no libraries needed beyond libc.so.6 and the dynamic loader;
// - musl builds: no GLIBC_ version at all, only libc.so needed, and every undefined
//   symbol exported by musl's own libc.so (Debian's musl package, which their build needs).
// Prints one line per platform with its highest GLIBC_ version; exits 1 on any problem.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FLOOR = 'GLIBC_2.17';
const X64 = { objdump: 'objdump', arch: 'i386:x86-64' };
const ARM64 = { objdump: 'aarch64-linux-gnu-objdump', arch: 'aarch64' };
const PLATFORMS = {
  'linux-x64-glibc': { ...X64, libc: 'glibc', needed: ['libc.so.6', 'ld-linux-x86-64.so.2'] },
  'linux-x64-musl': { ...X64, libc: 'musl', needed: ['libc.so'], musl: '/lib/x86_64-linux-musl/libc.so' },
  'linux-arm64-glibc': { ...ARM64, libc: 'glibc', needed: ['libc.so.6', 'ld-linux-aarch64.so.1'] },
  'linux-arm64-musl': { ...ARM64, libc: 'musl', needed: ['libc.so'], musl: '/lib/aarch64-linux-musl/libc.so' },
};

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = resolve(process.argv[2] ?? join(root, 'prebuilds'));

function objdump(tool, flag, file) {
  return execFileSync(tool, [flag, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** [major, minor, patch] of 'GLIBC_2.2.5'; undefined for GLIBC_PRIVATE, GLIBC_ABI_DT_RELR and such. */
function versionOf(name) {
  const m = /^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$/.exec(name);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function newer(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/** Undefined, non-weak dynamic symbols: name -> version ('' when unversioned). */
function undefinedSymbols(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line.includes('*UND*') || /^\S+\s+w\s/.test(line)) continue;
    const fields = line.trim().split(/\s+/);
    const version = /\((GLIBC_[^)]*)\)|\s(GLIBC_\S+)\s/.exec(line);
    out.set(fields[fields.length - 1], version ? version[1] ?? version[2] : '');
  }
  return out;
}

/** Names a library defines in its dynamic symbol table. */
function exported(text) {
  const names = new Set();
  for (const line of text.split('\n')) {
    if (/^[0-9a-f]{8,}\s/.test(line) && !line.includes('*UND*')) names.add(line.trim().split(/\s+/).pop());
  }
  return names;
}

function check(platform, spec) {
  const file = join(dir, platform, 'shmq.so');
  if (!existsSync(file)) return { problems: [`${file} is missing: run \`make prebuilds\``] };
  const problems = [];
  const header = objdump(spec.objdump, '-f', file);
  if (!header.includes(`architecture: ${spec.arch},`)) problems.push(`not an ${spec.arch} object`);
  const privateHeaders = objdump(spec.objdump, '-p', file);
  const symbols = undefinedSymbols(objdump(spec.objdump, '-T', file));
  const needed = [...privateHeaders.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
  for (const lib of needed) if (!spec.needed.includes(lib)) problems.push(`needs ${lib}`);
  const versions = new Set([...privateHeaders.matchAll(/\b(GLIBC_\S+)/g)].map((m) => m[1]));
  for (const v of symbols.values()) if (v) versions.add(v);
  let highest;
  for (const v of versions) {
    const parsed = versionOf(v);
    if (spec.libc === 'musl') problems.push(`a musl build refers to glibc's ${v}`);
    else if (!parsed || newer(parsed, versionOf(FLOOR))) {
      const users = [...symbols].filter(([, sv]) => sv === v).map(([name]) => name);
      problems.push(`${v} is above the ${FLOOR} floor${users.length ? ` (${users.join(', ')}; see lib/native/shmq_compat.h)` : ''}`);
    }
    if (parsed && (!highest || newer(parsed, versionOf(highest)))) highest = v;
  }
  if (spec.musl) {
    if (!existsSync(spec.musl)) problems.push(`${spec.musl} (Debian's musl package) is missing: cannot check symbols`);
    else {
      const libc = exported(objdump(spec.objdump, '-T', spec.musl));
      const missing = [...symbols.keys()].filter((name) => !libc.has(name));
      if (missing.length) problems.push(`musl's libc.so does not export ${missing.join(', ')}`);
    }
  }
  return { problems, highest: highest ?? 'none', needed };
}

let failed = false;
for (const [platform, spec] of Object.entries(PLATFORMS)) {
  const { problems, highest, needed } = check(platform, spec);
  failed ||= problems.length > 0;
  const summary = needed ? `highest ${highest}, needs ${needed.join(' ')}` : '';
  console.log(`${problems.length ? 'FAIL' : 'ok  '} ${platform.padEnd(18)} ${summary}`);
  for (const p of problems) console.log(`       ${p}`);
}
if (failed) {
  console.log(`check-glibc-floor: prebuilt libraries in ${dir} are not fit to ship`);
  process.exitCode = 1;
}
