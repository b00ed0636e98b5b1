/**
 * The four prebuilt libraries from the tarball, each loaded by its own libc's
 * dynamic loader: a small C program (fixtures/ring-smoke.c), compiled for the
 * platform, dlopens the prebuild and runs a ring round trip through it. x64
 * glibc and x64 musl (/lib/ld-musl-x86_64.so.1, Debian's musl) run natively;
 * the arm64 ones under qemu-user (qemu-aarch64-static called directly, no
 * binfmt needed). A platform whose tools are missing is skipped with a loud
 * message, except under CI=true, where it fails (.ci/run installs them).
 * Also: the glibc floor check rejects what it must.
 */
import { copyFileSync, cpSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { installedPackage, run, tempDir } from '../helpers/packed.js';
import { repoRoot } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

interface Target {
  platform: string;
  cc: string;
  libs: string[];
  /** Command prefix that runs the program (empty: natively). */
  runner: string[];
  /** Files the program's loader needs. */
  needs: string[];
}

const QEMU = 'qemu-aarch64-static';
const TARGETS: Target[] = [
  { platform: 'linux-x64-glibc', cc: 'x86_64-linux-gnu-gcc', libs: ['-ldl'], runner: [], needs: [] },
  { platform: 'linux-x64-musl', cc: 'x86_64-linux-musl-gcc', libs: [], runner: [], needs: ['/lib/ld-musl-x86_64.so.1'] },
  {
    platform: 'linux-arm64-glibc', cc: 'aarch64-linux-gnu-gcc', libs: ['-ldl'], runner: [QEMU, '-L', '/usr/aarch64-linux-gnu'],
    needs: ['/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1'],
  },
  { platform: 'linux-arm64-musl', cc: 'aarch64-linux-musl-gcc', libs: [], runner: [QEMU], needs: ['/lib/ld-musl-aarch64.so.1'] },
];

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}

/** What this machine lacks to run `t` (empty: nothing). */
function missing(t: Target): string[] {
  const lacks = [t.cc, ...t.runner.slice(0, 1)].filter((c) => !hasCommand(c));
  lacks.push(...t.needs.filter((f) => !existsSync(f)));
  if (t.runner.length === 0 && process.arch !== 'x64') lacks.push('an x64 host');
  return lacks;
}

const Prebuilds = suite('prebuilt libraries');
Prebuilds.after(() => {
  cleanupShm();
});

for (const t of TARGETS) {
  const name = `install - the ${t.platform} prebuild loads under its own libc and carries a ring round trip`;
  const lacks = missing(t);
  if (lacks.length > 0 && process.env['CI'] !== 'true') {
    console.warn(`\n*** SKIPPED: ${name}\n*** this machine lacks ${lacks.join(', ')} (.ci/run installs them; CI fails without)\n`);
    Prebuilds.skip(name, () => {});
    continue;
  }
  Prebuilds(name, async () => {
    assert.equal(lacks, [], `missing here: ${lacks.join(', ')} (.ci/run installs them)`);
    const { pkg } = await installedPackage();
    const exe = join(tempDir('rxmesh-smoke-'), 'ring-smoke');
    const source = join(repoRoot, 'spec/install/fixtures/ring-smoke.c');
    const build = await run(t.cc, ['-std=gnu11', '-O1', '-Wall', '-Wextra', '-Werror', `-I${join(repoRoot, 'lib/native')}`, '-o', exe, source, ...t.libs], { cwd: repoRoot });
    assert.is(build.code, 0, `${t.cc}: ${build.stderr}`);
    const [command, ...prefix] = [...t.runner, exe];
    const r = await run(command!, [...prefix, join(pkg, 'prebuilds', t.platform, 'shmq.so'), tempShmDir()], { cwd: repoRoot });
    assert.is(r.code, 0, `${t.platform}: ${r.stderr}`);
    assert.is(r.stdout.trim(), `ring-smoke ok (${t.platform.endsWith('musl') ? 'musl' : 'glibc'})`);
  });
}

Prebuilds('install - the glibc floor check passes the tarball\'s prebuilds and fails a newer-glibc or wrong-libc one', async () => {
  const { pkg } = await installedPackage();
  const script = join(repoRoot, 'scripts/check-glibc-floor.mjs');
  const good = await run(process.execPath, [script, join(pkg, 'prebuilds')], { cwd: repoRoot });
  assert.is(good.code, 0, good.stdout);
  assert.is(good.stdout.match(/^ok /gm)?.length, 4, good.stdout);

  // fstat is GLIBC_2.33 on this Debian 12 toolchain, when shmq_compat.h does not reroute it
  const bad = tempDir('rxmesh-bad-prebuilds-');
  cpSync(join(pkg, 'prebuilds'), bad, { recursive: true });
  const source = join(bad, 'uses-fstat.c');
  copyFileSync(join(repoRoot, 'spec/install/fixtures/uses-fstat.c'), source);
  const built = await run('cc', ['-shared', '-fPIC', '-o', join(bad, 'linux-x64-glibc/shmq.so'), source], { cwd: bad });
  assert.is(built.code, 0, built.stderr);
  copyFileSync(join(bad, 'linux-x64-glibc/shmq.so'), join(bad, 'linux-x64-musl/shmq.so'));
  const r = await run(process.execPath, [script, bad], { cwd: repoRoot });
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stdout, /FAIL linux-x64-glibc/);
  assert.match(r.stdout, /GLIBC_2\.33 is above the GLIBC_2\.17 floor \(fstat/);
  assert.match(r.stdout, /FAIL linux-x64-musl/);
  assert.match(r.stdout, /a musl build refers to glibc's GLIBC_/);
  assert.match(r.stdout, /ok {3}linux-arm64-glibc/);
});

Prebuilds.run();
