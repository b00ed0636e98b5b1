/**
 * The install step (scripts/install.mjs) and the loader's fallbacks, in the
 * installed package: the install step never fails the install, builds only
 * when no prebuilt library fits, and a build it made is what then loads; with
 * nothing loadable, NativeLoadError names every path tried and how to build.
 * "No prebuilt library fits" is made real by removing prebuilds/ from a copy
 * of the installed project.
 */
import { existsSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanEnv, copyOfInstalled, installedPackage, roundTrip, run, tempDir, type Installed } from '../helpers/packed.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const Install = suite('install step');

/** The install step as npm runs it: `node scripts/install.mjs` in the package dir. */
function installStep(pkg: string, env = cleanEnv()) {
  return run(process.execPath, ['scripts/install.mjs'], { cwd: pkg, env, timeoutMs: 120_000 });
}

/** A PATH holding only sh: no make, no C compiler (node itself runs by its full path). */
function pathWithoutCompiler(): NodeJS.ProcessEnv {
  const bin = tempDir('rxmesh-bin-');
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return cleanEnv({ PATH: bin, CC: 'cc' });
}

/** What the installed package's native() does, as one JSON line. */
async function loadNative(pkg: string) {
  const script = `import(${JSON.stringify(join(pkg, 'dist/native/shmq.js'))}).then((m) => {
    try { m.native(); console.log(JSON.stringify({ loaded: m.locateLibrary() })); }
    catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }
  })`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: pkg });
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { loaded?: string; name?: string; message?: string };
}

let shared: Installed;
let noPrebuilds: Installed;
Install.before(async () => {
  shared = await installedPackage();
  noPrebuilds = await copyOfInstalled();
  renameSync(join(noPrebuilds.pkg, 'prebuilds'), join(noPrebuilds.project, 'prebuilds-moved-away'));
});
Install.after(() => {
  cleanupShm();
});

Install('install - with a prebuilt library that fits, the install step builds nothing', async () => {
  const r = await installStep(shared.pkg);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(existsSync(join(shared.pkg, 'lib/native/shmq.so')), 'no local build');
  assert.is(r.stderr, '', 'and nothing to say');
});

Install('install - no prebuilt library and no compiler: nothing loads, and the error names every path and how to build', async () => {
  const r = await installStep(noPrebuilds.pkg, pathWithoutCompiler());
  assert.is(r.code, 0, 'the install step never fails the install');
  assert.match(r.stderr, /missing: not building it/);
  assert.match(r.stderr, /`make`/);
  assert.match(r.stderr, /RXMESH_SHMQ_LIB/);
  assert.not.ok(existsSync(join(noPrebuilds.pkg, 'lib/native/shmq.so')));

  const load = await loadNative(noPrebuilds.pkg);
  assert.is(load.name, 'NativeLoadError');
  const message = load.message ?? '';
  assert.ok(message.includes(join(noPrebuilds.pkg, 'prebuilds')), `names the prebuilt path: ${message}`);
  assert.ok(message.includes(join(noPrebuilds.pkg, 'lib/native/shmq.so')), `names the local build path: ${message}`);
  assert.match(message, /not found/);
  assert.ok(message.includes(`run \`make\` in ${noPrebuilds.pkg}`), `says where to run make: ${message}`);
  assert.match(message, /RXMESH_SHMQ_LIB/);
});

Install('install - no prebuilt library: the install step builds lib/native/shmq.so, and a round trip runs on it', async () => {
  const r = await installStep(noPrebuilds.pkg);
  assert.is(r.code, 0, r.stderr);
  const local = join(noPrebuilds.pkg, 'lib/native/shmq.so');
  assert.ok(existsSync(local), `make built it: ${r.stderr}`);
  assert.equal(await loadNative(noPrebuilds.pkg), { loaded: local });

  const trip = await roundTrip(noPrebuilds.project, tempShmDir());
  assert.is(trip.code, 0, `round trip failed: ${trip.stderr}\n${trip.stdout}`);
  assert.equal(trip.result!.value, { hello: 'from the installed package' });
  assert.equal(trip.result!.app, [local]);
  assert.equal(trip.result!.agent, [local]);
});

Install('install - RXMESH_SHMQ_LIB wins over a prebuilt library, and a wrong one is reported, not replaced', async () => {
  const env = cleanEnv({ RXMESH_SHMQ_LIB: join(noPrebuilds.pkg, 'lib/native/shmq.so') });
  const script = `import(${JSON.stringify(join(shared.pkg, 'dist/native/shmq.js'))}).then((m) => console.log(m.locateLibrary()))`;
  const chosen = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: shared.pkg, env });
  assert.is(chosen.stdout.trim(), env['RXMESH_SHMQ_LIB']);

  const wrong = cleanEnv({ RXMESH_SHMQ_LIB: '/nonexistent/shmq.so' });
  const load = `import(${JSON.stringify(join(shared.pkg, 'dist/native/shmq.js'))}).then((m) => { try { m.native(); } catch (e) { console.log(e.message); } })`;
  const failed = await run(process.execPath, ['--input-type=module', '-e', load], { cwd: shared.pkg, env: wrong });
  assert.match(failed.stdout, /RXMESH_SHMQ_LIB: \/nonexistent\/shmq.so: not found/);
  assert.not.match(failed.stdout, /prebuilds/, 'the prebuilt library is not tried behind an explicit choice');
});

Install.run();
